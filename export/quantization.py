"""Full-integer (int8) TFLite quantization that keeps in float only the ops measured to need it.

    content, report = quantize_int8(converter, calibration, debug_inputs)

Recipe (docs/exports.md, "int8"):
1. Post-training full-integer quantization: int8 activations calibrated on real training images
   and captions, int8 weights per output channel (symmetric), int32 biases; float input/output
   (the tensor contract of every export).
2. Op-by-op sensitivity with the TFLite quantization debugger: each quantized op's output is
   compared with the float op fed the same (dequantized) inputs, on `debug_inputs`.
3. An op whose error is large against the spread of its own float values (`relative_error`
   above `threshold`) is kept in float; so are the ops of STRUCTURAL_FLOAT_OPS.
4. The image head stays float: the ops from the output image back to (and including) the last
   CONCATENATION, i.e. the merge of the full-resolution skip and the decoder. The per-op errors
   there are ordinary rounding (relative error 0.02-0.09), yet on the 128 px shipped model this
   head alone took PSNR vs Keras from 41.1 to 34.2 dB and background L1 from 0.006 to 0.015 (the
   skip carries the unedited pixels; docs/exports.md); it is ~8 % of the multiply-adds.
5. What stays float is stored small (export/tflite_compaction.py): the float matmuls' and
   convolutions' weights int8 per channel, run by LiteRT's dynamic-range kernels; no internal
   tensor names. That took the file from 0.39x to 0.29x fp32's.

Why the spread and not the debugger's usual RMSE / scale: a masked softmax writes -1e9 at padding
words, the calibrated range then spans 1e9 and every real logit rounds to the same value (every
position attends to every word alike): the edit collapses, yet RMSE / scale stays at its ideal
0.29 because the scale is huge. Against the median absolute deviation of the float values (which
ignores the -1e9 outliers) that error is ~1, and a clipped range (the memory attention's
`logits - max`) shows too.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import csv
import warnings
from typing import Callable, Iterable, Sequence
from unittest import mock

import numpy as np
import tensorflow as tf

from mimnet_tf.export import tflite_compaction

# LiteRT has no int8 REVERSE_SEQUENCE kernel, yet the quantizer quantizes it (the model then fails
# at AllocateTensors); a quantized DIV refuses a divisor that rounds to its zero point (padding
# words have zero norm in the memory's cosine attention). Both stay float whatever is measured.
STRUCTURAL_FLOAT_OPS = ("REVERSE_SEQUENCE", "DIV")
DEFAULT_THRESHOLD = 0.3
# 1.4826 x median absolute deviation estimates the standard deviation of the bulk of the values.
_MAD_TO_STD = 1.4826


@dataclasses.dataclass(frozen=True)
class LayerError:
    """One quantized op's error on the debug inputs."""

    op: str
    tensor: str
    scale: float
    rmse_over_scale: float  # ~0.29 (1/sqrt(12)) is pure rounding
    relative_error: float  # RMSE / (1.4826 x MAD of the float values)
    kept_float: bool


@dataclasses.dataclass(frozen=True)
class QuantizationReport:
    threshold: float
    layers: tuple[LayerError, ...]
    structural_float_ops: tuple[str, ...] = STRUCTURAL_FLOAT_OPS
    image_head: tuple[str, ...] = ()
    storage: dict = dataclasses.field(default_factory=dict)  # tflite_compaction.compact_int8's summary

    @property
    def float_tensors(self) -> list[str]:
        return [layer.tensor for layer in self.layers if layer.kept_float]

    def summary(self) -> dict:
        """What the int8 metadata JSON records."""
        kept = [layer for layer in self.layers if layer.kept_float]
        return {
            "recipe": "full-integer post-training quantization, per-channel int8 weights, int8 activations "
                      "calibrated on training examples, float input/output",
            "float_threshold": self.threshold,
            "structural_float_ops": list(self.structural_float_ops),
            "quantized_ops_measured": len(self.layers),
            "kept_float": [{"op": layer.op, "tensor": layer.tensor, "relative_error": _finite(layer.relative_error),
                            "why": "image head" if _in_head(layer.tensor, self.image_head) else "relative error > threshold"}
                           for layer in kept],
            "storage": self.storage,
        }

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["op", "tensor", "scale", "rmse_over_scale", "relative_error", "kept_float"])
        for layer in self.layers:
            writer.writerow([layer.op, layer.tensor, f"{layer.scale:.6g}", f"{layer.rmse_over_scale:.4f}",
                             f"{layer.relative_error:.4f}", int(layer.kept_float)])
        return out.getvalue()


def _in_head(tensor: str, head: Sequence[str]) -> bool:
    return any(tensor == name or (name[-1:].isdigit() and tensor == name[:-1]) for name in head)


def _finite(value: float):
    return float(value) if np.isfinite(value) else "inf"


def _rmse(reference, quantized, scale, zero_point) -> float:
    dequantized = (quantized.astype(np.float32) - zero_point) * scale
    return float(np.sqrt(np.mean(np.square(reference - dequantized))))


def rmse_over_scale(reference, quantized, scale, zero_point) -> float:
    return _rmse(reference, quantized, scale, zero_point) / scale


def relative_error(reference, quantized, scale, zero_point) -> float:
    """RMSE of the dequantized tensor against the typical spread of its float values.

    0 for an exact tensor; inf when the bulk of the values is constant but the error is not
    (e.g. more than half of a row is the -1e9 padding fill).
    """
    error = _rmse(reference, quantized, scale, zero_point)
    if error == 0.0:
        return 0.0
    spread = _MAD_TO_STD * float(np.median(np.abs(reference - np.median(reference))))
    return error / spread if spread > 0 else float("inf")


