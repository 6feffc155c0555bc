"""masked_softmax and WordAttention (Eq. 10): pads get no weight, checked in numpy."""
import keras
import numpy as np

from mimnet_tf.layers.attention import WordAttention, masked_softmax
from tests.layers import harness
from tests.layers.numpy_reference import MASK, as_float64
from tests.layers.numpy_reference import masked_softmax as reference_masked_softmax


def test_layer_behaviours(tmp_path):
    """Forward pass, config round trip, .keras save/reload and LiteRT (FIR and ICM use it in the export)."""
    rng = np.random.default_rng(8)
    inputs = {"features": rng.normal(size=(2, 4, 4, 8)).astype("float32"),
              "words": rng.normal(size=(2, 5, 6)).astype("float32"), "mask": MASK}
    harness.run_layer_test(WordAttention, {"channels": 4}, inputs, ((2, 4, 4, 4), (2, 16, 5)), tmp_path)


def test_masked_softmax_gives_pads_no_weight():
    """Pads get exactly 0 weight, the rest sum to 1; a row with no valid entry is all zeros."""
    logits = np.array([[1.0, 50.0, -2.0, 3.0], [5.0, 5.0, 5.0, 5.0]], "float32")
    mask = np.array([[1, 0, 1, 1], [0, 0, 0, 0]], "float32")
    weights = as_float64(masked_softmax(logits, mask))
    np.testing.assert_allclose(weights[0], reference_masked_softmax(as_float64(logits[:1]), mask[:1])[0], rtol=1e-6)
    assert weights[0, 1] == 0.0
    np.testing.assert_allclose(weights[0].sum(), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(weights[1], 0.0)


def test_word_attention_follows_eq_10_over_real_words_only():
    """beta = softmax_j(q(U) . k(w_j) / sqrt(c)) over non-pad words, context = sum_j beta v(w_j):
    checked in numpy from the layer's weights; pad weights are 0 and rows sum to 1."""
    keras.utils.set_random_seed(6)
    rng = np.random.default_rng(2)
    layer = WordAttention(4)
    features = rng.normal(size=(2, 3, 3, 5)).astype("float32")
    words = rng.normal(size=(2, 5, 6)).astype("float32")
    context, weights = layer(features, words, MASK)
    wq, wk, wv = as_float64(layer.query.kernel), as_float64(layer.key.kernel), as_float64(layer.value.kernel)
    scores = np.einsum("bpc,blc->bpl", as_float64(features).reshape(2, 9, 5) @ wq, as_float64(words) @ wk) / 2.0
    beta = reference_masked_softmax(scores, MASK[:, None, :])
    np.testing.assert_allclose(weights, beta, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(as_float64(context).reshape(2, 9, 4), beta @ (as_float64(words) @ wv), rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_array_equal(as_float64(weights)[0, :, 3:], 0.0)
    np.testing.assert_array_equal(as_float64(weights)[1, :, 1:], 0.0)
    np.testing.assert_allclose(as_float64(weights).sum(-1), 1.0, rtol=1e-5)
