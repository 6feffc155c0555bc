"""benchmarks/export_latency.py: its FLOP count is exact, and a model loads at any image size."""
import importlib.util
import os
import sys

import numpy as np
import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def latency():
    spec = importlib.util.spec_from_file_location(
        "bench_export_latency", os.path.join(_ROOT, "benchmarks", "export_latency.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass resolves annotations through sys.modules
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_graph_gflop_counts_conv_and_dense_multiply_adds(latency, tmp_path):
    import keras
    import tensorflow as tf

    inputs = keras.Input((16, 16, 3), batch_size=1)
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)  # 16*16*8 outputs x 3*3*3 MACs
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(x)  # 8*8*4 outputs x 3*3*8 MACs
    outputs = keras.layers.Dense(5)(keras.layers.Flatten()(x))  # 5 outputs x 256 MACs
    model = keras.Model(inputs, outputs)
    path = tmp_path / "tiny.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    macs = 16 * 16 * 8 * 27 + 8 * 8 * 4 * 72 + 5 * 256
    assert latency.graph_gflop(str(path)) == pytest.approx(2 * macs / 1e9)


@pytest.mark.slow
def test_a_model_loads_at_another_image_size_with_the_same_weights(model_dir, trained):
    from mimnet_tf.models.builder import load_generator

    size = 2 * trained.config.model.image_size
    larger = load_generator(model_dir, image_size=size)
    assert larger.config.model.image_size == size and larger.config.data.image_size == size
    for a, b in zip(trained.generator.weights, larger.generator.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    ids = trained.vocab.encode("this bird has red wings", trained.config.model.max_words)[0][None]
    outputs = larger.generator({"image": np.zeros((1, size, size, 3), np.float32), "token_ids": ids})
    assert outputs["fine"].shape == (1, size, size, 3)
