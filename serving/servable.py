"""A loaded SavedModel version and the checks every request passes before it reaches the model.

The server (gRPC and REST) hands `Servable.validate` numpy inputs keyed by signature input
names; every problem becomes a `ServingError` with a gRPC status code and a message naming the
input. Content checks follow the export's tensor names (mimnet_tf/inference/exported_model.py): `image_bytes` must
decode as PNG/JPEG/GIF/BMP within the pixel limit, `text` must carry a vocabulary word (the same
rule and message as `mimnet_tf.data.text.check_caption`), `token_ids` must be valid ids, `image`
finite. Requests are checked one by one *before* batching, so a bad request never reaches (or
fails) a batch.
"""
from __future__ import annotations

import dataclasses
import io
import os
import re

import grpc
import numpy as np
from PIL import Image

from mimnet_tf import images
from mimnet_tf.inference import exported_model
from mimnet_tf.data import text

# Magic numbers of the formats tf.io.decode_image reads and PIL agrees on.
_IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")


# gRPC sends the message in a header (percent-encoded, so up to 3 bytes per byte) and clients
# refuse headers past 8 KiB by default; a message this long in UTF-8 always fits.
MAX_MESSAGE_BYTES = 1000
QUOTE_CHARS = 80


class ServingError(Exception):
    """A request the server answers with a status code and message instead of outputs.

    The message is cut to MAX_MESSAGE_BYTES, so it fits in gRPC metadata whatever a request held.
    """

    def __init__(self, code: grpc.StatusCode, message: str):
        # backslashreplace: a lone surrogate from JSON input cannot make the message unsendable.
        data = message.encode("utf-8", errors="backslashreplace")
        cut = len(data) > MAX_MESSAGE_BYTES
        message = data[:MAX_MESSAGE_BYTES - 3] + b"..." if cut else data
        message = message.decode("utf-8", errors="ignore")
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def shorten(value, limit: int = QUOTE_CHARS) -> str:
    """User input for an error message: its first `limit` characters, "..." when there were more."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    value = str(value)
    return value if len(value) <= limit else value[:limit] + "..."


def quote(value, limit: int = QUOTE_CHARS) -> str:
    """repr() of shortened user input."""
    return repr(shorten(value, limit))


def quote_list(values, shown: int = 3) -> str:
    """The first `shown` values quoted, then how many more there were."""
    values = list(values)
    listed = ", ".join(quote(v) for v in values[:shown])
    return listed + (f" (and {len(values) - shown} more)" if len(values) > shown else "")


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """What the server refuses before decoding: request size, image pixels, batch, caption length."""

    max_request_bytes: int = 8 << 20
    max_image_pixels: int = 2048 * 2048
    max_batch_size: int = 64
    max_caption_chars: int = 1000


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One signature tensor: alias, numpy dtype, shape (None = any size), TF DataType enum."""

    name: str
    dtype: np.dtype
    shape: tuple
    dtype_enum: int

    def describe(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{np.dtype(self.dtype).name if self.dtype != object else 'string'} [{dims}]"


def _spec(name, tensor_info) -> TensorSpec:
    import tensorflow as tf

    dtype = tf.dtypes.as_dtype(tensor_info.dtype)
    shape = tuple(None if d.size < 0 else int(d.size) for d in tensor_info.tensor_shape.dim)
    return TensorSpec(name, np.dtype(object) if dtype == tf.string else np.dtype(dtype.as_numpy_dtype), shape,
                      tensor_info.dtype)


def latest_version(base_path: str) -> tuple[int, str]:
    """(version, directory) of the highest numbered SavedModel under base_path, as TF Serving picks."""
    if not os.path.isdir(base_path):
        raise FileNotFoundError(f"--model_base_path={base_path}: no such directory (expected <base>/<version>/"
                                "saved_model.pb, written by mimnet_tf.export.saved_model)")
    versions = [int(d) for d in os.listdir(base_path)
                if d.isdigit() and os.path.isfile(os.path.join(base_path, d, "saved_model.pb"))]
    if not versions:
        raise FileNotFoundError(f"--model_base_path={base_path}: no version directory with a saved_model.pb "
                                "(export one with python -m mimnet_tf.export.saved_model --out=<base>/1)")
    version = max(versions)
    return version, os.path.join(base_path, str(version))


def read_signature_defs(version_dir: str) -> dict:
    """The `serve` MetaGraph's SignatureDefs, as TF Serving reports them (init ops left out)."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(version_dir, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        if exported_model.SERVE_TAG in meta_graph.meta_info_def.tags:
            return {k: v for k, v in meta_graph.signature_def.items() if not k.startswith("__")}
    raise ValueError(f"{version_dir}: no MetaGraph tagged {exported_model.SERVE_TAG!r}")


class Servable:
    """One version of a SavedModel, its signatures, request checks and inference.

    Args:
        version_dir: `<base>/<version>` holding saved_model.pb.
        name: the model name requests must use.
        version: the version number.
        limits: RequestLimits.
    """

    def __init__(self, version_dir: str, name: str, version: int, limits: RequestLimits = RequestLimits()):
        import tensorflow as tf

        self.name = name
        self.version = version
        self.limits = limits
        self.signature_defs = read_signature_defs(version_dir)
        self.inputs = {key: {alias: _spec(alias, info) for alias, info in sd.inputs.items()}
                       for key, sd in self.signature_defs.items()}
        self.outputs = {key: {alias: _spec(alias, info) for alias, info in sd.outputs.items()}
                        for key, sd in self.signature_defs.items()}
        vocab_path = os.path.join(version_dir, "assets", text.VOCAB_FILENAME)
        self.vocab = text.Vocabulary.load(vocab_path) if os.path.exists(vocab_path) else None
        # Captions are checked on the words the model keeps (the first max_words).
        tensors = self.inputs.get(exported_model.EDIT_TENSORS, {})
        self.max_words = tensors[exported_model.TOKEN_IDS].shape[1] if exported_model.TOKEN_IDS in tensors else None
        self._model = tf.saved_model.load(version_dir, tags=[exported_model.SERVE_TAG])
        self._functions = {key: self._model.signatures[key] for key in self.signature_defs}

    # ---- checks ----

    def signature(self, signature_name: str) -> str:
        key = signature_name or exported_model.SERVING_DEFAULT
        if key not in self.signature_defs:
            raise invalid(f"Serving signature name: {quote(key)} not found in signature def; "
                          f"available: {', '.join(sorted(self.signature_defs))}")
        return key

    def check_names(self, key: str, names) -> None:
        expected = self.inputs[key]
        missing = [n for n in expected if n not in names]
        unknown = [n for n in names if n not in expected]
        if missing:
            raise invalid(f"signature {key!r}: missing input {quote_list(missing)} "
                          f"(expected {', '.join(sorted(expected))})")
        if unknown:
            raise invalid(f"signature {key!r}: unknown input {quote_list(unknown)} "
                          f"(expected {', '.join(sorted(expected))})")

    def check_shape(self, key: str, alias: str, shape) -> None:
        spec = self.inputs[key][alias]
        shape = tuple(int(d) for d in shape)
        if len(shape) != len(spec.shape) or any(e is not None and e != d for e, d in zip(spec.shape, shape)):
            raise invalid(f"input {alias!r}: shape [{', '.join(map(str, shape))}], expected {spec.describe()}")
        if any(d < 0 for d in shape):
            raise invalid(f"input {alias!r}: negative dimension in shape {list(shape)}")

    def validate(self, signature_name: str, inputs: dict) -> tuple[str, dict]:
        """Checks names, dtypes, shapes, batch and content; returns (signature key, inputs)."""
        key = self.signature(signature_name)
        self.check_names(key, inputs)
        batch = None
        for alias, value in inputs.items():
            spec = self.inputs[key][alias]
            value = np.asarray(value)
            if spec.dtype == object:
                if value.dtype.kind not in ("O", "S", "U"):
                    raise invalid(f"input {alias!r}: dtype {value.dtype.name}, expected string")
            elif value.dtype != spec.dtype:
                raise invalid(f"input {alias!r}: dtype {value.dtype.name}, expected {spec.dtype.name}")
            self.check_shape(key, alias, value.shape)
            rows = value.shape[0] if value.ndim else 1
            if batch is not None and rows != batch:
                raise invalid(f"input {alias!r}: batch size {rows} differs from the other inputs' {batch}")
            batch = rows
        if batch == 0:
            raise invalid("empty batch: every input has batch size 0")
        if batch is not None and batch > self.limits.max_batch_size:
            raise invalid(f"batch size {batch} exceeds the maximum {self.limits.max_batch_size}")
        inputs = {alias: self._check_content(alias, np.asarray(value)) for alias, value in inputs.items()}
        return key, inputs

    def _check_content(self, alias: str, value: np.ndarray) -> np.ndarray:
        if alias == exported_model.IMAGE_BYTES:
            value = np.array([_as_bytes(alias, v) for v in value.reshape(-1)], dtype=object).reshape(value.shape)
            for i, data in enumerate(value.reshape(-1)):
                self._check_image(f"{alias}[{i}]", data)
        elif alias == exported_model.TEXT:
            value = np.array([_as_bytes(alias, v) for v in value.reshape(-1)], dtype=object).reshape(value.shape)
            for i, data in enumerate(value.reshape(-1)):
                self._check_caption(f"{alias}[{i}]", data)
        elif alias == exported_model.TOKEN_IDS:
            size = len(self.vocab) if self.vocab is not None else None
            if np.any(value < 0) or (size is not None and np.any(value >= size)):
                raise invalid(f"input {alias!r}: ids must lie in [0, {size}) (the vocabulary size)")
        elif alias == exported_model.IMAGE:
            if not np.all(np.isfinite(value)):
                raise invalid(f"input {alias!r}: values must be finite (images in [-1, 1])")
        return value

    def _check_image(self, where: str, data: bytes) -> None:
        if not data:
            raise invalid(f"{where}: empty image; expected PNG or JPEG bytes")
        if not data.startswith(_IMAGE_SIGNATURES):
            raise invalid(f"{where}: not a PNG, JPEG, GIF or BMP image (first bytes {data[:8]!r})")
        try:
            with Image.open(io.BytesIO(data)) as header:  # reads the header only
                width, height = header.size
        except Exception as error:  # noqa: BLE001 - PIL raises many kinds on corrupt headers
            raise invalid(f"{where}: not a readable image ({error})") from None
        if width * height > self.limits.max_image_pixels:
            raise invalid(f"{where}: {width}x{height} pixels exceeds the limit of {self.limits.max_image_pixels}")
        try:
            images.decode_image(data, name=where)
        except images.ImageError as error:
            raise invalid(str(error)) from None

    def _check_caption(self, where: str, data: bytes) -> None:
        try:
            caption = data.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid(f"{where}: text is not valid UTF-8") from None
        if len(caption) > self.limits.max_caption_chars:
            raise invalid(f"{where}: a caption of {len(caption)} characters exceeds the limit of "
                          f"{self.limits.max_caption_chars} ({quote(caption, 40)})")
        if self.vocab is None:
            return
        max_words = self.max_words or max(1, len(text.split_words(caption)))
        ids, unknown = self.vocab.encode(caption, max_words=max_words)
        try:
            # The same message as everywhere else, quoting the caption and its words shortened.
            text.check_caption(shorten(caption), ids, [shorten(word, 40) for word in unknown])
        except text.CaptionError as error:
            raise invalid(f"{where}: {error}") from None

    # ---- inference ----

    def run(self, key: str, inputs: dict) -> dict:
        """Runs a validated batch; graph errors become ServingError (INVALID_ARGUMENT / INTERNAL)."""
        import tensorflow as tf

        try:
            outputs = self._functions[key](**{alias: tf.constant(value) for alias, value in inputs.items()})
        except tf.errors.InvalidArgumentError as error:
            raise invalid(_first_line(error.message)) from None
        except tf.errors.OpError as error:
            raise ServingError(grpc.StatusCode.INTERNAL, _first_line(error.message)) from None
        return {alias: value.numpy() for alias, value in outputs.items()}

    def warm_up(self) -> None:
        """Runs each signature once on a valid input so the first request is not slow."""
        for key, specs in self.inputs.items():
            self.run(key, {alias: _example(alias, spec, self.vocab) for alias, spec in specs.items()})


def _as_bytes(alias: str, value) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise invalid(f"input {alias!r}: expected string elements, got {type(value).__name__}")


def _first_line(message: str) -> str:
    message = re.sub(r"\s*\[\[\{\{node [^}]*\}\}\]\]", "", message)
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("Graph execution error")]
    return " ".join(lines) or message.strip()


def _example(alias: str, spec: TensorSpec, vocab) -> np.ndarray:
    """A valid batch-1 input for warm-up."""
    shape = tuple(1 if d is None else d for d in spec.shape)
    if alias == exported_model.IMAGE_BYTES:
        return np.array([images.encode_png(np.full((16, 16, 3), 128, np.uint8))], dtype=object)
    if alias == exported_model.TEXT:
        word = vocab.words[2] if vocab is not None and len(vocab) > 2 else "a"
        return np.array([word.encode("utf-8")], dtype=object)
    if spec.dtype == object:
        return np.full(shape, b"", dtype=object)
    return np.zeros(shape, spec.dtype)
