"""TF Serving's REST API on the side of the gRPC server (http.server in a thread).

    POST /v1/models/<name>[/versions/<v>]:predict   {"signature_name": ..., "instances": [...]}
                                                    or {"inputs": {...}}
    GET  /v1/models/<name>[/versions/<v>]            model status
    GET  /v1/models/<name>[/versions/<v>]/metadata   signature defs

JSON follows TF Serving: bytes travel as {"b64": "..."}; outputs whose names end in `_bytes` come
back base64-encoded the same way; the row format ("instances") answers "predictions", the
columnar format ("inputs") answers "outputs"; an error is HTTP 4xx/5xx with {"error": message}.
A predict body is JSON: without a Content-Type, as application/json, or as
application/x-www-form-urlencoded (what `curl -d` sends); any other type (text/plain, a form
upload) is refused with 415. Every malformed body is a 400; the transport's limits
(size, time, connections, TLS) are serving/bounded_http.py's.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import threading

import grpc
import numpy as np

from mimnet_tf.serving import bounded_http
from mimnet_tf.serving.servable import ServingError, TensorSpec, invalid, quote, quote_list

# Content-Types a predict body may carry (none at all is accepted too).
JSON_CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded")
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
                    raise invalid(f"input {name!r}: a bytes value is {{\"b64\": \"<base64>\"}}, got an object "
                                  f"with keys {quote_list(sorted(value))}")
                try:
                    converted.append(base64.b64decode(value["b64"], validate=True))
                except (binascii.Error, ValueError):
                    raise invalid(f"input {name!r}: invalid base64 in {{\"b64\": ...}}") from None
            elif isinstance(value, str):
                try:
                    converted.append(value.encode("utf-8"))
                except UnicodeEncodeError:  # JSON's \ud800 escapes decode to lone surrogates
                    raise invalid(f"input {name!r}: a string is not valid Unicode (a lone surrogate such as "
                                  "\\ud800)") from None
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
        return _decode_request(body, servable)
    except RecursionError:  # json and the nested-list walks recurse per level
        raise invalid("request body nests lists or objects too deeply") from None


def _decode_request(body: bytes, servable) -> tuple[str, dict, bool]:
    try:
        request = json.loads(body)
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, integers too long to convert
        raise invalid(f"request body is not valid JSON ({str(error)[:200]})") from None
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

    class Handler(bounded_http.BoundedHandler):
        server_version = "mimnet-serving"

        def _reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def _error(self, error: ServingError) -> None:
            self._reply(_HTTP_STATUS.get(error.code, 500), {"error": error.message})

        def body_limit(self) -> int:
            return server.limits.max_request_bytes

        def send_error_body(self, error: bounded_http.HttpError) -> None:
            self._reply(error.status, {"error": error.message})

        def _route(self):
            match = _PATH.match(self.path.split("?", 1)[0])
            if not match:
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Malformed request: {self.command} {quote(self.path)}")
            version = int(match.group("version")) if match.group("version") else 0
            server.check_model(match.group("name"), version)
            return match.group("rest") or ""

        def do_GET(self):  # noqa: N802 - http.server's naming
            if self.body_or_refusal() is None:  # a GET's body is ignored, but read: keep-alive stays in step
                return
            try:
                rest = self._route()
                if rest == ":predict":
                    raise ServingError(grpc.StatusCode.NOT_FOUND, "predict needs POST")
                self._reply(200, server.metadata_json() if rest == "/metadata" else server.status_json())
            except ServingError as error:
                self._error(error)

        def do_POST(self):  # noqa: N802
            body = self.body_or_refusal()  # OSError (client gone, too slow) drops the connection
            if body is None:
                return
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if content_type and content_type not in JSON_CONTENT_TYPES:
                self._reply(415, {"error": f"Content-Type {quote(content_type)} is not JSON: send the body as "
                                           "application/json"})
                return
            try:
                if self._route() != ":predict":
                    raise ServingError(grpc.StatusCode.NOT_FOUND, f"Malformed request: POST {quote(self.path)}")
                key, inputs, row_format = decode_request(body, server.servable)
                del body  # the decoded inputs are all that is needed from here on
                outputs = server.predict(key, inputs)
                self._reply(200, encode_response(outputs, row_format))
            except ServingError as error:
                self._error(error)
            except Exception as error:  # noqa: BLE001 - a server bug answers 500, never a dropped connection
                self._reply(500, {"error": f"internal error: {type(error).__name__}: {str(error)[:200]}"})

    return Handler


class RestServer:
    """The REST API of a ModelServer on a BoundedHTTPServer; `port` is the bound port (0 picks a free one).

    Args:
        server: the ModelServer.
        host, port: where to listen.
        ssl_context: a server-side ssl.SSLContext for HTTPS (serving/tls.py), or None.
    """

    def __init__(self, server, host: str, port: int, ssl_context=None):
        config = server.config
        try:
            self._httpd = bounded_http.BoundedHTTPServer((host, port), make_handler(server),
                                                         config.rest_max_connections,
                                                         config.rest_read_timeout_seconds, ssl_context)
        except OSError as error:
            raise OSError(f"cannot bind REST to {host}:{port}: {error.strerror} (is another server running on "
                          f"port {port}?)") from None
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="rest", daemon=True)

    def start(self) -> "RestServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
