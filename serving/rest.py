"""TF Serving's REST API on the side of the gRPC server (http.server in a thread).

    POST /v1/models/<name>[/versions/<v>]:predict   {"signature_name": ..., "instances": [...]}
                                                    or {"inputs": {...}}
    GET  /v1/models/<name>[/versions/<v>]            model status
    GET  /v1/models/<name>[/versions/<v>]/metadata   signature defs

JSON follows TF Serving: bytes travel as {"b64": "..."}; outputs whose names end in `_bytes` come
back base64-encoded the same way; the row format ("instances") answers "predictions", the
columnar format ("inputs") answers "outputs"; an error is HTTP 4xx/5xx with {"error": message}.
"""
from __future__ import annotations

import base64
import binascii
import http.server
import json
import re
import threading

import grpc
import numpy as np

from mimnet_tf.serving.servable import ServingError, TensorSpec, invalid

_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?P<rest>:predict|/metadata)?$")
_HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
}


def _shape_of(name: str, values) -> tuple:
    """Shape of a rectangular nested list; raises for ragged ones."""
    if not isinstance(values, list):
        return ()
    if not values:
        return (0,)
    shapes = {_shape_of(name, v) for v in values}
    if len(shapes) != 1:
        raise invalid(f"input {name!r}: ragged nested list (rows of different shapes)")
    return (len(values),) + shapes.pop()


def _flatten(values) -> list:
    if isinstance(values, list):
        return [x for v in values for x in _flatten(v)]
    return [values]


def to_array(name: str, values, spec: TensorSpec) -> np.ndarray:
    """JSON values (nested lists) -> numpy of the signature's dtype, checking element types."""
    shape = _shape_of(name, values)
    flat = _flatten(values)
    if spec.dtype == object:
        converted = []
        for value in flat:
            if isinstance(value, dict):
                if set(value) != {"b64"} or not isinstance(value["b64"], str):
                    raise invalid(f"input {name!r}: a bytes value is {{\"b64\": \"<base64>\"}}, got {sorted(value)}")
                try:
                    converted.append(base64.b64decode(value["b64"], validate=True))
                except (binascii.Error, ValueError):
                    raise invalid(f"input {name!r}: invalid base64 in {{\"b64\": ...}}") from None
            elif isinstance(value, str):
                converted.append(value.encode("utf-8"))
            else:
                raise invalid(f"input {name!r}: expected strings or {{\"b64\": ...}}, got {type(value).__name__}")
        array = np.empty(len(converted), dtype=object)
        array[:] = converted
        return array.reshape(shape)
    for value in flat:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise invalid(f"input {name!r}: expected numbers ({spec.dtype.name}), got {type(value).__name__}")
        if spec.dtype.kind in "iu" and isinstance(value, float) and not value.is_integer():
            raise invalid(f"input {name!r}: expected integers ({spec.dtype.name}), got {value}")
    try:
        return np.array(flat, dtype=spec.dtype).reshape(shape)
    except (OverflowError, ValueError) as error:
        raise invalid(f"input {name!r}: {error}") from None


def decode_request(body: bytes, servable) -> tuple[str, dict, bool]:
    """A predict body -> (signature key, {input: array}, row format?)."""
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise invalid(f"request body is not valid JSON ({error})") from None
    if not isinstance(request, dict):
        raise invalid("request body must be a JSON object with \"instances\" or \"inputs\"")
    signature_name = request.get("signature_name", "")
    if not isinstance(signature_name, str):
        raise invalid("\"signature_name\" must be a string")
    key = servable.signature(signature_name)
    specs = servable.inputs[key]
    if ("instances" in request) == ("inputs" in request):
        raise invalid("request must have exactly one of \"instances\" (row format) or \"inputs\" (columnar)")
    if "instances" in request:
        instances = request["instances"]
        if not isinstance(instances, list) or not instances:
            raise invalid("\"instances\" must be a non-empty list")
        if all(isinstance(i, dict) and "b64" not in i for i in instances):
            names = set().union(*(i.keys() for i in instances))
            servable.check_names(key, names)
            for n, instance in enumerate(instances):
                missing = [name for name in specs if name not in instance]
                if missing:
                    raise invalid(f"instances[{n}]: missing input {missing[0]!r}")
            columns = {name: [instance[name] for instance in instances] for name in specs}
        elif len(specs) == 1:
            columns = {next(iter(specs)): instances}
        else:
            raise invalid(f"signature {key!r} has inputs {', '.join(sorted(specs))}: each instance must be an "
                          "object naming them")
        row_format = True
    else:
        inputs = request["inputs"]
        if isinstance(inputs, dict) and not (len(specs) == 1 and set(inputs) == {"b64"}):
            servable.check_names(key, inputs)
            columns = inputs
        elif len(specs) == 1:
            columns = {next(iter(specs)): inputs}
        else:
            raise invalid(f"signature {key!r} has inputs {', '.join(sorted(specs))}: \"inputs\" must be an object")
        row_format = False
    return key, {name: to_array(name, values, specs[name]) for name, values in columns.items()}, row_format


