"""TextEncoder: shapes, the masked-mean sentence feature, and padding that changes nothing."""
import keras
import numpy as np
import pytest

from mimnet_tf.layers.text_encoder import TextEncoder
from tests.layers import harness
from tests.layers.numpy_reference import MASK, TOKENS, as_float64


def test_layer_behaviours(tmp_path):
    """Forward pass, config round trip, .keras save/reload and LiteRT (the encoder is exported)."""
    harness.run_layer_test(
        TextEncoder, {"vocab_size": 10, "embed_dim": 6, "text_dim": 8, "dropout": 0.1, "name": "te"},
        {"token_ids": TOKENS}, {"mask": (2, 5), "sentence": (2, 8), "words": (2, 5, 8)}, tmp_path)


def test_text_encoder_shapes_and_the_sentence_is_the_masked_mean_of_the_words():
    """words (B, L, text_dim), sentence (B, text_dim), mask (B, L); pad features are exactly 0 and
    the sentence feature averages the real words only."""
    keras.utils.set_random_seed(1)
    encoder = TextEncoder(10, 6, 8)
    out = encoder(TOKENS)
    assert tuple(out["words"].shape) == (2, 5, 8)
    assert tuple(out["sentence"].shape) == (2, 8)
    np.testing.assert_array_equal(out["mask"], MASK)
    words = as_float64(out["words"])
    np.testing.assert_array_equal(words[MASK == 0], 0.0)
    assert np.all(np.abs(words[MASK == 1]).sum(-1) > 0)
    expected = (words * MASK[..., None]).sum(1) / MASK.sum(1, keepdims=True)
    np.testing.assert_allclose(out["sentence"], expected, rtol=1e-5, atol=1e-6)


def test_text_encoder_ignores_what_the_pad_token_holds_and_how_much_padding_follows():
    """Padding is masked: overwriting the `<pad>` embedding with large values, or padding the same
    caption to a longer length, changes neither the sentence feature nor the real words' features
    (both LSTM directions read only the real words)."""
    keras.utils.set_random_seed(2)
    encoder = TextEncoder(10, 6, 8)
    first = encoder(TOKENS)
    table = encoder.embedding.embeddings.numpy()
    table[0] = 50.0 * np.random.default_rng(0).normal(size=table.shape[1])
    encoder.embedding.embeddings.assign(table)
    noisy_pad = encoder(TOKENS)
    np.testing.assert_allclose(noisy_pad["words"], first["words"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(noisy_pad["sentence"], first["sentence"], rtol=1e-6, atol=1e-6)

    longer = encoder(np.pad(TOKENS, ((0, 0), (0, 4))))
    np.testing.assert_allclose(as_float64(longer["words"])[:, :5], first["words"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(as_float64(longer["words"])[:, 5:], 0.0)
    np.testing.assert_allclose(longer["sentence"], first["sentence"], rtol=1e-5, atol=1e-6)

    # A real word at a former pad position does change the caption (the check above is not vacuous).
    changed = TOKENS.copy()
    changed[0, 3] = 7
    assert np.max(np.abs(as_float64(encoder(changed)["sentence"])[0] - as_float64(first["sentence"])[0])) > 1e-4


def test_text_encoder_rejects_an_odd_width():
    """Two LSTM directions of text_dim / 2 each: an odd text_dim is refused."""
    with pytest.raises(ValueError, match="text_dim=7"):
        TextEncoder(10, 6, 7)
