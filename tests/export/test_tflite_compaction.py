"""The int8 file's float leftovers stored small: int8 matmul weights, no internal names, one empty buffer."""
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

from mimnet_tf.export import tflite_compaction


class _TwoMatmuls(tf.Module):
    """A float model with one large matmul (64 x 48 weights, converted as FULLY_CONNECTED) and one
    below MIN_ELEMENTS (48 x 8)."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.large = tf.constant(rng.normal(0, 0.2, (64, 48)).astype(np.float32))
        self.small = tf.constant(rng.normal(0, 0.2, (48, 8)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([2, 64], tf.float32, name="features")])
    def serve(self, features):
        hidden = tf.nn.relu(tf.matmul(features, self.large))
        return {"scores": tf.matmul(hidden, self.small)}


@pytest.fixture(scope="module")
def float_model():
    module = _TwoMatmuls()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.serve.get_concrete_function()], module)
    return converter.convert()


def _run(content: bytes, features: np.ndarray) -> np.ndarray:
    interpreter = Interpreter(model_content=content)
    return interpreter.get_signature_runner()(features=features)["scores"]


def _fully_connected_weights(content: bytes) -> list:
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    graph = model.subgraphs[0]
    return [(graph.tensors[op.inputs[1]], op) for op in graph.operators
            if tflite_compaction.op_name(model, op) == "FULLY_CONNECTED"]


def test_per_channel_int8_by_hand():
    values, scale = tflite_compaction.per_channel_int8(np.array([[1.0, -2.0], [0.0, 0.0], [0.5, 0.25]]))
    np.testing.assert_allclose(scale, [2 / 127, 1.0, 0.5 / 127], rtol=1e-6)
    np.testing.assert_array_equal(values, [[64, -127], [0, 0], [127, 64]])  # 63.5 and 63.5 round to even


def test_large_float_matmul_weights_become_int8_per_channel_and_the_outputs_stay_close(float_model):
    compacted, summary = tflite_compaction.compact_int8(float_model)
    weights = {tuple(tensor.shape): (tensor, op) for tensor, op in _fully_connected_weights(compacted)}
    large, large_op = weights[(48, 64)]  # TFLite stores (out, in)
    assert large.type == schema.TensorType.INT8
    assert len(large.quantization.scale) == 48 and not np.any(large.quantization.zeroPoint)
    assert large_op.builtinOptions.asymmetricQuantizeInputs  # the dynamic variant's kernel
    assert weights[(8, 48)][0].type == schema.TensorType.FLOAT32  # below MIN_ELEMENTS: left float
    assert len(summary["float_ops_with_int8_weights"]) == 1

    features = np.random.default_rng(1).normal(0, 1, (2, 64)).astype(np.float32)
    reference, compact = _run(float_model, features), _run(compacted, features)
    assert np.max(np.abs(compact - reference)) < 0.02 * np.max(np.abs(reference))
    assert len(compacted) < len(float_model) - 3 * 64 * 48 * 0.9  # 4 bytes -> 1 byte per large weight


def test_only_the_signature_tensors_keep_names_and_empty_tensors_share_one_buffer(float_model):
    compacted, _ = tflite_compaction.compact_int8(float_model)
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(compacted))
    graph = model.subgraphs[0]
    named = {index for index, tensor in enumerate(graph.tensors) if tensor.name}
    assert named == set(graph.inputs.tolist()) | set(graph.outputs.tolist())
    empty = [i for i, buffer in enumerate(model.buffers) if buffer.data is None or not len(buffer.data)]
    assert empty == [0]
    assert {tensor.buffer for tensor in graph.tensors} <= set(range(len(model.buffers)))
    interpreter = Interpreter(model_content=compacted)
    assert interpreter.get_signature_list() == {"serving_default": {"inputs": ["features"], "outputs": ["scores"]}}