def _jsonable(name: str, array):
    array = np.asarray(array)
    if array.dtype == object or array.dtype.kind == "S":
        if name.endswith("_bytes"):
            convert = lambda v: {"b64": base64.b64encode(v).decode("ascii")}  # noqa: E731
        else:
            convert = lambda v: v.decode("utf-8", errors="replace")  # noqa: E731
        if array.ndim == 0:
            return convert(array.item())
        return np.vectorize(convert, otypes=[object])(array).tolist() if array.size else array.tolist()
    return array.tolist()


def encode_response(outputs: dict, row_format: bool) -> dict:
    names = sorted(outputs)
    if row_format:
        batch = len(outputs[names[0]])
        if len(names) == 1:
            return {"predictions": [_jsonable(names[0], outputs[names[0]][i]) for i in range(batch)]}
        return {"predictions": [{n: _jsonable(n, outputs[n][i]) for n in names} for i in range(batch)]}
    if len(names) == 1:
        return {"outputs": _jsonable(names[0], outputs[names[0]])}
    return {"outputs": {n: _jsonable(n, outputs[n]) for n in names}}


def make_handler(server):
    """A request handler class bound to a ModelServer (its predict, status and metadata)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "mimnet-serving"

        def log_message(self, format, *args):  # noqa: A002 - quiet: tests send thousands of requests
            pass

        def _reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, error: ServingError) -> None:
            self._reply(_HTTP_STATUS.get(error.code, 500), {"error": error.message})

        def _route(self):
            match = _PATH.match(self.path.split("?", 1)[0])
            if not match:
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Malformed request: {self.command} {self.path}")
            version = int(match.group("version")) if match.group("version") else 0
            server.check_model(match.group("name"), version)
            return match.group("rest") or ""

        def do_GET(self):  # noqa: N802 - http.server's naming
            try:
                rest = self._route()
                if rest == ":predict":
                    raise ServingError(grpc.StatusCode.NOT_FOUND, "predict needs POST")
                self._reply(200, server.metadata_json() if rest == "/metadata" else server.status_json())
            except ServingError as error:
                self._error(error)

        def do_POST(self):  # noqa: N802
            try:
                length = int(self.headers.get("Content-Length") or 0)
                limit = server.limits.max_request_bytes
                if length > limit:
                    # Read (and drop) a moderately oversized body so the client gets the answer
                    # rather than a broken pipe; past 4x the limit, just close the connection.
                    self.close_connection = True
                    if length <= 4 * limit:
                        while length > 0:
                            length -= len(self.rfile.read(min(length, 1 << 16)) or b"\0" * length)
                    raise invalid(f"request of {self.headers.get('Content-Length')} bytes exceeds the limit of "
                                  f"{limit} bytes")
                body = self.rfile.read(length)
                if self._route() != ":predict":
                    raise ServingError(grpc.StatusCode.NOT_FOUND, f"Malformed request: POST {self.path}")
                key, inputs, row_format = decode_request(body, server.servable)
                outputs = server.predict(key, inputs)
                self._reply(200, encode_response(outputs, row_format))
            except ServingError as error:
                self._error(error)
            except Exception as error:  # noqa: BLE001 - a server bug answers 500, never a dropped connection
                self._reply(500, {"error": f"internal error: {type(error).__name__}: {error}"})

    return Handler


class RestServer:
    """A threaded HTTP server for a ModelServer; `port` is the bound port (0 picks a free one)."""

    def __init__(self, server, host: str, port: int):
        self._httpd = http.server.ThreadingHTTPServer((host, port), make_handler(server))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="rest", daemon=True)

    def start(self) -> "RestServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
