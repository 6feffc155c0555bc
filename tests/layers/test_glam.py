import numpy as np
import pytest
from keras import ops

from mimnet_tf.layers.glam import InitialStage, RefinementStage, SentenceAttention
from tests.layers import harness
from tests.layers.numpy_reference import MASK, softmax


def test_sentence_attention_weighs_the_projected_sentence_per_position():
    rng = np.random.default_rng(0)
    layer = SentenceAttention(4)
    features = rng.normal(size=(2, 3, 3, 4)).astype("float32")
    condition = rng.normal(size=(2, 5)).astype("float32")
    context, weights = layer(features, condition)

    kernel, bias = layer.projection.get_weights()
    mix = layer.mix.get_weights()[0][0, 0]  # (4, 4) 1x1 kernel
    projected = (condition @ kernel + bias)[:, None, None, :]
    expected_weights = softmax((features * projected) @ mix)
    np.testing.assert_allclose(weights, expected_weights, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.sum(weights, axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(context, projected * expected_weights, rtol=1e-5, atol=1e-6)


def test_sentence_attention_needs_features_of_its_width():
    with pytest.raises(ValueError, match="width"):
        SentenceAttention(4)(ops.zeros((1, 2, 2, 3)), ops.zeros((1, 5)))


def test_initial_stage_upsamples_from_4x4_and_narrows():
    stage = InitialStage(8, num_upsamples=2)
    out = stage(ops.zeros((2, 10)))
    assert tuple(out.shape) == (2, 16, 16, 8)
    assert stage.output_size == 16
    assert [stage.width(i) for i in range(3)] == [32, 16, 8]
    with pytest.raises(ValueError, match="num_upsamples"):
        InitialStage(8, 0)


def test_refinement_stage_doubles_and_its_word_attention_ignores_pads():
    rng = np.random.default_rng(1)
    stage = RefinementStage(8, num_residual_blocks=1)
    features = rng.normal(size=(2, 4, 4, 8)).astype("float32")
    words = rng.normal(size=(2, 5, 6)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], "float32")
    out = stage(features, words, mask, rng.normal(size=(2, 3)).astype("float32"))

    assert tuple(out["features"].shape) == (2, 8, 8, 8)
    attention = np.asarray(out["word_attention"])
    assert attention.shape == (2, 16, 5)
    np.testing.assert_array_equal(attention[0, :, 3:], 0.0)
    np.testing.assert_array_equal(attention[1, :, 1:], 0.0)
    np.testing.assert_allclose(attention.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(out["sentence_attention"]).sum(-1), 1.0, rtol=1e-5)

    # What the pad positions hold cannot change the output.
    noisy = words.copy()
    noisy[0, 3:] = 100.0
    again = stage(features, noisy, mask, np.zeros((2, 3), "float32"))
    first = stage(features, words, mask, np.zeros((2, 3), "float32"))
    np.testing.assert_allclose(again["features"], first["features"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls, init_kwargs, input_shapes, expected_shape", [
    (SentenceAttention, {"channels": 4}, {"features": (2, 3, 3, 4), "condition": (2, 5)},
     ((2, 3, 3, 4), (2, 3, 3, 4))),
    (InitialStage, {"channels": 8, "num_upsamples": 2}, {"code": (2, 10)}, (2, 16, 16, 8)),
    (RefinementStage, {"channels": 8, "num_residual_blocks": 2},
     {"features": (2, 4, 4, 8), "words": (2, 5, 6), "mask": (2, 5), "condition": (2, 3)},
     {"features": (2, 8, 8, 8), "sentence_attention": (2, 4, 4, 8), "word_attention": (2, 16, 5)}),
], ids=["SentenceAttention", "InitialStage", "RefinementStage"])
def test_layer_behaviours(cls, init_kwargs, input_shapes, expected_shape, tmp_path):
    """Forward pass, config round trip (the same outputs with the same weights) and .keras save/reload."""
    rng = np.random.default_rng(2)
    inputs = {name: rng.normal(size=shape).astype("float32") for name, shape in input_shapes.items()}
    if "mask" in inputs:
        inputs["mask"] = MASK
    harness.run_layer_test(cls, init_kwargs, inputs, expected_shape, tmp_path,
                           litert_skip_reason=harness.MIRRORGAN_ONLY)
