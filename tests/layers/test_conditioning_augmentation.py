import numpy as np
import pytest
from keras import ops

from mimnet_tf import losses
from mimnet_tf.layers.conditioning_augmentation import ConditioningAugmentation
from tests.layers import harness


def _layer():
    layer = ConditioningAugmentation(3, name="ca")
    layer(ops.zeros((1, 5)))
    return layer


def test_condition_is_mu_plus_sigma_eps_from_the_glu():
    layer = _layer()
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(5, 12)).astype("float32")
    bias = rng.normal(size=(12,)).astype("float32")
    layer.projection.set_weights([kernel, bias])
    sentence = rng.normal(size=(2, 5)).astype("float32")
    eps = rng.normal(size=(2, 3)).astype("float32")

    out = layer(sentence, eps)

    h = sentence @ kernel + bias
    glu = h[:, :6] / (1.0 + np.exp(-h[:, 6:]))
    mu, logvar = glu[:, :3], glu[:, 3:]
    np.testing.assert_allclose(out["mu"], mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["logvar"], logvar, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["condition"], mu + np.exp(logvar / 2) * eps, rtol=1e-5, atol=1e-6)


def test_without_eps_the_condition_is_the_mean():
    layer = _layer()
    out = layer(np.ones((2, 5), "float32"))
    np.testing.assert_array_equal(out["condition"], out["mu"])


def test_kl_matches_a_hand_computed_value():
    mu = np.array([[1.0, 0.0]], "float32")
    logvar = np.array([[0.0, np.log(2.0)]], "float32")
    # 0.5 * mean([1 + 1 - 1 - 0, 0 + 2 - 1 - log 2]) = 0.5 * (2 - log 2) / 2
    expected = 0.25 * (2.0 - np.log(2.0))
    np.testing.assert_allclose(losses.kl_loss(mu, logvar), [expected], rtol=1e-6)
    np.testing.assert_allclose(losses.kl_loss(np.zeros((2, 4)), np.zeros((2, 4))), [0.0, 0.0], atol=1e-7)


def test_layer_behaviours(tmp_path):
    """Forward pass, config round trip (the same outputs with the same weights) and .keras save/reload."""
    rng = np.random.default_rng(1)
    inputs = {"sentence": rng.normal(size=(2, 5)).astype("float32"), "eps": rng.normal(size=(2, 3)).astype("float32")}
    harness.run_layer_test(ConditioningAugmentation, {"condition_dim": 3, "name": "ca"}, inputs,
                           {"condition": (2, 3), "logvar": (2, 3), "mu": (2, 3)}, tmp_path,
                           litert_skip_reason=harness.MIRRORGAN_ONLY)


def test_rejects_an_empty_condition():
    with pytest.raises(ValueError, match="condition_dim"):
        ConditioningAugmentation(0)
