"""TF Serving conventions of the export: the SavedModel's warm-up requests (export/warmup.py), read back as
TF Serving reads them and run through the project's server; serving/models.config's version labels."""
import io
import os

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from PIL import Image
from tensorflow_serving.apis import prediction_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from mimnet_tf import images
from mimnet_tf.export import signatures, warmup

pytestmark = pytest.mark.slow
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS_CONFIG = os.path.join(ROOT, "serving", "models.config")


def test_the_export_writes_warmup_requests_tf_serving_can_read(saved_model_dir, trained):
    path = os.path.join(saved_model_dir, "assets.extra", "tf_serving_warmup_requests")
    assert os.path.isfile(path)
    logs = warmup.read_warmup_requests(path)
    assert 0 < len(logs) <= 1000
    assert all(log.WhichOneof("log_type") == "predict_log" for log in logs)
    requests = {log.predict_log.request.model_spec.signature_name: log.predict_log.request for log in logs}
    assert sorted(requests) == sorted([signatures.EDIT, signatures.EDIT_TENSORS])
    assert {r.model_spec.name for r in requests.values()} == {"mimnet"}  # models/mimnet/1
    edit = requests[signatures.EDIT]
    assert sorted(edit.inputs) == sorted([signatures.IMAGE_BYTES, signatures.TEXT])
    (sentence,) = tf.make_ndarray(edit.inputs[signatures.TEXT])
    _, unknown = trained.vocab.encode(sentence.decode("utf-8"), trained.config.model.max_words)
    assert unknown == []  # a caption the model accepts
    (png,) = tf.make_ndarray(edit.inputs[signatures.IMAGE_BYTES])
    size = trained.config.model.image_size
    assert images.decode_image(png).shape == (size, size, 3)
    tensors = requests[signatures.EDIT_TENSORS].inputs
    assert tf.make_ndarray(tensors[signatures.IMAGE]).shape == (1, size, size, 3)
    assert tf.make_ndarray(tensors[signatures.TOKEN_IDS]).shape == (1, trained.config.model.max_words)


def test_each_warmup_request_runs_on_the_project_server(server, saved_model_dir, trained):
    """Sent as they are over gRPC, as TF Serving replays them: both succeed and edit the same picture
    with the same sentence (the PNG of `edit` is `edit_tensors`' image, to rounding)."""
    logs = warmup.read_warmup_requests(os.path.join(saved_model_dir, "assets.extra", "tf_serving_warmup_requests"))
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    try:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        outputs = {}
        for log in logs:
            request = log.predict_log.request
            response = stub.Predict(request, timeout=60)
            outputs[request.model_spec.signature_name] = {k: tf.make_ndarray(v) for k, v in response.outputs.items()}
    finally:
        channel.close()
    size = trained.config.model.image_size
    with Image.open(io.BytesIO(outputs[signatures.EDIT][signatures.EDITED_IMAGE_BYTES][0])) as png:
        from_bytes = np.asarray(png.convert("RGB"))
    from_tensors = images.to_uint8(outputs[signatures.EDIT_TENSORS][signatures.EDITED_IMAGE][0])
    assert from_bytes.shape == from_tensors.shape == (size, size, 3)
    assert np.abs(from_bytes.astype(int) - from_tensors.astype(int)).max() <= 1


def test_models_config_labels_version_1_stable_and_the_project_server_reads_it(model_base_path, tmp_path):
    config = model_server_config_pb2.ModelServerConfig()
    with open(MODELS_CONFIG, encoding="utf-8") as f:
        text_format.Parse(f.read(), config)  # what tensorflow_model_server parses
    (model,) = config.model_config_list.config
    assert model.name == "mimnet" and model.base_path == "/models/mimnet"
    assert list(model.model_version_policy.specific.versions) == [1]
    assert dict(model.version_labels) == {"stable": 1}
    # The project's server takes the same file (here with base_path pointing at the test export).
    from mimnet_tf.serving.server import ModelServer, ServerConfig

    with open(MODELS_CONFIG, encoding="utf-8") as f:
        local = f.read().replace('"/models/mimnet"', f'"{model_base_path}"')
    (tmp_path / "models.config").write_text(local)
    served = ModelServer(ServerConfig(model_config_file=str(tmp_path / "models.config"), port=0, rest_api_port=-1,
                                      enable_batching=False, warm_up=False))  # not started: no threads
    try:
        assert (served.servable.name, served.servable.version) == ("mimnet", 1)
    finally:
        served.stop()
