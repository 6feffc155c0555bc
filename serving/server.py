"""A TF Serving-compatible model server for the exported SavedModel (gRPC + REST, dynamic batching).

    python -m mimnet_tf.serving.server --model_base_path=models/mimnet --port=8500 --rest_api_port=8501 \\
        --batching_parameters_file=serving/batching_parameters.txt

Speaks TF Serving's gRPC API (`PredictionService.Predict`, `GetModelMetadata`;
`ModelService.GetModelStatus`) and its REST API (`/v1/models/<name>:predict`), so the same
clients work against this server and a stock `tensorflow/serving` container. It serves the
highest version under --model_base_path (or the model of --model_config_file), checks every
request before it is queued (serving/servable.py) and batches requests (serving/batching.py).
Binds to 127.0.0.1 unless --host says otherwise; a port of 0 picks a free one, a REST port of -1
disables REST; a port another process holds is an error (gRPC's port sharing is off). Requests
are bounded (--max_request_bytes, --max_image_pixels, --max_caption_chars; REST connections by
--rest_max_connections and --rest_read_timeout_seconds) and --ssl_config_file turns on TLS for
gRPC and REST with TF Serving's SSLConfig file (serving/tls.py). docs/serving.md has the details.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import socket
import sys
import threading

import grpc
import numpy as np
from absl import app, flags

from mimnet_tf.serving import batching, tls
from mimnet_tf.serving.rest import RestServer
from mimnet_tf.serving.servable import RequestLimits, Servable, ServingError, invalid, latest_version, quote, quote_list


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    """Everything `serve` needs (read once from flags in `main`)."""

    model_name: str = "mimnet"
    model_base_path: str = ""
    model_config_file: str = ""
    host: str = "127.0.0.1"
    port: int = 8500
    rest_api_port: int = 8501
    enable_batching: bool = True
    batching_parameters_file: str = ""
    max_request_bytes: int = 8 << 20
    max_image_pixels: int = 2048 * 2048
    max_caption_chars: int = 1000
    max_batch_size: int = 64  # per request when batching is off
    request_timeout_seconds: float = 60.0
    grpc_max_workers: int = 16
    grpc_max_concurrent_rpcs: int = 64  # beyond it RESOURCE_EXHAUSTED, so waiting requests cannot pile up
    rest_max_connections: int = 32
    rest_read_timeout_seconds: float = 30.0
    ssl_config_file: str = ""
    warm_up: bool = True


def model_from_config_file(path: str) -> tuple[str, str]:
    """(name, base_path) of the single model in a TF Serving models.config (text ModelServerConfig).

    A relative base_path is resolved against the config file's directory; the absolute
    `/models/...` paths of the docker set-up are used as they are.
    """
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    if not os.path.isfile(path):
        raise FileNotFoundError(f"--model_config_file={path}: no such file")
    config = model_server_config_pb2.ModelServerConfig()
    with open(path, encoding="utf-8") as f:
        text_format.Parse(f.read(), config)
    models = config.model_config_list.config
    if len(models) != 1:
        raise ValueError(f"--model_config_file={path}: this server serves one model; the file lists {len(models)}")
    base_path = models[0].base_path
    if not os.path.isabs(base_path):
        base_path = os.path.join(os.path.dirname(os.path.abspath(path)), base_path)
    return models[0].name, base_path


class ModelServer:
    """Loads the servable and runs the gRPC and REST front ends until `stop()`.

    Args:
        config: ServerConfig.

    After `start()`, `grpc_port` and `rest_port` hold the bound ports.
    """

    def __init__(self, config: ServerConfig):
        self.config = config
        name, base_path = config.model_name, config.model_base_path
        if config.model_config_file:
            name, base_path = model_from_config_file(config.model_config_file)
        if not base_path:
            raise ValueError("--model_base_path (or --model_config_file) is required: the directory holding "
                             "<version>/saved_model.pb")
        check_limits(config)
        # TLS is read (and its key and certificates checked) before the model loads: a bad file fails at once.
        self._grpc_credentials = self._rest_ssl_context = None
        if config.ssl_config_file:
            ssl_config = tls.load_ssl_config(config.ssl_config_file)
            self._rest_ssl_context = tls.rest_ssl_context(ssl_config, config.ssl_config_file)
            self._grpc_credentials = tls.grpc_server_credentials(ssl_config)
        self.parameters = None
        if config.enable_batching:
            self.parameters = (batching.load_batching_parameters(config.batching_parameters_file)
                               if config.batching_parameters_file else batching.BatchingParameters())
        max_batch = self.parameters.max_batch_size if self.parameters else config.max_batch_size
        self.limits = RequestLimits(config.max_request_bytes, config.max_image_pixels, max_batch,
                                    config.max_caption_chars)
        version, version_dir = latest_version(base_path)
        self.servable = Servable(version_dir, name, version, self.limits)
        if config.warm_up:
            self.servable.warm_up()
        self.scheduler = batching.BatchScheduler(self.parameters, self.servable.run) if self.parameters else None
        self.grpc_port = None
        self.rest_port = None
        self._grpc = None
        self._rest = None
        self._stopped = threading.Event()

    # ---- shared by gRPC and REST ----

    def check_model(self, name: str, version: int = 0) -> None:
        if name != self.servable.name or (version and version != self.servable.version):
            wanted = f"{quote(name)} version {version}" if version else quote(name)
            raise ServingError(grpc.StatusCode.NOT_FOUND,
                               f"Servable not found for request: {wanted} (serving {self.servable.name} "
                               f"version {self.servable.version})")

    def predict(self, key: str, inputs: dict, output_filter=(), timeout=None, on_queued=None) -> dict:
        """Validates, queues (or runs) and returns the outputs of one request.

        `timeout` (seconds, at most --request_timeout_seconds) is the request's deadline: past it the
        request is answered DEADLINE_EXCEEDED and, if its batch has not run yet, taken out of it.
        `on_queued(future)` lets the transport cancel the queued request when its client goes away.
        """
        key, inputs = self.servable.validate(key, inputs)
        outputs_spec = self.servable.outputs[key]
        unknown = [name for name in output_filter if name not in outputs_spec]
        if unknown:
            raise invalid(f"output_filter: unknown output {quote_list(unknown)} "
                          f"(expected {', '.join(sorted(outputs_spec))})")
        limit = self.config.request_timeout_seconds
        timeout = limit if timeout is None else min(timeout, limit)
        if timeout <= 0:
            raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, "the request's deadline passed before it was queued")
        if self.scheduler is None:
            outputs = self.servable.run(key, inputs)
        else:
            try:
                future = self.scheduler.submit(key, inputs, timeout)
            except batching.QueueFullError as error:
                raise ServingError(grpc.StatusCode.UNAVAILABLE, str(error)) from None
            except ValueError as error:
                raise invalid(str(error)) from None
            if on_queued is not None:
                on_queued(future)
            try:
                outputs = future.result(timeout=timeout)
            except TimeoutError:  # the wait ran out, or the scheduler found the deadline passed
                future.cancel()
                raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, f"no result within {timeout:.1f} s") from None
            except concurrent.futures.CancelledError:
                raise ServingError(grpc.StatusCode.CANCELLED, "the request was cancelled by its client") from None
        if output_filter:
            outputs = {name: outputs[name] for name in output_filter}
        return outputs

    def status_json(self) -> dict:
        return {"model_version_status": [{"version": str(self.servable.version), "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}}]}

    def metadata_json(self) -> dict:
        from google.protobuf import json_format

        return {"model_spec": {"name": self.servable.name, "signature_name": "",
                               "version": str(self.servable.version)},
                "metadata": {"signature_def": {"signature_def": {
                    key: json_format.MessageToDict(sd) for key, sd in self.servable.signature_defs.items()}}}}

    # ---- lifecycle ----

    def start(self) -> "ModelServer":
        try:
            return self._start()
        except BaseException:
            self.stop()  # nothing half-started stays behind (the scheduler's threads, a bound port)
            raise

    def _start(self) -> "ModelServer":
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        config = self.config
        # gRPC holds a whole message before we see it: its limit sits a little above ours (so a
        # slightly oversized request gets our INVALID_ARGUMENT), and no further (memory).
        receive_limit = config.max_request_bytes + min(config.max_request_bytes, 1 << 20)
        self._grpc = grpc.server(
            concurrent.futures.ThreadPoolExecutor(config.grpc_max_workers, thread_name_prefix="grpc"),
            options=[("grpc.max_receive_message_length", receive_limit),
                     ("grpc.max_send_message_length", 4 * config.max_request_bytes),
                     # gRPC shares ports by default (SO_REUSEPORT): a second server would start on
                     # the same port and take half the requests.
                     ("grpc.so_reuseport", 0)],
            maximum_concurrent_rpcs=config.grpc_max_concurrent_rpcs)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(self), self._grpc)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(self), self._grpc)
        check_port_free(config.host, config.port, "gRPC")
        address = f"{config.host}:{config.port}"
        try:
            if self._grpc_credentials is None:
                self.grpc_port = self._grpc.add_insecure_port(address)
            else:
                self.grpc_port = self._grpc.add_secure_port(address, self._grpc_credentials)
        except RuntimeError:  # another process took the port since check_port_free
            self.grpc_port = 0
        if self.grpc_port == 0:
            raise OSError(f"cannot bind gRPC to {address} (--port={config.port})")
        self._grpc.start()
        if config.rest_api_port >= 0:
            self._rest = RestServer(self, config.host, config.rest_api_port, self._rest_ssl_context).start()
            self.rest_port = self._rest.port
        return self

    def stop(self) -> None:
        if self._grpc is not None:
            self._grpc.stop(grace=1.0).wait()
        if self._rest is not None:
            self._rest.stop()
        if self.scheduler is not None:
            self.scheduler.close()
        self._stopped.set()

    def wait(self) -> None:
        self._stopped.wait()

    def __enter__(self) -> "ModelServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def check_limits(config: ServerConfig) -> None:
    """Raises ValueError naming the first limit flag that is not positive."""
    for name in ("max_request_bytes", "max_image_pixels", "max_caption_chars", "max_batch_size",
                 "request_timeout_seconds", "grpc_max_workers", "grpc_max_concurrent_rpcs", "rest_max_connections",
                 "rest_read_timeout_seconds"):
        if not getattr(config, name) > 0:
            raise ValueError(f"--{name}={getattr(config, name)}: expected a positive number")


def check_port_free(host: str, port: int, what: str) -> None:
    """Raises OSError naming the port when another process listens on it (port 0 is always free).

    gRPC would only log a C++ error line and raise a generic RuntimeError; this says what is wrong.
    """
    if port == 0:
        return
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise OSError(f"cannot bind {what} to {host}:{port}: {error.strerror}") from None
    for family, kind, protocol, _, address in addresses:
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no owner
            try:
                probe.bind(address)
            except OSError as error:
                raise OSError(f"cannot bind {what} to {host}:{port}: {error.strerror} (is another server "
                              f"running on port {port}?)") from None


# ---- gRPC ----


def tensor_to_array(server: ModelServer, key: str, alias: str, proto) -> np.ndarray:
    """A request TensorProto -> numpy, checking dtype and shape before allocating anything."""
    import tensorflow as tf
    from tensorflow.core.framework import types_pb2

    spec = server.servable.inputs[key][alias]
    if proto.dtype != spec.dtype_enum:
        raise invalid(f"input {alias!r}: dtype {types_pb2.DataType.Name(proto.dtype)}, expected "
                      f"{types_pb2.DataType.Name(spec.dtype_enum)}")
    if proto.tensor_shape.unknown_rank:
        raise invalid(f"input {alias!r}: unknown rank, expected {spec.describe()}")
    shape = [d.size for d in proto.tensor_shape.dim]
    server.servable.check_shape(key, alias, shape)
    if shape and shape[0] > server.limits.max_batch_size:
        raise invalid(f"input {alias!r}: batch size {shape[0]} exceeds the maximum {server.limits.max_batch_size}")
    try:
        return tf.make_ndarray(proto)
    except Exception as error:  # noqa: BLE001 - any malformed proto is the client's error
        raise invalid(f"input {alias!r}: malformed tensor ({type(error).__name__}: {error})") from None


def _cancel_with_rpc(context, future) -> None:
    """Cancels a queued request when its RPC ends early (client cancelled, deadline, disconnect)."""
    if not context.add_callback(future.cancel):  # the RPC has already ended
        future.cancel()


class PredictionService:
    """tensorflow.serving.PredictionService: Predict and GetModelMetadata."""

    def __init__(self, server: ModelServer):
        self.server = server

    def Predict(self, request, context):  # noqa: N802 - gRPC method name
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        try:
            size = request.ByteSize()
            if size > self.server.limits.max_request_bytes:
                raise invalid(f"request of {size} bytes exceeds the limit of "
                              f"{self.server.limits.max_request_bytes} bytes")
            spec = request.model_spec
            version = spec.version.value if spec.HasField("version") else 0
            self.server.check_model(spec.name, version)
            key = self.server.servable.signature(spec.signature_name)
            self.server.servable.check_names(key, list(request.inputs))
            inputs = {alias: tensor_to_array(self.server, key, alias, proto) for alias, proto in request.inputs.items()}
            remaining = context.time_remaining()
            outputs = self.server.predict(key, inputs, tuple(request.output_filter), remaining,
                                          on_queued=lambda future: _cancel_with_rpc(context, future))
            response = predict_pb2.PredictResponse()
            response.model_spec.name = self.server.servable.name
            response.model_spec.version.value = self.server.servable.version
            response.model_spec.signature_name = key
            for alias, value in outputs.items():
                response.outputs[alias].CopyFrom(tf.make_tensor_proto(value))
            return response
        except ServingError as error:
            context.abort(error.code, error.message)

    def GetModelMetadata(self, request, context):  # noqa: N802
        from tensorflow_serving.apis import get_model_metadata_pb2

        try:
            spec = request.model_spec
            self.server.check_model(spec.name, spec.version.value if spec.HasField("version") else 0)
            fields = list(request.metadata_field)
            if fields != ["signature_def"]:
                raise invalid(f"metadata_field must be ['signature_def'], got [{quote_list(fields)}]")
            signature_map = get_model_metadata_pb2.SignatureDefMap()
            for key, signature_def in self.server.servable.signature_defs.items():
                signature_map.signature_def[key].CopyFrom(signature_def)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = self.server.servable.name
            response.model_spec.version.value = self.server.servable.version
            response.metadata["signature_def"].Pack(signature_map)
            return response
        except ServingError as error:
            context.abort(error.code, error.message)

    def _predict_only(self, method: str, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method}: this model serves Predict only")

    def Classify(self, request, context):  # noqa: N802
        self._predict_only("Classify", context)

    def Regress(self, request, context):  # noqa: N802
        self._predict_only("Regress", context)

    def MultiInference(self, request, context):  # noqa: N802
        self._predict_only("MultiInference", context)


class ModelService:
    """tensorflow.serving.ModelService: GetModelStatus (readiness)."""

    def __init__(self, server: ModelServer):
        self.server = server

    def GetModelStatus(self, request, context):  # noqa: N802
        from tensorflow_serving.apis import get_model_status_pb2

        try:
            spec = request.model_spec
            self.server.check_model(spec.name, spec.version.value if spec.HasField("version") else 0)
            response = get_model_status_pb2.GetModelStatusResponse()
            status = response.model_version_status.add()
            status.version = self.server.servable.version
            status.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
            return response
        except ServingError as error:
            context.abort(error.code, error.message)

    def HandleReloadConfigRequest(self, request, context):  # noqa: N802
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "config reloading is not supported")


# ---- entry point ----


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    values = flags.FLAGS
    config = ServerConfig(**{field.name: getattr(values, field.name) for field in dataclasses.fields(ServerConfig)})
    try:
        server = ModelServer(config).start()
    except (FileNotFoundError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    rest = f", REST on {config.host}:{server.rest_port}" if server.rest_port is not None else ""
    rest += ", TLS" if config.ssl_config_file else ""
    batching_note = (f"batching max_batch_size={server.parameters.max_batch_size} "
                     f"batch_timeout_micros={server.parameters.batch_timeout_micros}"
                     if server.parameters else "no batching")
    print(f"Serving {server.servable.name} version {server.servable.version}: gRPC on {config.host}:"
          f"{server.grpc_port}{rest} ({batching_note})", flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()


def run() -> None:
    defaults = ServerConfig()
    flags.DEFINE_string("model_name", defaults.model_name, "Name clients use in model_spec / the REST URL.")
    flags.DEFINE_string("model_base_path", defaults.model_base_path,
                        "Directory of numbered SavedModel versions (the highest is served).")
    flags.DEFINE_string("model_config_file", defaults.model_config_file,
                        "A TF Serving models.config naming one model (instead of the two flags above).")
    flags.DEFINE_string("host", defaults.host, "Address to bind (127.0.0.1: this machine only).")
    flags.DEFINE_integer("port", defaults.port, "gRPC port (0: a free port).")
    flags.DEFINE_integer("rest_api_port", defaults.rest_api_port, "REST port (0: a free port, -1: no REST).")
    flags.DEFINE_bool("enable_batching", defaults.enable_batching, "Batch concurrent requests.")
    flags.DEFINE_string("batching_parameters_file", defaults.batching_parameters_file,
                        "TF Serving batching parameters (text format); default 8 rows / 2 ms.")
    flags.DEFINE_integer("max_request_bytes", defaults.max_request_bytes, "Largest request accepted.")
    flags.DEFINE_integer("max_image_pixels", defaults.max_image_pixels, "Largest image (width x height) accepted.")
    flags.DEFINE_integer("max_caption_chars", defaults.max_caption_chars, "Longest caption (characters) accepted.")
    flags.DEFINE_integer("max_batch_size", defaults.max_batch_size, "Largest request batch without batching.")
    flags.DEFINE_float("request_timeout_seconds", defaults.request_timeout_seconds, "Server-side deadline.")
    flags.DEFINE_integer("grpc_max_workers", defaults.grpc_max_workers, "Concurrent gRPC requests.")
    flags.DEFINE_integer("grpc_max_concurrent_rpcs", defaults.grpc_max_concurrent_rpcs,
                         "gRPC requests running or waiting at once; more get RESOURCE_EXHAUSTED.")
    flags.DEFINE_integer("rest_max_connections", defaults.rest_max_connections,
                         "Open REST connections at once (one thread each); more get HTTP 503.")
    flags.DEFINE_float("rest_read_timeout_seconds", defaults.rest_read_timeout_seconds,
                       "Seconds a REST client has to send a whole request (and an idle connection stays open).")
    flags.DEFINE_string("ssl_config_file", defaults.ssl_config_file,
                        "TF Serving's SSLConfig (text format: server_key, server_cert, custom_ca, client_verify): "
                        "TLS for gRPC and REST.")
    flags.DEFINE_bool("warm_up", defaults.warm_up, "Run each signature once before accepting requests.")
    app.run(main)


if __name__ == "__main__":
    run()
