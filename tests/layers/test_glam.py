import numpy as np
import pytest
from keras import ops

from mimnet_tf.layers.glam import InitialStage, RefinementStage, SentenceAttention


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_sentence_attention_weighs_the_projected_sentence_per_position():
    rng = np.random.default_rng(0)
    layer = SentenceAttention(4)
    features = rng.normal(size=(2, 3, 3, 4)).astype("float32")
    condition = rng.normal(size=(2, 5)).astype("float32")
    context, weights = layer(features, condition)

    kernel, bias = layer.projection.get_weights()
    mix = layer.mix.get_weights()[0][0, 0]  # (4, 4) 1x1 kernel
    projected = (condition @ kernel + bias)[:, None, None, :]
    expected_weights = _softmax((features * projected) @ mix)
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


def test_layers_survive_a_config_round_trip():
    for layer in (SentenceAttention(4), InitialStage(8, 2), RefinementStage(8, 2)):
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()
