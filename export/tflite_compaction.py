"""Makes the int8 TFLite file smaller without touching its int8 ops: what is left float is stored smaller.

    content, summary = compact_int8(content)

The full-integer quantizer (export/quantization.py) keeps the ops measured to need it in float, and
it keeps their weights in float32 too: on the shipped 16-channel models the memory's and the word
attentions' projections, 0.29 MB with the image head's convolutions, a quarter of the int8 file's
weight bytes. It also joins every location the converter fused into a tensor's name (up to
1.1 kB per tensor, 0.16 MB in all) and gives every tensor its own buffer entry, data or not.

1. The float FULLY_CONNECTED ops' weights (>= MIN_ELEMENTS values, as the converter's
   dynamic-range variant) are stored int8, symmetric per output channel, and the op becomes
   LiteRT's dynamic-range (hybrid) kernel: its float input is quantized on the fly, per batch
   with asymmetric inputs, as the converter writes it for the `dynamic` variant (XNNPACK runs
   it). The float CONV_2D ops are the image head, kept float because rounding its input costs
   the background (export/quantization.py); their weights (18 kB) stay float32. Measured: the
   head's merge convolution as a dynamic-range op too took the 128 px background L1 from +0.0041
   to +0.0047 over fp32 (64 cases), for 14 kB.
2. Tensor names are dropped, except the model's inputs' and outputs' (the signature names what an
   app uses; the sensitivity CSV beside the model names every op as the quantizer saw it).
3. Tensors without data share the empty buffer 0 (the schema's sentinel).

Measured on the 64 px shipped model: docs/exports.md, "A smaller int8 file".
"""
from __future__ import annotations

import numpy as np
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

HYBRID_OPS = ("FULLY_CONNECTED",)
# The converter's dynamic-range variant leaves smaller weights (a bias-sized kernel) in float too.
MIN_ELEMENTS = 1024
_OP_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}


def compact_int8(content: bytes) -> tuple[bytes, dict]:
    """The flatbuffer with 1-3 above applied, and what changed (for the model's JSON)."""
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    hybrid = dynamic_range_weights(model)
    drop_internal_names(model)
    share_empty_buffers(model)
    compacted = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    return compacted, {
        "float_ops_with_int8_weights": hybrid,
        "weights": f"weights of float {', '.join(HYBRID_OPS)} ops (>= {MIN_ELEMENTS} values) stored int8 per "
                   "output channel, run by LiteRT's dynamic-range kernels",
        "tensor_names": "dropped except the inputs' and outputs' (the sensitivity CSV names every op)",
        "megabytes_before": round(len(content) / 1e6, 3),
    }


def op_name(model, operator) -> str:
    code = model.operatorCodes[operator.opcodeIndex]
    return _OP_NAMES.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")


def per_channel_int8(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 values and scales along axis 0 (TFLite's output channel); an all-zero channel gets scale 1."""
    flat = weights.reshape(weights.shape[0], -1).astype(np.float32)
    scale = np.abs(flat).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    values = np.clip(np.round(flat / scale[:, None]), -127, 127).astype(np.int8)
    return values.reshape(weights.shape), scale.astype(np.float32)


def dynamic_range_weights(model) -> list[str]:
    """Stores the float32 weights of float HYBRID_OPS int8 per channel (in place); returns their
    tensors' names (the first location of a fused name).

    Weights another tensor shares a buffer with are left as they are (none in these models)."""
    graph = model.subgraphs[0]
    float32 = schema.TensorType.FLOAT32
    users = np.bincount([t.buffer for t in graph.tensors], minlength=len(model.buffers))
    changed = []
    for operator in graph.operators:
        name = op_name(model, operator)
        if name not in HYBRID_OPS or len(operator.inputs) < 2:
            continue
        activation, weights = graph.tensors[operator.inputs[0]], graph.tensors[operator.inputs[1]]
        data = model.buffers[weights.buffer].data
        if weights.type != float32 or activation.type != float32 or data is None or len(data) < 4 * MIN_ELEMENTS:
            continue
        if users[weights.buffer] > 1:
            continue
        values, scale = per_channel_int8(np.frombuffer(bytes(data), np.float32).reshape(weights.shape))
        model.buffers[weights.buffer].data = np.frombuffer(values.tobytes(), np.uint8)
        weights.type = schema.TensorType.INT8
        weights.quantization = schema.QuantizationParametersT()
        weights.quantization.scale = scale
        weights.quantization.zeroPoint = np.zeros(len(scale), np.int64)
        weights.quantization.quantizedDimension = 0
        if name == "FULLY_CONNECTED":
            operator.builtinOptions.asymmetricQuantizeInputs = True
        changed.append(_text(weights.name).split(";")[0])
    return changed


def _text(name) -> str:
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name or "")


def drop_internal_names(model) -> None:
    for graph in model.subgraphs:
        keep = set(np.asarray(graph.inputs).tolist()) | set(np.asarray(graph.outputs).tolist())
        for index, tensor in enumerate(graph.tensors):
            if index not in keep:
                tensor.name = None


def share_empty_buffers(model) -> None:
    """Points every tensor without data at buffer 0 and drops the buffers nothing uses any more."""
    if model.buffers[0].data is not None and len(model.buffers[0].data):
        return  # not the schema's empty sentinel: leave the layout as written
    tensors = [tensor for graph in model.subgraphs for tensor in graph.tensors]
    for tensor in tensors:
        buffer = model.buffers[tensor.buffer]
        if (buffer.data is None or not len(buffer.data)) and not getattr(buffer, "offset", 0):
            tensor.buffer = 0
    legacy = [] if model.metadataBuffer is None else np.asarray(model.metadataBuffer).tolist()
    used = sorted({0} | {tensor.buffer for tensor in tensors} | {entry.buffer for entry in model.metadata or []}
                  | set(legacy))
    new_index = {old: new for new, old in enumerate(used)}
    model.buffers = [model.buffers[old] for old in used]
    for tensor in tensors:
        tensor.buffer = new_index[tensor.buffer]
    for entry in model.metadata or []:
        entry.buffer = new_index[entry.buffer]
    if legacy:
        model.metadataBuffer = [new_index[old] for old in legacy]
