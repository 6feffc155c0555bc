"""Faults and abuse against the server in a subprocess over loopback: nothing is lost, nothing grows.

Each probe is one a hostile user really sent: a body that never ends (Content-Length: -1,
chunked past the limit), malformed bodies, stalled and trickling connections, a second server
on the same port, a caption too long for an error message, and requests that time out or are
cancelled beside healthy ones. The server runs as `python -m mimnet_tf.serving.server` so its
memory (/proc/<pid>/status) and its stderr (no traceback) are its own.
"""
import base64
import json
import os
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from mimnet_tf import images

pytestmark = pytest.mark.slow
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BODY_LIMIT = 1 << 20
READ_TIMEOUT = 2.0
MAX_CONNECTIONS = 8
MiB = 1 << 20


def _png(seed=0, size=32) -> bytes:
    return images.encode_png(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8))


def _server_command(base_path, *extra):
    return [sys.executable, "-m", "mimnet_tf.serving.server", f"--model_base_path={base_path}",
            "--port=0", "--rest_api_port=0", f"--max_request_bytes={BODY_LIMIT}",
            f"--rest_read_timeout_seconds={READ_TIMEOUT}", f"--rest_max_connections={MAX_CONNECTIONS}",
            f"--batching_parameters_file={os.path.join(ROOT, 'serving', 'batching_parameters.txt')}", *extra]


class ServerProcess:
    """The server entry point in a subprocess: its ports, pid and stderr file."""

    def __init__(self, base_path, log_path):
        self.log_path = log_path
        self._log = open(log_path, "w+", encoding="utf-8")
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.process = subprocess.Popen(_server_command(base_path), stdout=subprocess.PIPE, stderr=self._log,
                                        text=True, cwd=ROOT, env=env)
        line, deadline = "", time.monotonic() + 180
        while "Serving" not in line:
            ready, _, _ = select.select([self.process.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready or self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"the server did not start: {self.log()[-2000:]}")
            line = self.process.stdout.readline()
        self.grpc_port, self.rest_port = map(int, re.search(r"gRPC on [\d.]+:(\d+), REST on [\d.]+:(\d+)",
                                                            line).groups())
        self.pid = self.process.pid

    def peak_rss_bytes(self) -> int:
        """VmHWM: the most memory the process has held so far."""
        with open(f"/proc/{self.pid}/status", encoding="ascii") as f:
            return int(re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M).group(1)) * 1024

    def log(self) -> str:
        self._log.flush()
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)
        self.process.stdout.close()
        self._log.close()


@pytest.fixture(scope="module")
def served(model_base_path, tmp_path_factory):
    server = ServerProcess(model_base_path, str(tmp_path_factory.mktemp("faults") / "server.log"))
    yield server
    server.stop()


def _connect(server, timeout=10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.rest_port), timeout=timeout)
    return sock


def _read_reply(sock) -> bytes:
    """One whole response (by its Content-Length), or what came before the server closed the connection."""
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = re.search(rb"Content-Length: (\d+)", head)
            if length and len(body) >= int(length.group(1)):
                return data
    except (ConnectionError, TimeoutError):
        return data


def _status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.") else 0


def _predict_body(seed=0, caption="a red bird") -> bytes:
    return json.dumps({"signature_name": "edit", "instances": [
        {"image_bytes": {"b64": base64.b64encode(_png(seed)).decode()}, "text": caption}]}).encode()