_METRICS = {"rmse_over_scale": rmse_over_scale, "relative_error": relative_error}


class _DebugInterpreter(tf.lite.Interpreter):
    """The interpreter the debugger runs its instrumented model in.

    It keeps every intermediate tensor (the debugger reads them after `invoke`; without this the
    arena reuses their memory and the figures are garbage: measured RMSE / scale of 40-140 on
    every layer) and runs without XNNPACK (which cannot prepare the NumericVerify graph).
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("experimental_preserve_all_tensors", True)
        kwargs.setdefault("experimental_op_resolver_type",
                          tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        super().__init__(*args, **kwargs)


@contextlib.contextmanager
def _debugger_interpreter():
    from tensorflow.lite.tools.optimize.debugging.python import debugger

    with warnings.catch_warnings():  # the debugger uses the deprecated tf.lite.Interpreter
        warnings.simplefilter("ignore")
        with mock.patch.object(debugger._interpreter, "Interpreter", _DebugInterpreter):
            yield


def int8_converter(converter: tf.lite.TFLiteConverter, representative: Callable[[], Iterable[dict]]):
    """Sets `converter` up for full-integer quantization (per-channel weights is the default)."""
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.representative_dataset = representative
    return converter


def quantize_int8(converter: tf.lite.TFLiteConverter, representative: Callable[[], Iterable[dict]],
                  debug_examples: Sequence[dict], threshold: float = DEFAULT_THRESHOLD,
                  image_output: str = "edited_image") -> tuple[bytes, QuantizationReport]:
    """The int8 flatbuffer and the sensitivity report behind it.

    Args:
        converter: a float TFLiteConverter of the model (builtin ops).
        representative: calibration examples, dicts keyed by the signature's input names.
        debug_examples: examples for the sensitivity run, dicts like the calibration ones.
        threshold: ops whose `relative_error` exceeds it stay float (inf: only the structural ones
            and the image head).
        image_output: the signature output whose head (back to its last concatenation) stays float.
    """
    if not threshold > 0:
        raise ValueError(f"--int8_float_threshold={threshold}: expected a positive number (inf keeps only "
                         f"{', '.join(STRUCTURAL_FLOAT_OPS)} in float)")
    int8_converter(converter, representative)
    options = tf.lite.experimental.QuantizationDebugOptions(
        denylisted_ops=list(STRUCTURAL_FLOAT_OPS), layer_direct_compare_metrics=_METRICS)
    with _debugger_interpreter():
        input_names: list[str] = []

        def debug_inputs():  # the debugger feeds lists in the order of the model's input tensors
            for example in debug_examples:
                yield [example[_signature_key(name, example)] for name in input_names]

        debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=debug_inputs,
                                                             debug_options=options)
        input_names.extend(d["name"] for d in debugger._quant_interpreter.get_input_details())
        debugger.run()
        head = image_head(tf.lite.Interpreter(model_content=debugger.calibrated_model), image_output)
        layers = _layers(debugger, threshold, head)
        report = QuantizationReport(threshold, tuple(layers), image_head=tuple(head))
        debugger.options = tf.lite.experimental.QuantizationDebugOptions(
            denylisted_ops=list(STRUCTURAL_FLOAT_OPS), denylisted_nodes=report.float_tensors)
        content, storage = tflite_compaction.compact_int8(debugger.get_nondebug_quantized_model())
        return content, dataclasses.replace(report, storage=storage)


def _signature_key(tensor_name: str, example: dict) -> str:
    """The example key naming a model input tensor ("serving_default_image:0" -> "image").

    The longest key that ends the name wins: "serving_default_condition_noise:0" is
    "condition_noise", not "noise" (a MirrorGAN's inputs).
    """
    stem = tensor_name.split(":")[0]
    matches = [key for key in example if stem == key or stem.endswith("_" + key)]
    if not matches:
        raise ValueError(f"model input {tensor_name!r} matches none of the example keys {sorted(example)}")
    return max(matches, key=len)


def image_head(interpreter, output_name: str) -> list[str]:
    """Output tensor names of the ops from `output_name` back to its last CONCATENATION.

    Follows each op's first input (the activation; weights and biases come after it).
    """
    signature = next(iter(interpreter._get_full_signature_list().values()))
    if output_name not in signature["outputs"]:
        raise ValueError(f"the model has no output {output_name!r} (outputs: {sorted(signature['outputs'])})")
    producers = {}
    for op in interpreter._get_ops_details():
        for tensor in op["outputs"]:
            producers[tensor] = op
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    head, tensor = [], signature["outputs"][output_name]
    while tensor in producers:
        op = producers[tensor]
        head.append(names[tensor])
        if op["op_name"] == "CONCATENATION" or not len(op["inputs"]):
            break
        tensor = op["inputs"][0]
    return head


def _layers(debugger, threshold: float, head: Sequence[str] = ()) -> list[LayerError]:
    # The debugger names an op by its quantized output tensor with one trailing digit dropped
    # ("...Squeeze1" -> "...Squeeze"); accept both spellings of a head tensor.
    head = set(head) | {name[:-1] for name in head if name[-1:].isdigit()}
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    dump.seek(0)
    layers = []
    for row in csv.DictReader(dump):
        error = float(row["relative_error"])
        layers.append(LayerError(op=row["op_name"], tensor=row["tensor_name"], scale=float(row["scale"]),
                                 rmse_over_scale=float(row["rmse_over_scale"]), relative_error=error,
                                 kept_float=bool(error > threshold or row["tensor_name"] in head)))
    return layers
