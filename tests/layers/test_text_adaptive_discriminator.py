"""TextAdaptiveDiscriminator (Eq. 12-13): its outputs, and word importance that ignores pads."""
import keras
import numpy as np
import pytest

from mimnet_tf.layers.text_adaptive_discriminator import TextAdaptiveDiscriminator
from tests.layers import harness
from tests.layers.numpy_reference import MASK, as_float64
from tests.layers.numpy_reference import masked_softmax as reference_masked_softmax


def test_layer_behaviours(tmp_path):
    """Forward pass, config round trip and .keras save/reload."""
    rng = np.random.default_rng(8)
    inputs = {"images": rng.uniform(-1, 1, size=(2, 16, 16, 3)).astype("float32"),
              "words": rng.normal(size=(2, 5, 6)).astype("float32"), "mask": MASK}
    harness.run_layer_test(
        TextAdaptiveDiscriminator, {"channels": 4, "num_downsamples": 3}, inputs,
        {"log_conformity": (2,), "reality_logit": (2,), "word_importance": (2, 5), "word_scores": (2, 5)}, tmp_path,
        litert_skip_reason=harness.TRAINING_ONLY)


def test_discriminator_outputs_and_word_importance_ignore_pads():
    """Reality logit (B,), log D_t (B,) <= 0, per-word log scores <= 0; gamma_j = softmax_j(w_j .
    mean(w) / sqrt(d)) over real words only (pads 0, sums to 1); log D_t = sum_j gamma_j log s_j;
    what the pad words hold changes nothing."""
    keras.utils.set_random_seed(11)
    rng = np.random.default_rng(7)
    disc = TextAdaptiveDiscriminator(4, num_downsamples=3)
    images = rng.uniform(-1, 1, size=(2, 16, 16, 3)).astype("float32")
    words = rng.normal(size=(2, 5, 6)).astype("float32")
    out = disc(images, words, MASK)
    assert tuple(out["reality_logit"].shape) == (2,)
    assert tuple(out["log_conformity"].shape) == (2,)
    assert np.all(as_float64(out["log_conformity"]) <= 0.0) and np.all(as_float64(out["word_scores"]) <= 0.0)
    gamma = as_float64(out["word_importance"])
    np.testing.assert_array_equal(gamma[MASK == 0], 0.0)
    np.testing.assert_allclose(gamma.sum(-1), 1.0, rtol=1e-5)
    w = as_float64(words)
    mean = (w * MASK[..., None]).sum(1) / MASK.sum(1, keepdims=True)
    np.testing.assert_allclose(gamma, reference_masked_softmax(np.einsum("bld,bd->bl", w, mean) / np.sqrt(6), MASK),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out["log_conformity"], (gamma * as_float64(out["word_scores"])).sum(-1), rtol=1e-5)

    noisy = words.copy()
    noisy[MASK == 0] = 50.0
    again = disc(images, noisy, MASK)
    np.testing.assert_allclose(again["log_conformity"], out["log_conformity"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(again["word_importance"], out["word_importance"], rtol=1e-5, atol=1e-7)
    # The reality head does not read the text at all.
    np.testing.assert_array_equal(disc(images, words[::-1].copy(), MASK)["reality_logit"], out["reality_logit"])
    with pytest.raises(ValueError, match="num_downsamples"):
        TextAdaptiveDiscriminator(4, num_downsamples=2)
