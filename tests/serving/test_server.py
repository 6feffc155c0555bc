"""mimnet_tf.serving.server over loopback: the gRPC client, REST, bad requests, a fuzz run and a load test."""
import base64
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc, predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from mimnet_tf.export import common
from mimnet_tf import images

pytestmark = pytest.mark.slow
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _png(seed=0, height=32, width=32) -> bytes:
    return images.encode_png(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def stub(server):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}",
                                    options=[("grpc.max_send_message_length", 16 << 20)])
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel)
    channel.close()


def _request(inputs: dict, signature="edit", model="mimnet") -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(value if isinstance(value, tensor_pb2.TensorProto)
                                      else tf.make_tensor_proto(value))
    return request


def _edit_inputs(image=None, caption=b"a red bird"):
    return {"image_bytes": np.array([_png() if image is None else image], dtype=object),
            "text": np.array([caption], dtype=object)}


def _rest(server, path, body=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(f"http://127.0.0.1:{server.rest_port}{path}", data=data,
                                     method="GET" if data is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ---- the happy paths ----


def test_client_reads_tensor_names_from_metadata(client):
    names = client.tensors
    assert (names.image, names.text, names.edited_image, names.localisation_map) == (
        "image_bytes", "text", "edited_image_bytes", "localisation_map_bytes")
    assert set(client.signature_defs()) == {"edit", "edit_tensors", "serving_default"}


def test_client_edit_returns_pngs_at_the_input_size_equal_to_the_model(client, server):
    image = _png(1, height=24, width=40)
    edited, heat = client.edit(image, "this bird has blue wings")
    assert images.decode_image(edited).shape == (24, 40, 3)
    assert images.decode_image(heat).shape == (24, 40, 3)
    direct = server.servable.run("edit", _edit_inputs(image, b"this bird has blue wings"))
    difference = images.decode_image(edited).astype(int) - images.decode_image(direct["edited_image_bytes"][0])
    assert np.abs(difference).max() <= 1


def test_edit_tensors_through_grpc_equals_keras(client, trained, server):
    example = common.parity_batches(trained, 1)[0]
    outputs = client.predict({"image": example["image"], "token_ids": example["token_ids"]}, "edit_tensors")
    reference = common.keras_outputs(trained, example["image"], example["token_ids"])
    assert common.max_abs_diff(reference, outputs) < 1e-5


def test_model_status_is_available(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "mimnet"
        response = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=10)
    assert [(s.version, s.state) for s in response.model_version_status] == [
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE)]


def test_rest_row_and_columnar_formats(server):
    image = _png(2, height=20, width=28)
    b64 = {"b64": base64.b64encode(image).decode()}
    status, body = _rest(server, "/v1/models/mimnet:predict",
                         {"signature_name": "edit", "instances": [{"image_bytes": b64, "text": "a red bird"}] * 2})
    assert status == 200 and len(body["predictions"]) == 2
    edited = base64.b64decode(body["predictions"][0]["edited_image_bytes"]["b64"])
    assert images.decode_image(edited).shape == (20, 28, 3)
    status, body = _rest(server, "/v1/models/mimnet/versions/1:predict",
                         {"inputs": {"image_bytes": [b64], "text": ["green tail"]}})
    assert status == 200
    heat = base64.b64decode(body["outputs"]["localisation_map_bytes"][0]["b64"])
    assert images.decode_image(heat).shape == (20, 28, 3)
    size = server.servable.inputs["edit_tensors"]["image"].shape[1]
    status, body = _rest(server, "/v1/models/mimnet:predict", {
        "signature_name": "edit_tensors",
        "instances": [{"image": np.zeros((size, size, 3)).tolist(), "token_ids": [2] + [0] * 11}]})
    assert status == 200 and np.asarray(body["predictions"][0]["edited_image"]).shape == (size, size, 3)


def test_rest_status_metadata_and_errors(server):
    assert _rest(server, "/v1/models/mimnet") == (200, server.status_json())
    status, body = _rest(server, "/v1/models/mimnet/metadata")
    assert status == 200
    assert set(body["metadata"]["signature_def"]["signature_def"]) == {"edit", "edit_tensors", "serving_default"}
    status, body = _rest(server, "/v1/models/mimnet:predict", b"{not json")
    assert status == 400 and "not valid JSON" in body["error"]
    status, body = _rest(server, "/v1/models/mimnet:predict", {"instances": [{"image_bytes": {"b64": "aGk="},
                                                                              "text": "red"}]})
    assert status == 400 and "not a PNG, JPEG" in body["error"]
    status, body = _rest(server, "/v1/models/other:predict", {"instances": []})
    assert status == 404 and "Servable not found" in body["error"]
    status, body = _rest(server, "/v1/models/mimnet:predict", b"x" * (server.limits.max_request_bytes + 1))
    assert status == 413 and "exceeds the limit" in body["error"]  # Payload Too Large


# ---- bad requests: INVALID_ARGUMENT with a message naming the problem ----


def _bad_requests(server):
    size = server.servable.inputs["edit_tensors"]["image"].shape[1]
    words = server.servable.max_words
    big = images.encode_png(np.zeros((600, 600, 3), np.uint8))
    png = _png()
    return {
        "missing input": (_request({"image_bytes": np.array([png], dtype=object)}), "missing input 'text'"),
        "unknown input": (_request({**_edit_inputs(), "extra": np.array([b"x"], dtype=object)}),
                          "unknown input 'extra'"),
        "wrong dtype": (_request({"image_bytes": np.array([1.0], np.float32),
                                  "text": np.array([b"red"], dtype=object)}), "dtype DT_FLOAT, expected DT_STRING"),
        "wrong shape": (_request({"image_bytes": np.array([[png]], dtype=object),
                                  "text": np.array([[b"red"]], dtype=object)}), "shape [1, 1], expected string [?]"),
        "tensor shape": (_request({"image": np.zeros((1, size + 1, size, 3), np.float32),
                                   "token_ids": np.zeros((1, words), np.int32)}, "edit_tensors"),
                         f"expected float32 [?, {size}, {size}, 3]"),
        "undecodable image": (_request(_edit_inputs(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)), "image_bytes[0]"),
        "not an image": (_request(_edit_inputs(b"hello world")), "not a PNG, JPEG, GIF or BMP"),
        "truncated image": (_request(_edit_inputs(png[: len(png) // 2])), "not a readable image"),
        "empty text": (_request(_edit_inputs(caption=b"")), "is empty"),
        "unknown words": (_request(_edit_inputs(caption=b"zebra xylophone")),
                          "does not know: zebra, xylophone"),
        "batch mismatch": (_request({"image_bytes": np.array([png, png], dtype=object),
                                     "text": np.array([b"red"], dtype=object)}), "differs from the other inputs"),
        "too many pixels": (_request(_edit_inputs(big)), "600x600 pixels exceeds"),
        "oversized payload": (_request(_edit_inputs(b"\x89PNG" + bytes(server.limits.max_request_bytes))),
                              "exceeds the limit"),
        "unknown signature": (_request(_edit_inputs(), signature="paint"), "'paint' not found"),
        "token id range": (_request({"image": np.zeros((1, size, size, 3), np.float32),
                                     "token_ids": np.full((1, words), 10_000, np.int32)}, "edit_tensors"),
                           "ids must lie in"),
        "non-finite image": (_request({"image": np.full((1, size, size, 3), np.nan, np.float32),
                                       "token_ids": np.ones((1, words), np.int32)}, "edit_tensors"),
                             "must be finite"),
    }


@pytest.mark.parametrize("case", ["missing input", "unknown input", "wrong dtype", "wrong shape", "tensor shape",
                                  "undecodable image", "not an image", "truncated image", "empty text",
                                  "unknown words", "batch mismatch", "too many pixels", "oversized payload",
                                  "unknown signature", "token id range", "non-finite image"])
def test_bad_request_gets_invalid_argument_with_a_message(stub, server, case):
    request, message = _bad_requests(server)[case]
    with pytest.raises(grpc.RpcError) as error:
        stub.Predict(request, timeout=10)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.value.details()


def test_unknown_model_is_not_found(stub):
    with pytest.raises(grpc.RpcError) as error:
        stub.Predict(_request(_edit_inputs(), model="other"), timeout=10)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def _malformed(rng: np.random.Generator, server, png: bytes) -> tuple:
    """One random malformed request and the status it must get."""
    size = server.servable.inputs["edit_tensors"]["image"].shape[1]
    words = server.servable.max_words
    kind = int(rng.integers(0, 14))
    noise = rng.integers(0, 256, int(rng.integers(0, 300)), dtype=np.uint8).tobytes()
    if kind == 0:  # random bytes, sometimes behind a real magic number
        prefix = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM"][int(rng.integers(0, 5))]
        return _request(_edit_inputs(prefix + noise)), grpc.StatusCode.INVALID_ARGUMENT
    if kind == 1:  # a PNG cut short
        return _request(_edit_inputs(png[: int(rng.integers(0, len(png) - 13))])), grpc.StatusCode.INVALID_ARGUMENT
    if kind == 2:  # no known word
        caption = rng.choice([b"", b" ", b"?!.", b"zzz", "\u00fc\u00e9".encode(), b"qq ww ee"])
        return _request(_edit_inputs(caption=caption)), grpc.StatusCode.INVALID_ARGUMENT
    if kind == 3:  # invalid UTF-8
        return _request(_edit_inputs(caption=b"red \xff\xfe")), grpc.StatusCode.INVALID_ARGUMENT
    if kind == 4:  # an input missing or extra
        inputs = _edit_inputs()
        if rng.random() < 0.5:
            inputs.pop(rng.choice(sorted(inputs)))
        else:
            inputs[f"extra{int(rng.integers(0, 9))}"] = np.array([b"x"], dtype=object)
        return _request(inputs), grpc.StatusCode.INVALID_ARGUMENT
    if kind == 5:  # wrong dtypes
        dtype = rng.choice([np.float32, np.int32, np.int64, np.uint8, np.bool_])
        return _request({"image_bytes": np.zeros(1, dtype), "text": np.array([b"red"], dtype=object)}), \
            grpc.StatusCode.INVALID_ARGUMENT
    if kind == 6:  # wrong rank
        shape = [(), (1, 1), (1, 2, 1)][int(rng.integers(0, 3))]
        return _request({"image_bytes": np.full(shape, png, dtype=object),
                         "text": np.full(shape, b"red", dtype=object)}), grpc.StatusCode.INVALID_ARGUMENT
    if kind == 7:  # edit_tensors with a wrong shape
        h = int(rng.integers(1, 2 * size)) or 1
        h = h + 1 if h == size else h
        return _request({"image": np.zeros((1, h, size, 3), np.float32),
                         "token_ids": np.zeros((1, words), np.int32)}, "edit_tensors"), grpc.StatusCode.INVALID_ARGUMENT
    if kind == 8:  # tensor_content of the wrong length
        proto = tf.make_tensor_proto(np.zeros((1, size, size, 3), np.float32))
        proto.tensor_content = proto.tensor_content[: int(rng.integers(0, len(proto.tensor_content) - 1))]
        return _request({"image": proto, "token_ids": np.zeros((1, words), np.int32)}, "edit_tensors"), \
            grpc.StatusCode.INVALID_ARGUMENT
    if kind == 9:  # a huge declared batch without data
        proto = tf.make_tensor_proto(np.zeros((1, words), np.int32))
        proto.tensor_shape.dim[0].size = int(rng.integers(100, 10**9))
        proto.tensor_content = b""
        return _request({"image": np.zeros((1, size, size, 3), np.float32), "token_ids": proto}, "edit_tensors"), \
            grpc.StatusCode.INVALID_ARGUMENT
    if kind == 10:  # batch sizes that disagree or an empty batch
        n = int(rng.integers(0, 3))
        return _request({"image_bytes": np.array([png] * n, dtype=object),
                         "text": np.array([b"red"] * (n + 1 if n else 0), dtype=object)}), \
            grpc.StatusCode.INVALID_ARGUMENT
    if kind == 11:  # ids out of range, NaN/inf pixels
        if rng.random() < 0.5:
            ids = np.full((1, words), int(rng.choice([-5, -1, 10_000])), np.int32)
            return _request({"image": np.zeros((1, size, size, 3), np.float32), "token_ids": ids}, "edit_tensors"), \
                grpc.StatusCode.INVALID_ARGUMENT
        image = np.zeros((1, size, size, 3), np.float32)
        image[0, 0, 0, 0] = rng.choice([np.nan, np.inf, -np.inf])
        return _request({"image": image, "token_ids": np.ones((1, words), np.int32)}, "edit_tensors"), \
            grpc.StatusCode.INVALID_ARGUMENT
    if kind == 12:  # unknown signature
        return _request(_edit_inputs(), signature=f"sig{int(rng.integers(0, 99))}"), grpc.StatusCode.INVALID_ARGUMENT
    return _request(_edit_inputs(), model=f"model{int(rng.integers(0, 99))}"), grpc.StatusCode.NOT_FOUND


def test_fuzz_1000_malformed_requests_then_a_valid_one(stub, server, client):
    rng = np.random.default_rng(1234)
    png = _png(5)
    wrong, started = [], time.perf_counter()
    for i in range(1000):
        request, expected = _malformed(rng, server, png)
        try:
            stub.Predict(request, timeout=10)
            wrong.append((i, "answered with outputs"))
        except grpc.RpcError as error:
            if error.code() != expected or not error.details():
                wrong.append((i, error.code(), error.details()))
    elapsed = time.perf_counter() - started
    print(f"Fuzz: 1000 malformed requests in {elapsed:.1f} s, {len(wrong)} unexpected answers")
    assert wrong == []
    edited, _ = client.edit(_png(6), "a white belly")
    assert images.decode_image(edited).shape == (32, 32, 3)


def test_load_8_clients_40_requests_each(server):
    from mimnet_tf.serving.client import ClientConfig, EditClient

    clients, per_client = 8, 40
    latencies, errors = [], []
    lock = threading.Lock()
    captions = ["a red bird", "this bird has blue wings", "a yellow crown and a black tail", "green belly"]

    def work(index):
        with EditClient(ClientConfig(server=f"127.0.0.1:{server.grpc_port}", timeout_seconds=60)) as client:
            client.tensors  # metadata once per client, outside the timed calls
            for n in range(per_client):
                image = _png(index * 1000 + n, height=24 + n % 3 * 8, width=32)
                started = time.perf_counter()
                try:
                    edited, _ = client.edit(image, captions[(index + n) % len(captions)])
                    ok = images.decode_image(edited).shape[0] == 24 + n % 3 * 8
                except grpc.RpcError as error:
                    ok = False
                    with lock:
                        errors.append(error.details())
                with lock:
                    latencies.append(time.perf_counter() - started)
                    if not ok and not errors:
                        errors.append("wrong output size")

    before = server.scheduler.stats.tasks
    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    p50, p99 = np.percentile(np.array(latencies) * 1000, [50, 99])
    stats = server.scheduler.stats
    print(f"Load: {clients} clients x {per_client} requests in {elapsed:.1f} s ({len(latencies) / elapsed:.0f} req/s): "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, {len(errors)} errors; largest batch {stats.largest_batch}, "
          f"mean batch {stats.rows / max(1, stats.batches):.2f}")
    assert errors == []
    assert len(latencies) == clients * per_client
    assert stats.tasks - before == clients * per_client
    assert stats.largest_batch > 1  # concurrent requests really were batched


def test_client_entry_point_writes_both_pngs_and_reports_errors(server, tmp_path):
    image_path = tmp_path / "in.png"
    image_path.write_bytes(_png(7, height=30, width=20))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "mimnet_tf.serving.client", f"--server=127.0.0.1:{server.grpc_port}",
               f"--image={image_path}", f"--out={tmp_path / 'out.png'}", "--timeout=30"]
    # Both runs at once: each spends most of its time importing TensorFlow.
    good, bad = (subprocess.Popen(command + [text], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  cwd=ROOT, env=env) for text in ("--text=a red bird", "--text=zebra"))
    _, good_err = good.communicate(timeout=120)
    _, bad_err = bad.communicate(timeout=120)
    assert good.returncode == 0, good_err[-2000:]
    assert images.load_image(str(tmp_path / "out.png")).shape == (30, 20, 3)
    assert images.load_image(str(tmp_path / "out_map.png")).shape == (30, 20, 3)
    assert bad.returncode == 1
    assert bad_err.strip().splitlines()[-1].startswith("error: INVALID_ARGUMENT: text[0]: The caption 'zebra'")


def test_shipped_tf_serving_files_name_the_model_ports_and_batching(tmp_path):
    from mimnet_tf.serving.server import model_from_config_file

    serving_dir = os.path.join(ROOT, "serving")
    assert model_from_config_file(os.path.join(serving_dir, "models.config")) == ("mimnet", "/models/mimnet")
    local = tmp_path / "models.config"
    local.write_text('model_config_list { config { name: "birds" base_path: "models/birds" '
                     'model_platform: "tensorflow" } }')
    assert model_from_config_file(str(local)) == ("birds", str(tmp_path / "models" / "birds"))
    with open(os.path.join(serving_dir, "docker-compose.yml"), encoding="utf-8") as f:
        compose = f.read()
    for line in ("image: tensorflow/serving:", "--port=8500", "--rest_api_port=8501",
                 "--model_config_file=/config/models.config", "--enable_batching=true",
                 "--batching_parameters_file=/config/batching_parameters.txt",
                 "./models.config:/config/models.config:ro",
                 "./batching_parameters.txt:/config/batching_parameters.txt:ro", "../models:/models:ro"):
        assert line in compose, line
