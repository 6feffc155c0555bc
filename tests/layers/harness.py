"""The one harness every layer test runs (keras-hub's `run_layer_test`, for this package).

`run_layer_test(cls, init_kwargs, input_data, expected_output_shape, tmp_path)` checks, on tiny
inputs:
1. a forward pass: every output has the expected shape and dtype, eagerly and symbolically (the
   layer inside a functional Keras model, which is what exports trace);
2. the config round trip: `cls.from_config(layer.get_config())` has the same config and, given
   the same weights, the same outputs;
3. save and reload: the functional model saved as a `.keras` file under tmp_path loads back with
   an instance of `cls` inside and gives the same outputs;
4. LiteRT: that model converts with TFLite builtin ops only, the way export/tflite.py converts
   the generator (the tf.Variables behind the Keras ones tracked by a tf.Module, then frozen),
   and the LiteRT interpreter's outputs match Keras. Layers that only train (discriminators)
   or whose model has no LiteRT export pass `litert_skip_reason` instead.

`input_data` maps the layer's call arguments to numpy arrays (or lists of them, e.g. the image
features of CoarseManipulation). Outputs are compared leaf by leaf in `keras.tree.flatten` order.
The LiteRT part is the slow one (about 0.5 s of CPU per layer, most of it the converter), so it
runs once per layer class, on inputs of batch 2 and a few pixels.
"""
from __future__ import annotations

import json
import os

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from keras import tree

from mimnet_tf.export.signatures import tracked_variables

# The same weights and the same code in the same process: only float reassociation may differ.
SAME_TOLERANCE = 1e-6
# The reasons a layer has no LiteRT check (`litert_skip_reason`).
TRAINING_ONLY = "trains only: no export holds a discriminator"
MIRRORGAN_ONLY = ("MirrorGAN's layer: MirrorGAN exports as a SavedModel only (export/generate_signature.py), "
                  "no .tflite file holds it")


def run_layer_test(cls, init_kwargs: dict, input_data: dict, expected_output_shape, tmp_path, *,
                   expected_output_dtype: str = "float32",
                   litert_skip_reason: str | None = None, litert_tolerance: float = 1e-5):
    """Runs the four checks of this module on `cls(**init_kwargs)`; returns the built layer.

    Args:
        cls: the layer class.
        init_kwargs: its constructor arguments (tiny widths).
        input_data: call argument name -> numpy array, or a list of arrays.
        expected_output_shape: the structure of the outputs with a shape tuple at each leaf
            (a dict, a tuple or a list, as the layer returns).
        tmp_path: pytest's tmp_path (the `.keras` file goes there).
        expected_output_dtype: the dtype of every output.
        litert_skip_reason: why the layer has no LiteRT check (None: it has one).
        litert_tolerance: largest absolute difference allowed between LiteRT and Keras.
    """
    if litert_skip_reason is not None and not litert_skip_reason.strip():
        raise ValueError(f"{cls.__name__}: litert_skip_reason is empty; say why the layer has no LiteRT check")
    layer = cls(**init_kwargs)
    outputs = layer(**input_data)
    _check_outputs(outputs, expected_output_shape, expected_output_dtype, "eager call")

    model, symbolic_outputs = _functional_model(layer, input_data)
    _check_outputs(symbolic_outputs, expected_output_shape, expected_output_dtype, "symbolic call")
    _assert_same(model(input_data), outputs, "the functional model")

    _check_config_round_trip(layer, input_data, outputs)
    _check_save_and_reload(model, cls, input_data, outputs, tmp_path)
    if litert_skip_reason is None:
        _check_litert(model, input_data, outputs, litert_tolerance)
    return layer


def _check_outputs(outputs, expected_shape, expected_dtype, where):
    shapes = tree.map_structure(lambda x: tuple(x.shape), outputs)
    assert shapes == expected_shape, f"{where}: output shapes {shapes}, expected {expected_shape}"
    for tensor in tree.flatten(outputs):
        dtype = keras.backend.standardize_dtype(tensor.dtype)
        assert dtype == expected_dtype, f"{where}: an output of dtype {dtype}, expected {expected_dtype}"


def _functional_model(layer, input_data):
    """(model, its symbolic outputs): the layer called on keras.Input placeholders of the inputs'
    static shapes and dtypes."""
    def placeholder(x, name):
        return keras.Input(batch_shape=x.shape, dtype=keras.backend.standardize_dtype(x.dtype), name=name)

    placeholders = {key: [placeholder(x, f"{key}_{i}") for i, x in enumerate(value)] if isinstance(value, list)
                    else placeholder(value, key) for key, value in input_data.items()}
    symbolic_outputs = layer(**placeholders)
    return keras.Model(placeholders, symbolic_outputs, name=f"{layer.name}_model"), symbolic_outputs


def _assert_same(got, want, what, tolerance=SAME_TOLERANCE):
    got, want = tree.flatten(got), tree.flatten(want)
    assert len(got) == len(want), f"{what}: {len(got)} outputs, expected {len(want)}"
    for index, (a, b) in enumerate(zip(got, want)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tolerance, atol=tolerance,
                                   err_msg=f"{what}: output {index}")


def _check_config_round_trip(layer, input_data, outputs):
    config = layer.get_config()
    json.dumps(config)  # a `.keras` file stores it as JSON
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone(**input_data)  # builds its weights
    clone.set_weights(layer.get_weights())
    _assert_same(clone(**input_data), outputs, "from_config(get_config()) with the same weights")


def _check_save_and_reload(model, cls, input_data, outputs, tmp_path):
    path = os.path.join(str(tmp_path), f"{cls.__name__}.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert any(isinstance(inner, cls) for inner in reloaded.layers), [type(inner) for inner in reloaded.layers]
    _assert_same(reloaded(input_data), outputs, f"the model reloaded from {os.path.basename(path)}")


def _check_litert(model, input_data, outputs, tolerance):
    flat_inputs = [np.asarray(x) for x in tree.flatten(input_data)]
    specs = [tf.TensorSpec(x.shape, x.dtype, name=f"input_{i}") for i, x in enumerate(flat_inputs)]

    @tf.function(input_signature=specs)
    def serve(*tensors):
        results = tree.flatten(model(tree.pack_sequence_as(input_data, list(tensors))))
        return {f"output_{i}": result for i, result in enumerate(results)}

    holder = tf.Module()
    holder.variables_by_path = tracked_variables(model)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], holder)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = Interpreter(model_content=converter.convert())
    runner = interpreter.get_signature_runner()
    results = runner(**{f"input_{i}": x for i, x in enumerate(flat_inputs)})
    got = [results[f"output_{i}"] for i in range(len(results))]
    _assert_same(got, outputs, "LiteRT against Keras", tolerance)
