"""gRPC client of the `edit` signature (TF Serving's PredictionService, via tensorflow-serving-api).

    python -m mimnet_tf.serving.client --server=localhost:8500 --image=bird.jpg \\
        --text="this bird has a red crown and blue wings" --out=edited.png

Works against `tensorflow/serving` and `python -m mimnet_tf.serving.server` alike; over TLS with
--ssl_root_cert (the PEM that signed the server's certificate), and --ssl_client_key and
--ssl_client_cert when the server verifies clients (client_verify in its --ssl_config_file). The tensor names are
read from the model's signature metadata (GetModelMetadata), not assumed: the image input is the
string input whose name mentions "image", the text input the other one; the outputs are the
string outputs naming "image" and "map". Writes the edited image and, beside it (or at
--map_out), the localisation map's heat map, both at the input image's size.
"""
from __future__ import annotations

import dataclasses
import sys

import grpc
import numpy as np
from absl import app, flags

from mimnet_tf.images import load_image
from mimnet_tf.serving import tls


@dataclasses.dataclass(frozen=True)
class ClientConfig:
    server: str = "localhost:8500"
    model_name: str = "mimnet"
    signature_name: str = "edit"
    timeout_seconds: float = 30.0
    ssl_root_cert: str = ""  # PEM file; set: TLS
    ssl_client_key: str = ""
    ssl_client_cert: str = ""


@dataclasses.dataclass(frozen=True)
class EditTensors:
    """Tensor names of an edit signature, as read from its SignatureDef."""

    image: str
    text: str
    edited_image: str
    localisation_map: str


def edit_tensor_names(signature_def, signature_name: str) -> EditTensors:
    """Finds the image/text inputs and edited-image/map outputs of a SignatureDef by their roles."""
    from tensorflow.core.framework import types_pb2

    def strings(tensors):
        return [name for name, info in tensors.items() if info.dtype == types_pb2.DT_STRING]

    inputs, outputs = strings(signature_def.inputs), strings(signature_def.outputs)
    image = [n for n in inputs if "image" in n]
    text = [n for n in inputs if n not in image]
    edited = [n for n in outputs if "image" in n]
    maps = [n for n in outputs if "map" in n]
    if len(inputs) != 2 or len(image) != 1 or len(text) != 1 or len(edited) != 1 or len(maps) != 1:
        raise ValueError(f"signature {signature_name!r} is not an edit signature (string inputs {inputs}, "
                         f"string outputs {outputs}); expected image + text -> edited image + map")
    return EditTensors(image[0], text[0], edited[0], maps[0])


class EditClient:
    """Edits images on a model server over gRPC.

    Args:
        config: ClientConfig (server address, model name, signature, per-call timeout).

    Example:
        >>> client = EditClient(ClientConfig(server="localhost:8500"))
        >>> edited_png, map_png = client.edit(open("bird.png", "rb").read(), "a red bird")
    """

    def __init__(self, config: ClientConfig = ClientConfig()):
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.config = config
        options = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
        if config.ssl_root_cert or config.ssl_client_key or config.ssl_client_cert:
            credentials = tls.channel_credentials(config.ssl_root_cert, config.ssl_client_key, config.ssl_client_cert)
            self.channel = grpc.secure_channel(config.server, credentials, options=options)
        else:
            self.channel = grpc.insecure_channel(config.server, options=options)
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self._tensors = None

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "EditClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def signature_defs(self) -> dict:
        """{signature name: SignatureDef} from GetModelMetadata."""
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest()
        request.model_spec.name = self.config.model_name
        request.metadata_field.append("signature_def")
        response = self.stub.GetModelMetadata(request, timeout=self.config.timeout_seconds)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        return dict(signature_map.signature_def)

    @property
    def tensors(self) -> EditTensors:
        if self._tensors is None:
            defs = self.signature_defs()
            if self.config.signature_name not in defs:
                raise ValueError(f"--signature_name={self.config.signature_name}: the model has "
                                 f"{', '.join(sorted(defs))}")
            self._tensors = edit_tensor_names(defs[self.config.signature_name], self.config.signature_name)
        return self._tensors

    def predict(self, inputs: dict, signature_name: str = "") -> dict:
        """Generic Predict: {input name: numpy array} -> {output name: numpy array}."""
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.config.model_name
        request.model_spec.signature_name = signature_name or self.config.signature_name
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        response = self.stub.Predict(request, timeout=self.config.timeout_seconds)
        return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}

    def edit(self, image_bytes: bytes, caption: str) -> tuple[bytes, bytes]:
        """Encoded image + caption -> (edited image PNG, localisation map heat-map PNG)."""
        names = self.tensors
        outputs = self.predict({names.image: np.array([image_bytes], dtype=object),
                                names.text: np.array([caption.encode("utf-8")], dtype=object)})
        return bytes(outputs[names.edited_image][0]), bytes(outputs[names.localisation_map][0])


def map_path_for(out_path: str) -> str:
    stem = out_path[:-4] if out_path.lower().endswith(".png") else out_path
    return f"{stem}_map.png"


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    values = flags.FLAGS
    config = ClientConfig(values.server, values.model_name, values.signature_name, values.timeout,
                          values.ssl_root_cert, values.ssl_client_key, values.ssl_client_cert)
    try:
        load_image(values.image)  # a clear local error before any network call
        with open(values.image, "rb") as f:
            image_bytes = f.read()
        with EditClient(config) as client:
            edited, localisation_map = client.edit(image_bytes, values.text)
    except (ValueError, FileNotFoundError) as error:  # ImageError included
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except grpc.RpcError as error:
        print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
        sys.exit(1)
    map_out = values.map_out or map_path_for(values.out)
    with open(values.out, "wb") as f:
        f.write(edited)
    with open(map_out, "wb") as f:
        f.write(localisation_map)
    print(f"Edited image: {values.out}; localisation map: {map_out}")


def run() -> None:
    defaults = ClientConfig()
    flags.DEFINE_string("server", defaults.server, "host:port of the gRPC model server.")
    flags.DEFINE_string("model_name", defaults.model_name, "Model name on the server.")
    flags.DEFINE_string("signature_name", defaults.signature_name, "The edit signature to call.")
    flags.DEFINE_float("timeout", defaults.timeout_seconds, "Seconds to wait for each call.")
    flags.DEFINE_string("ssl_root_cert", defaults.ssl_root_cert,
                        "PEM file of the CA (or self-signed certificate) of a TLS server; set: connect over TLS.")
    flags.DEFINE_string("ssl_client_key", defaults.ssl_client_key, "PEM private key, for a server with client_verify.")
    flags.DEFINE_string("ssl_client_cert", defaults.ssl_client_cert, "PEM certificate of --ssl_client_key.")
    flags.DEFINE_string("image", None, "The image to edit (PNG or JPEG).")
    flags.DEFINE_string("text", None, "The sentence describing the wanted image.")
    flags.DEFINE_string("out", "edited.png", "Where to write the edited image (PNG).")
    flags.DEFINE_string("map_out", "", "Where to write the localisation map (default: <out>_map.png).")
    flags.mark_flags_as_required(["image", "text"])
    app.run(main)


if __name__ == "__main__":
    run()
