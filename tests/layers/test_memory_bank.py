"""MemoryBank (MTFG): Eq. 2-3, cosine against dot similarity, the given attention of Eq. 16, and
finding the memory's variables by name."""
import dataclasses

import keras
import numpy as np
import pytest

from mimnet_tf import testing
from mimnet_tf.layers.memory_bank import MemoryBank, memory_variables
from mimnet_tf.models.generator import MIMNetGenerator
from tests.layers import harness
from tests.layers.numpy_reference import MASK, as_float64, softmax


def _memory_inputs(seed=0, text_dim=6):
    rng = np.random.default_rng(seed)
    words = rng.normal(size=(2, 5, text_dim)).astype("float32") * MASK[..., None]
    return words, MASK


def test_layer_behaviours(tmp_path):
    """Forward pass, config round trip, .keras save/reload and LiteRT (the bank is exported)."""
    words, mask = _memory_inputs()
    harness.run_layer_test(
        MemoryBank, {"memory_size": 4, "memory_dim": 7, "text_dim": 6, "temperature": 0.2, "similarity": "dot"},
        {"words": words, "mask": mask}, {"attention": (2, 5, 4), "texture": (2, 5, 7)}, tmp_path)
    assert MemoryBank.from_config(MemoryBank(4, 7, 6).get_config()).name == "memory_bank"


@pytest.mark.parametrize("similarity", ["cosine", "dot"])
def test_memory_attention_and_texture_follow_eq_2_and_3(similarity):
    """Eq. 2: alpha_ji = softmax_i(sim(w_j, W_k m_i) / temperature), with cosine or dot similarity;
    Eq. 3: t_j = sum_i alpha_ji m_i. Rows of real words sum to 1 over the memories; pad rows and
    pad textures are zero."""
    keras.utils.set_random_seed(3)
    bank = MemoryBank(memory_size=4, memory_dim=7, text_dim=6, temperature=0.5, similarity=similarity)
    words, mask = _memory_inputs()
    out = bank(words, mask)
    memories, projection = (as_float64(w) for w in bank.get_weights())
    keys = memories @ projection
    w = as_float64(words)
    if similarity == "cosine":
        keys = keys / (np.linalg.norm(keys, axis=-1, keepdims=True) + 1e-6)
        w = w / (np.linalg.norm(w, axis=-1, keepdims=True) + 1e-6)
    alpha = softmax(np.einsum("bld,nd->bln", w, keys) / 0.5) * mask[..., None]
    np.testing.assert_allclose(out["attention"], alpha, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out["texture"], alpha @ memories, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(as_float64(out["attention"]).sum(-1), mask, atol=1e-5)
    np.testing.assert_array_equal(as_float64(out["texture"])[mask == 0], 0.0)
    assert tuple(out["texture"].shape) == (2, 5, 7)


def test_cosine_memory_attention_ignores_the_scale_of_the_words_and_dot_does_not():
    """The design's point of "cosine": logits stay within +-1/temperature whatever the word norms;
    the paper's "dot" sharpens as the words grow."""
    keras.utils.set_random_seed(4)
    words, mask = _memory_inputs()
    for similarity, scale_free in (("cosine", True), ("dot", False)):
        bank = MemoryBank(4, 7, 6, temperature=1.0, similarity=similarity)
        small = as_float64(bank(words, mask)["attention"])
        large = as_float64(bank(words * 10.0, mask)["attention"])
        assert np.allclose(small, large, atol=1e-5) == scale_free, similarity
    with pytest.raises(ValueError, match="similarity"):
        MemoryBank(4, 7, 6, similarity="euclid")


def test_given_attention_is_used_verbatim():
    """The Eq. 16 path: `attention=` replaces Eq. 2 (masked at pads) and the words play no part:
    t_j = sum_i alpha~_ji m_i exactly."""
    keras.utils.set_random_seed(5)
    bank = MemoryBank(4, 7, 6)
    words, mask = _memory_inputs()
    given = np.random.default_rng(1).dirichlet(np.ones(4), size=(2, 5)).astype("float32")
    out = bank(words, mask, attention=given)
    np.testing.assert_allclose(out["attention"], given * mask[..., None], rtol=1e-6)
    memories = as_float64(bank.memories)
    np.testing.assert_allclose(out["texture"], (given * mask[..., None]) @ memories, rtol=1e-5, atol=1e-6)
    other_words = bank(words[::-1].copy() + 3.0, mask, attention=given)
    np.testing.assert_array_equal(other_words["texture"], out["texture"])


def test_memory_variables_finds_exactly_the_memory_by_name():
    """`memory_variables(model)` returns the MemoryBank's two variables (memories, W_k) and nothing
    else; a generator without memory has none."""
    generator = testing.tiny_generator()
    found = memory_variables(generator)
    assert {id(v) for v in found} == {id(generator.memory.memories), id(generator.memory.key_projection)}
    others = [v for v in generator.trainable_variables if id(v) not in {id(f) for f in found}]
    assert len(others) == len(generator.trainable_variables) - 2
    assert not any("memory_bank" in v.path for v in others)

    without = MIMNetGenerator(dataclasses.replace(generator.config, use_memory=False), name="generator")
    without.build()
    assert memory_variables(without) == []
    assert any("word_projection" in v.path for v in without.trainable_variables)