def _post(server, body: bytes, headers: str = "", timeout=30.0) -> bytes:
    sock = _connect(server, timeout)
    with sock:
        sock.sendall(f"POST /v1/models/mimnet:predict HTTP/1.1\r\nHost: localhost\r\n{headers}"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        return _read_reply(sock)


def _stream_after_headers(server, headers: bytes, total: int) -> tuple[bytes, int]:
    """Sends `headers`, then up to `total` bytes of body until the server stops reading; (reply, bytes sent)."""
    sock = _connect(server)
    with sock:
        sock.sendall(headers)
        sock.settimeout(3)
        try:
            reply = sock.recv(65536)  # a server that refuses on the headers answers before any body
        except TimeoutError:
            reply = b""
        sock.settimeout(10)
        piece, sent = b"[" * MiB, 0
        try:
            while sent < total:
                sock.sendall(piece)
                sent += len(piece)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server closed the connection: it stopped reading
            pass
        return reply or _read_reply(sock), sent


# ---- 1. a body past the limit is never read into memory ----


@pytest.mark.parametrize("headers, status", [
    (b"Content-Length: -1\r\n", 400),
    (b"Transfer-Encoding: chunked\r\n", 413),
    (b"Content-Length: 1000000000\r\n", 413),
    (b"Content-Length: 2000000\r\nExpect: 100-continue\r\n", 413),  # what curl sends for bodies past 1 MB
])
def test_a_body_past_the_limit_is_refused_without_reading_it(served, headers, status):
    _post(served, _predict_body())  # a normal request first: the peak below is the server's working set
    before = served.peak_rss_bytes()
    if b"chunked" in headers:
        # One chunk that announces 64 MiB: refused when its size line arrives.
        head = b"POST /v1/models/mimnet:predict HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n%x\r\n" % (64 * MiB)
    else:
        head = b"POST /v1/models/mimnet:predict HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n"
    started = time.monotonic()
    reply, sent = _stream_after_headers(served, head, 64 * MiB)
    growth = served.peak_rss_bytes() - before
    print(f"{headers.strip().decode()}: answered {_status(reply)} in {time.monotonic() - started:.2f} s after "
          f"{sent / MiB:.0f} MiB sent; server peak RSS growth {growth / MiB:.1f} MiB")
    assert _status(reply) == status, reply[:300]
    assert sent < 64 * MiB  # the server closed the connection instead of reading on
    assert growth < BODY_LIMIT + 16 * MiB


def test_chunked_bodies_within_the_limit_work_and_past_it_get_413(served):
    body = _predict_body(1)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:100], body[100:]))
    sock = _connect(served)
    with sock:
        sock.sendall(b"POST /v1/models/mimnet:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"Connection: close\r\n\r\n" + chunks + b"0\r\n\r\n")
        reply = _read_reply(sock)
    assert _status(reply) == 200 and b"edited_image_bytes" in reply
    # Many small chunks adding up past the limit: refused as soon as the sum passes it.
    piece = b"x" * (64 << 10)
    many = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(BODY_LIMIT // len(piece) + 2))
    reply = _post_raw(served, b"Transfer-Encoding: chunked\r\n", many + b"0\r\n\r\n")
    assert _status(reply) == 413 and b"exceeds the limit" in reply


def _post_raw(server, headers: bytes, body: bytes) -> bytes:
    sock = _connect(server)
    with sock:
        try:
            sock.sendall(b"POST /v1/models/mimnet:predict HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n" + body)
        except OSError:
            pass
        return _read_reply(sock)


# ---- 4. malformed bodies are 400s, never 500s ----


@pytest.mark.parametrize("headers, body, message", [
    (b"Content-Length: abc\r\n", b"", b"is not a number of bytes"),
    (b"Content-Length: 5\r\nContent-Length: 6\r\n", b"{}", b"is not a number of bytes"),
    (b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n", b"{}", b"not both"),
    (b"Transfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n", b"not a hexadecimal number"),
    (b"Content-Length: %d\r\n" % len(b'{"instances": [{"text": "\\ud800", "image_bytes": {"b64": ""}}]}'),
     b'{"instances": [{"text": "\\ud800", "image_bytes": {"b64": ""}}]}', b"not valid Unicode"),
    (b"Content-Length: 100000\r\n", b"[" * 100_000, b"nests lists or objects too deeply"),
    (b"Content-Length: 5001\r\n", b"1" * 5001, b"not valid JSON"),  # an integer too long to convert
])
def test_every_malformed_body_is_a_400_naming_the_problem(served, headers, body, message):
    reply = _post_raw(served, headers, body)
    assert _status(reply) == 400, reply[:300]
    assert message in reply


@pytest.mark.parametrize("content_type, status", [
    ("text/plain", 415), ("multipart/form-data; boundary=x", 415),
    ("application/json; charset=utf-8", 200), ("application/x-www-form-urlencoded", 200), ("", 200)])
def test_a_body_that_is_not_sent_as_json_is_refused_with_415(served, content_type, status):
    headers = f"Content-Type: {content_type}\r\n" if content_type else ""
    reply = _post(served, _predict_body(), headers)
    assert _status(reply) == status, reply[:300]
    if status == 415:
        assert b"is not JSON" in reply


# ---- 4. stalled, trickling and vanishing clients ----


def test_stalled_and_trickling_clients_are_cut_off_and_cannot_lock_the_server_out(served):
    partial = b"POST /v1/models/mimnet:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
    stalled = [_connect(served) for _ in range(MAX_CONNECTIONS)]
    for sock in stalled:
        sock.sendall(partial)
    time.sleep(0.3)
    # Every connection slot is taken: one more is refused at once rather than queued forever.
    extra = _connect(served, timeout=READ_TIMEOUT / 2)
    with extra:
        extra.sendall(b"GET /v1/models/mimnet HTTP/1.1\r\nHost: x\r\n\r\n")
        refused = _read_reply(extra)
    assert refused == b"" or _status(refused) == 503, refused[:200]
    # Half of the stalled clients vanish with a reset (the server must not print a traceback).
    for sock in stalled[: MAX_CONNECTIONS // 2]:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    # The others are closed by the server once the read timeout has passed.
    started = time.monotonic()
    for sock in stalled[MAX_CONNECTIONS // 2:]:
        with sock:
            assert _read_reply(sock) == b""
    assert time.monotonic() - started < READ_TIMEOUT + 3
    # A client trickling a byte every 0.2 s does not get a fresh timeout per byte.
    trickler = _connect(served)
    started, cut = time.monotonic(), False
    with trickler:
        for byte in partial + b" " * 200:
            try:
                trickler.sendall(bytes([byte]))
            except OSError:
                cut = True
                break
            ready, _, _ = select.select([trickler], [], [], 0.2)
            if ready:
                cut = _read_reply(trickler) == b""
                break
    assert cut and time.monotonic() - started < READ_TIMEOUT + 2
    assert _status(_post(served, _predict_body(2))) == 200  # the slots are free again


def test_an_idle_keep_alive_connection_is_closed_after_the_read_timeout(served):
    sock = _connect(served)
    with sock:
        sock.sendall(b"GET /v1/models/mimnet HTTP/1.1\r\nHost: x\r\n\r\n")
        first = _read_reply(sock)  # the whole response; the connection stays open (keep-alive)
        started = time.monotonic()
        assert _status(first) == 200
        assert _read_reply(sock) == b""  # then nothing is sent: the server hangs up
        assert time.monotonic() - started < READ_TIMEOUT + 3


# ---- 3. a second server on the same port ----


def test_a_second_server_on_the_same_grpc_port_fails_with_one_line(served, model_base_path):
    command = _server_command(model_base_path, "--warm_up=false", "--rest_api_port=-1")
    command[command.index("--port=0")] = f"--port={served.grpc_port}"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    second = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=180)
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert second.returncode == 2, second.stderr[-2000:]
    assert lines[-1] == (f"error: cannot bind gRPC to 127.0.0.1:{served.grpc_port}: Address already in use "
                         f"(is another server running on port {served.grpc_port}?)")
    assert not any("Traceback" in line or "add_port" in line for line in lines), lines


# ---- 5. error messages fit in gRPC metadata ----


def _grpc_request(caption: bytes, signature="edit") -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "mimnet"
    request.model_spec.signature_name = signature
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(np.array([_png()], dtype=object)))
    request.inputs["text"].CopyFrom(tf.make_tensor_proto(np.array([caption], dtype=object)))
    return request


@pytest.mark.parametrize("case, caption, signature, message", [
    ("100 kB caption", b"zq" * 50_000, "edit", "characters exceeds the limit of 1000"),
    ("one long unknown word", b"z" * 900, "edit", "has only words the model does not know: zzzz"),
    ("100 kB signature name", b"red", "s" * 100_000, "not found in signature def"),
])
def test_errors_quote_user_input_shortened_and_fit_in_grpc_metadata(served, case, caption, signature, message):
    with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as error:
            stub.Predict(_grpc_request(caption, signature), timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (case, error.value.details()[:300])
    assert message in error.value.details() and "..." in error.value.details()
    assert len(error.value.details()) < 400


# ---- 2. healthy requests beside cancelled and timed-out ones ----


def test_healthy_requests_never_fail_beside_cancelled_and_timed_out_ones(served):
    from mimnet_tf.serving.client import ClientConfig, EditClient

    healthy_clients, per_client, hostile_clients = 8, 4, 4
    failures, answered, hostile_codes = [], [], []
    lock = threading.Lock()
    start = threading.Barrier(healthy_clients + hostile_clients)

    def healthy(index):
        with EditClient(ClientConfig(server=f"127.0.0.1:{served.grpc_port}", timeout_seconds=20)) as client:
            client.tensors
            start.wait()
            for n in range(per_client):
                try:
                    edited, _ = client.edit(_png(index * 100 + n, size=24 + 8 * (n % 2)), "a red bird")
                    with lock:
                        answered.append(images.decode_image(edited).shape)
                except grpc.RpcError as error:
                    with lock:
                        failures.append(f"{error.code().name}: {error.details()}")

    def hostile(index):
        rng = np.random.default_rng(index)
        with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            start.wait()
            for n in range(12):
                call = stub.Predict.future(_grpc_request(b"this bird has blue wings"),
                                           timeout=float(rng.uniform(0.002, 0.05)))
                if n % 2:
                    time.sleep(float(rng.uniform(0, 0.01)))
                    call.cancel()
                try:
                    call.result()
                    code = grpc.StatusCode.OK
                except (grpc.RpcError, grpc.FutureCancelledError) as error:
                    code = error.code() if isinstance(error, grpc.RpcError) else grpc.StatusCode.CANCELLED
                with lock:
                    hostile_codes.append(code)

    threads = [threading.Thread(target=healthy, args=(i,)) for i in range(healthy_clients)]
    threads += [threading.Thread(target=hostile, args=(i,)) for i in range(hostile_clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    elapsed = time.monotonic() - started
    cut_short = sum(code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED) for code in hostile_codes)
    print(f"Load with abuse: {len(answered)} healthy answered, {len(failures)} failed, {cut_short} of "
          f"{len(hostile_codes)} hostile requests timed out or cancelled, {elapsed:.1f} s")
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert len(answered) == healthy_clients * per_client
    assert cut_short > 0  # the abuse really happened
    assert _status(_post(served, _predict_body(3))) == 200


@pytest.mark.parametrize("flag", ["rest_read_timeout_seconds", "rest_max_connections", "max_caption_chars"])
def test_a_limit_that_is_not_positive_is_named_before_the_model_loads(tmp_path, flag):
    from mimnet_tf.serving.server import ModelServer, ServerConfig

    with pytest.raises(ValueError, match=f"--{flag}=0: expected a positive number"):
        ModelServer(ServerConfig(model_base_path=str(tmp_path / "no_model"), **{flag: 0}))


# ---- last: the probes above left no traceback in the server's log ----


def test_the_probes_printed_no_traceback(served):
    assert served.process.poll() is None  # still serving
    log = served.log()
    assert "Traceback" not in log, log[-3000:]
