"""MIMNetGenerator end to end: its config round trip, padding that changes nothing, text that
does change the edit, and the config switches that reach into its layers (texture word
residual, ICM queries by the image features)."""
import dataclasses

import keras
import numpy as np
import pytest

from mimnet_tf import testing
from mimnet_tf.config import ModelConfig
from mimnet_tf.models.generator import MIMNetGenerator
from tests.layers.numpy_reference import TOKENS, as_float64


@pytest.fixture(scope="module")
def generator():
    """A tiny generator (32 px, features at 8x8, 4 memories) with a fixed seed."""
    return testing.tiny_generator()


def test_generator_survives_a_config_round_trip(generator):
    """MIMNetGenerator.from_config(get_config()) rebuilds the same ModelConfig, and with the same
    weights edits identically; every output has its documented shape."""
    rng = np.random.default_rng(9)
    inputs = {"image": rng.uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32"), "token_ids": TOKENS}
    out = generator(inputs)
    assert tuple(out["fine"].shape) == (2, 32, 32, 3)
    assert tuple(out["coarse"].shape) == (2, 16, 16, 3)
    assert tuple(out["localisation_map"].shape) == (2, 8, 8, 1)
    assert tuple(out["memory_attention"].shape) == (2, 5, 4)
    clone = MIMNetGenerator.from_config(generator.get_config())
    assert clone.config == generator.config and clone.name == generator.name
    clone.build()
    clone.set_weights(generator.get_weights())
    again = clone(inputs)
    for key in ("fine", "coarse", "localisation_map", "texture_global", "memory_attention"):
        np.testing.assert_allclose(again[key], out[key], rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="vocab_size"):
        MIMNetGenerator(ModelConfig(vocab_size=0))


def test_generator_output_ignores_pads_and_reads_the_text(generator):
    """End to end: padding a caption further changes no output, and another caption does change
    the edit (the text reaches the image through memory, ICM and FIR)."""
    rng = np.random.default_rng(10)
    image = rng.uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")
    text = generator.encode_text(TOKENS)
    out = generator.manipulate(image, text["words"], text["mask"])
    longer = generator.encode_text(np.pad(TOKENS, ((0, 0), (0, 3))))
    again = generator.manipulate(image, longer["words"], longer["mask"])
    np.testing.assert_allclose(again["fine"], out["fine"], rtol=1e-5, atol=1e-5)
    other = generator.encode_text(TOKENS[::-1].copy())
    edited = generator.manipulate(image, other["words"], other["mask"])
    assert np.max(np.abs(as_float64(edited["fine"]) - as_float64(out["fine"]))) > 1e-5


def test_texture_word_residual_adds_the_projected_words_to_the_memory_read(generator):
    """`texture_word_residual`: t_j = (Eq. 3 read) + P w_j at real words, 0 at pads; the memory
    attention is still Eq. 2's."""
    config = dataclasses.replace(generator.config, texture_word_residual=True)
    keras.utils.set_random_seed(1)
    residual = MIMNetGenerator(config, name="generator")
    residual.build()
    text = residual.encode_text(TOKENS)
    words, mask = as_float64(text["words"]), as_float64(text["mask"])
    out = residual.texture(text["words"], text["mask"])
    read = residual.memory(text["words"], text["mask"])
    kernel, bias = (as_float64(w) for w in residual.word_projection.weights)
    expected = as_float64(read["texture"]) + (words @ kernel + bias) * mask[:, :, None]
    np.testing.assert_allclose(as_float64(out["texture"]), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(as_float64(out["attention"]), as_float64(read["attention"]), rtol=1e-6, atol=1e-6)
    assert np.all(as_float64(out["texture"])[mask == 0] == 0.0)
    assert any("word_projection" in v.path for v in residual.trainable_variables)
    assert MIMNetGenerator.from_config(residual.get_config()).config.texture_word_residual


def test_generator_with_icm_query_image_reads_the_image_colours_in_f_c(generator):
    """A colour change that keeps the grey image (so the boundary path sees nothing new) moves the
    TLU map only when ICM's word attention also queries with the image features."""
    image = np.random.default_rng(5).uniform(-0.5, 0.5, size=(2, 32, 32, 3)).astype("float32")
    same_grey = image + 0.3 * np.array([0.587, -0.299, 0.0], "float32")  # luma weights . shift = 0
    changes = {}
    for query_image in (False, True):
        config = dataclasses.replace(generator.config, icm_word_attention=True, icm_query_image=query_image)
        keras.utils.set_random_seed(2)
        g = MIMNetGenerator(config, name="generator")
        g.build()
        text = g.encode_text(TOKENS)
        a = g.manipulate(image, text["words"], text["mask"])["localisation_map"]
        b = g.manipulate(same_grey, text["words"], text["mask"])["localisation_map"]
        changes[query_image] = float(np.abs(as_float64(a) - as_float64(b)).max())
        assert MIMNetGenerator.from_config(g.get_config()).config.icm_query_image == query_image
    assert changes[False] < 1e-6
    assert changes[True] > 1e-5
