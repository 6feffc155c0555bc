"""The MIM-Net layers against the equations of /work/shared/design/mimnet.md.

Every numeric check recomputes the layer's equation in numpy from the layer's own weights
(never a hard-coded output), on tiny inputs: text encoder (padding), memory bank (Eq. 2-3 and
the random-attention path of Eq. 16), word attention / FIR (Eq. 10), TLU (Eq. 9), ICM (Eq. 4-8),
the text-adaptive discriminator (Eq. 12-13), and the config round trip of every layer.
"""
import dataclasses
import os

import keras
import numpy as np
import pytest

from mimnet_tf import testing
from mimnet_tf.config import ModelConfig
from mimnet_tf.data.text import Vocabulary
from mimnet_tf.layers.attention import WordAttention, masked_softmax
from mimnet_tf.layers.blocks import DownBlock, ResBlock, ToImage, UpBlock
from mimnet_tf.layers.coarse_manipulation import CoarseManipulation
from mimnet_tf.layers.image_encoder import ImageEncoder
from mimnet_tf.layers.localisation import TargetLocalisationUnit
from mimnet_tf.layers.memory_bank import MemoryBank, memory_variables
from mimnet_tf.layers.refinement import FineRefinement
from mimnet_tf.layers.text_adaptive_discriminator import TextAdaptiveDiscriminator
from mimnet_tf.layers.text_encoder import TextEncoder
from mimnet_tf.models.builder import build_mimnet, load_word_vectors
from mimnet_tf.models.generator import MIMNetGenerator

# Two captions of 3 and 1 real words, right-padded to 5.
TOKENS = np.array([[3, 4, 5, 0, 0], [6, 0, 0, 0, 0]], "int32")
MASK = (TOKENS != 0).astype("float32")


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _masked_softmax(x, mask, axis=-1):
    e = np.exp(np.where(mask > 0, x, -np.inf) - np.where(mask > 0, x, -np.inf).max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _np(x):
    return np.asarray(x, dtype=np.float64)


def _flatten(outputs):
    if isinstance(outputs, dict):
        return [np.asarray(outputs[k]) for k in sorted(outputs) if outputs[k] is not None]
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(o) for o in outputs]
    return [np.asarray(outputs)]


@pytest.fixture(scope="module")
def generator():
    """A tiny generator (32 px, features at 8x8, 4 memories) with a fixed seed."""
    keras.utils.set_random_seed(0)
    g = MIMNetGenerator(ModelConfig(vocab_size=12, image_size=32, max_words=5, embed_dim=8, text_dim=8,
                                    memory_size=4, base_channels=8, feature_downsample=4, image_skips=True),
                        name="generator")
    g.build()
    return g


# ----------------------------------------------------------------------------- text encoder
def test_text_encoder_shapes_and_the_sentence_is_the_masked_mean_of_the_words():
    """words (B, L, text_dim), sentence (B, text_dim), mask (B, L); pad features are exactly 0 and
    the sentence feature averages the real words only."""
    keras.utils.set_random_seed(1)
    encoder = TextEncoder(10, 6, 8)
    out = encoder(TOKENS)
    assert tuple(out["words"].shape) == (2, 5, 8)
    assert tuple(out["sentence"].shape) == (2, 8)
    np.testing.assert_array_equal(out["mask"], MASK)
    words = _np(out["words"])
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
    np.testing.assert_allclose(_np(longer["words"])[:, :5], first["words"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(_np(longer["words"])[:, 5:], 0.0)
    np.testing.assert_allclose(longer["sentence"], first["sentence"], rtol=1e-5, atol=1e-6)

    # A real word at a former pad position does change the caption (the check above is not vacuous).
    changed = TOKENS.copy()
    changed[0, 3] = 7
    assert np.max(np.abs(_np(encoder(changed)["sentence"])[0] - _np(first["sentence"])[0])) > 1e-4


def test_text_encoder_rejects_an_odd_width():
    """Two LSTM directions of text_dim / 2 each: an odd text_dim is refused."""
    with pytest.raises(ValueError, match="text_dim=7"):
        TextEncoder(10, 6, 7)


_VOCAB = Vocabulary(["<pad>", "<unk>", "red", "bird", "wings", "blue"])


def test_word_vectors_from_a_fasttext_vec_file(tmp_path):
    """ModelConfig.word_vectors (via builder.load_word_vectors): a fastText `.vec` file (header
    "<count> <dim>", trailing spaces) gives its vectors to the vocabulary's words; words not in
    the file keep a random row, `<pad>` is zero, and words not in the vocabulary are skipped."""
    path = tmp_path / "tiny.vec"
    path.write_text("4 3\nred 0.1 0.2 0.3 \nzebra 9 9 9 \nbird -1.5 0.5 2 \nwings 0 -0.25 4e-1 \n", encoding="utf-8")
    matrix, found = load_word_vectors(str(path), _VOCAB, embed_dim=3, seed=0)
    assert matrix.shape == (6, 3) and found == 3
    np.testing.assert_array_equal(matrix[_VOCAB.lookup("red")], np.float32([0.1, 0.2, 0.3]))
    np.testing.assert_array_equal(matrix[_VOCAB.lookup("bird")], np.float32([-1.5, 0.5, 2.0]))
    np.testing.assert_array_equal(matrix[_VOCAB.lookup("wings")], np.float32([0.0, -0.25, 0.4]))
    np.testing.assert_array_equal(matrix[0], 0.0)
    assert np.all(matrix[_VOCAB.lookup("blue")] != 0.0)  # not in the file: a random row
    again, _ = load_word_vectors(str(path), _VOCAB, embed_dim=3, seed=0)
    np.testing.assert_array_equal(again, matrix)  # the random rows are seeded


def test_word_vectors_from_a_glove_txt_file_and_its_errors(tmp_path):
    """A GloVe `.txt` file (no header) loads the same way; a vector of the wrong width names the
    file and line; a missing file is a FileNotFoundError naming it."""
    path = tmp_path / "glove.txt"
    path.write_text("blue 1 2 3\nred 4 5 6\n", encoding="utf-8")
    matrix, found = load_word_vectors(str(path), _VOCAB, embed_dim=3)
    assert found == 2
    np.testing.assert_array_equal(matrix[_VOCAB.lookup("blue")], np.float32([1, 2, 3]))
    np.testing.assert_array_equal(matrix[_VOCAB.lookup("red")], np.float32([4, 5, 6]))

    bad = tmp_path / "bad.txt"
    bad.write_text("red 1 2 3\nbird 1 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.txt:2"):
        load_word_vectors(str(bad), _VOCAB, embed_dim=3)

    missing = str(tmp_path / "no_such_vectors.vec")
    with pytest.raises(FileNotFoundError, match="no_such_vectors.vec"):
        load_word_vectors(missing, _VOCAB, embed_dim=3)


def test_build_mimnet_initialises_the_embedding_from_word_vectors(tmp_path):
    """`build_mimnet` with ModelConfig.word_vectors puts the file's vectors into the generator's
    embedding rows (the path `--word_vectors` takes)."""
    rng = np.random.default_rng(0)
    vectors = {word: rng.normal(size=16).astype("float32") for word in ("red", "wings")}
    path = tmp_path / "vectors.txt"
    path.write_text("".join(f"{w} {' '.join(repr(float(x)) for x in v)}\n" for w, v in vectors.items()))
    config = testing.tiny_run_config("", "")
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, word_vectors=str(path)))
    logged = []
    keras.utils.set_random_seed(0)
    model = build_mimnet(config, _VOCAB, log=logged.append)
    table = model.generator.text_encoder.embedding.embeddings.numpy()
    for word, vector in vectors.items():
        np.testing.assert_array_equal(table[_VOCAB.lookup(word)], vector)
    assert any("2/6 words found" in line for line in logged), logged


def _save_generator_dir(model_dir, config, model):
    from mimnet_tf.models.checkpointing import save_generator

    os.makedirs(model_dir, exist_ok=True)
    config.save(os.path.join(model_dir, "config.json"))
    _VOCAB.save(model_dir)
    save_generator(model.generator, os.path.join(model_dir, "checkpoints"), step=7)


def test_generator_init_dir_starts_a_larger_model_from_a_smaller_ones_generator(tmp_path):
    """`--generator_init_dir`: a 64 px run starts from a 32 px run's generator (every weight
    carried over, the discriminators left as built); another architecture or no checkpoint is
    refused with the flag's name."""
    small = testing.tiny_run_config("", "", image_size=32)
    keras.utils.set_random_seed(1)
    source = build_mimnet(small, _VOCAB, log=lambda *_: None)
    _save_generator_dir(str(tmp_path / "small"), small, source)

    large = testing.tiny_run_config("", "", image_size=64)
    large = dataclasses.replace(large, model=dataclasses.replace(large.model, generator_init_dir=str(tmp_path / "small")))
    logged = []
    keras.utils.set_random_seed(2)
    model = build_mimnet(large, _VOCAB, log=logged.append)
    assert model.generator.config.image_size == 64
    for got, want in zip(model.generator.weights, source.generator.weights, strict=True):
        np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=got.path)
    assert any("Generator initialised from" in line and "ckpt-7" in line for line in logged), logged
    keras.utils.set_random_seed(2)
    fresh = build_mimnet(dataclasses.replace(large, model=dataclasses.replace(large.model, generator_init_dir="")),
                         _VOCAB, log=lambda *_: None)
    assert any(not np.array_equal(a.numpy(), b.numpy()) for a, b in zip(fresh.generator.weights, model.generator.weights))

    wider = dataclasses.replace(large, model=dataclasses.replace(large.model, base_channels=16))
    with pytest.raises(ValueError, match="generator_init_dir.*--base_channels: 8 there, 16 here"):
        build_mimnet(wider, _VOCAB, log=lambda *_: None)
    missing = dataclasses.replace(large, model=dataclasses.replace(large.model, generator_init_dir=str(tmp_path / "none")))
    with pytest.raises(FileNotFoundError, match="generator_init_dir=.*none"):
        build_mimnet(missing, _VOCAB, log=lambda *_: None)
    # A resumed run (its model directory has a checkpoint) does not read the init directory.
    _save_generator_dir(str(tmp_path / "resumed"), large, model)
    resumed = dataclasses.replace(missing, train=dataclasses.replace(missing.train, model_dir=str(tmp_path / "resumed")))
    logged = []
    build_mimnet(resumed, _VOCAB, log=logged.append)
    assert any("--generator_init_dir not read: resuming" in line for line in logged), logged


# ----------------------------------------------------------------------------- memory bank
def _memory_inputs(seed=0, text_dim=6):
    rng = np.random.default_rng(seed)
    words = rng.normal(size=(2, 5, text_dim)).astype("float32") * MASK[..., None]
    return words, MASK


@pytest.mark.parametrize("similarity", ["cosine", "dot"])
def test_memory_attention_and_texture_follow_eq_2_and_3(similarity):
    """Eq. 2: alpha_ji = softmax_i(sim(w_j, W_k m_i) / temperature), with cosine or dot similarity;
    Eq. 3: t_j = sum_i alpha_ji m_i. Rows of real words sum to 1 over the memories; pad rows and
    pad textures are zero."""
    keras.utils.set_random_seed(3)
    bank = MemoryBank(memory_size=4, memory_dim=7, text_dim=6, temperature=0.5, similarity=similarity)
    words, mask = _memory_inputs()
    out = bank(words, mask)
    memories, projection = (_np(w) for w in bank.get_weights())
    keys = memories @ projection
    w = _np(words)
    if similarity == "cosine":
        keys = keys / (np.linalg.norm(keys, axis=-1, keepdims=True) + 1e-6)
        w = w / (np.linalg.norm(w, axis=-1, keepdims=True) + 1e-6)
    alpha = _softmax(np.einsum("bld,nd->bln", w, keys) / 0.5) * mask[..., None]
    np.testing.assert_allclose(out["attention"], alpha, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out["texture"], alpha @ memories, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_np(out["attention"]).sum(-1), mask, atol=1e-5)
    np.testing.assert_array_equal(_np(out["texture"])[mask == 0], 0.0)
    assert tuple(out["texture"].shape) == (2, 5, 7)


def test_cosine_memory_attention_ignores_the_scale_of_the_words_and_dot_does_not():
    """The design's point of "cosine": logits stay within +-1/temperature whatever the word norms;
    the paper's "dot" sharpens as the words grow."""
    keras.utils.set_random_seed(4)
    words, mask = _memory_inputs()
    for similarity, scale_free in (("cosine", True), ("dot", False)):
        bank = MemoryBank(4, 7, 6, temperature=1.0, similarity=similarity)
        small = _np(bank(words, mask)["attention"])
        large = _np(bank(words * 10.0, mask)["attention"])
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
    memories = _np(bank.memories)
    np.testing.assert_allclose(out["texture"], (given * mask[..., None]) @ memories, rtol=1e-5, atol=1e-6)
    other_words = bank(words[::-1].copy() + 3.0, mask, attention=given)
    np.testing.assert_array_equal(other_words["texture"], out["texture"])


def test_memory_variables_finds_exactly_the_memory_by_name(generator):
    """`memory_variables(model)` returns the MemoryBank's two variables (memories, W_k) and nothing
    else; a generator without memory has none."""
    found = memory_variables(generator)
    assert {id(v) for v in found} == {id(generator.memory.memories), id(generator.memory.key_projection)}
    others = [v for v in generator.trainable_variables if id(v) not in {id(f) for f in found}]
    assert len(others) == len(generator.trainable_variables) - 2
    assert not any("memory_bank" in v.path for v in others)

    without = MIMNetGenerator(dataclasses.replace(generator.config, use_memory=False), name="generator")
    without.build()
    assert memory_variables(without) == []
    assert any("word_projection" in v.path for v in without.trainable_variables)


# ----------------------------------------------------------------------------- word attention, FIR
def test_masked_softmax_gives_pads_no_weight():
    """Pads get exactly 0 weight, the rest sum to 1; a row with no valid entry is all zeros."""
    logits = np.array([[1.0, 50.0, -2.0, 3.0], [5.0, 5.0, 5.0, 5.0]], "float32")
    mask = np.array([[1, 0, 1, 1], [0, 0, 0, 0]], "float32")
    weights = _np(masked_softmax(logits, mask))
    np.testing.assert_allclose(weights[0], _masked_softmax(_np(logits[:1]), mask[:1])[0], rtol=1e-6)
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
    wq, wk, wv = _np(layer.query.kernel), _np(layer.key.kernel), _np(layer.value.kernel)
    scores = np.einsum("bpc,blc->bpl", _np(features).reshape(2, 9, 5) @ wq, _np(words) @ wk) / 2.0
    beta = _masked_softmax(scores, MASK[:, None, :])
    np.testing.assert_allclose(weights, beta, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(_np(context).reshape(2, 9, 4), beta @ (_np(words) @ wv), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(_np(weights)[0, :, 3:], 0.0)
    np.testing.assert_array_equal(_np(weights)[1, :, 1:], 0.0)
    np.testing.assert_allclose(_np(weights).sum(-1), 1.0, rtol=1e-5)


def _fir_inputs():
    """FIR's inputs at S = 32: U (2, 16, 16, 24), textures (2, 5, 32), A (2, 8, 8, 1), skip (2, 32, 32, 8)."""
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(3)
    return (rng.normal(size=(2, 16, 16, 24)).astype("float32"), rng.normal(size=(2, 5, 32)).astype("float32"),
            rng.uniform(size=(2, 8, 8, 1)).astype("float32"), rng.normal(size=(2, 32, 32, 8)).astype("float32"))


def test_fir_shapes_and_its_word_attention_ignores_pads():
    """FIR (Eq. 10-11): the fine image at S in [-1, 1], attention (B, (S/2)^2, L) with zero weight
    on pads and rows summing to 1; what the pad textures hold does not change the image."""
    upsampled, texture, localisation, full = _fir_inputs()
    fir = FineRefinement(16, map_upsample=4, image_skips=True)
    out = fir(upsampled, texture, MASK, localisation, full)
    assert tuple(out["fine"].shape) == (2, 32, 32, 3)
    assert np.all(np.abs(_np(out["fine"])) <= 1.0)
    attention = _np(out["word_attention"])
    assert attention.shape == (2, 256, 5)
    np.testing.assert_array_equal(attention[MASK[:, None, :].repeat(256, 1) == 0], 0.0)
    np.testing.assert_allclose(attention.sum(-1), 1.0, rtol=1e-5)
    noisy = texture.copy()
    noisy[MASK == 0] = 100.0
    np.testing.assert_allclose(fir(upsampled, noisy, MASK, localisation, full)["fine"], out["fine"],
                               rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- TLU
def test_tlu_is_eq_9_in_0_1():
    """A = sigmoid(q(t) . F_c / sqrt(c) + b): one value per position, in [0, 1], checked in numpy."""
    keras.utils.set_random_seed(8)
    rng = np.random.default_rng(4)
    tlu = TargetLocalisationUnit(init_bias=0.3)
    texture_global = rng.normal(size=(2, 4)).astype("float32")
    coarse = rng.normal(size=(2, 3, 3, 4)).astype("float32")
    a = _np(tlu(texture_global, coarse))
    assert a.shape == (2, 3, 3, 1)
    assert np.all((a >= 0.0) & (a <= 1.0))
    query = _np(texture_global) @ _np(tlu.query.kernel)
    expected = _sigmoid(np.einsum("bc,bhwc->bhw", query, _np(coarse)) / 2.0 + 0.3)[..., None]
    np.testing.assert_allclose(a, expected, rtol=1e-5, atol=1e-6)
    assert a.std() > 1e-3  # the map varies over positions
    same, logits = tlu(texture_global, coarse, return_logits=True)  # the losses' view of A
    np.testing.assert_array_equal(same, a)
    np.testing.assert_allclose(_sigmoid(_np(logits)), a, rtol=1e-6, atol=1e-7)


def test_tlu_disabled_gives_ones():
    """use_tlu=False (the "w/o TLU" ablation): A = 1 everywhere, whatever the inputs."""
    rng = np.random.default_rng(5)
    tlu = TargetLocalisationUnit(enabled=False)
    a = tlu(rng.normal(size=(2, 4)).astype("float32"), rng.normal(size=(2, 3, 3, 4)).astype("float32"))
    assert tuple(a.shape) == (2, 3, 3, 1)
    np.testing.assert_array_equal(a, 1.0)
    ones, logits = tlu(rng.normal(size=(2, 4)).astype("float32"), rng.normal(size=(2, 3, 3, 4)).astype("float32"),
                       return_logits=True)
    np.testing.assert_array_equal(ones, 1.0)
    assert logits is None  # A = 1 has no finite logits; --swap_localisation requires --use_tlu


# ----------------------------------------------------------------------------- ICM
def _icm_inputs(seed=6):
    rng = np.random.default_rng(seed)
    image = rng.uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")
    texture = rng.normal(size=(2, 5, 32)).astype("float32") * MASK[..., None]
    boundary = rng.normal(size=(2, 8, 8, 32)).astype("float32")
    return image, texture, boundary


def test_icm_shapes_and_the_global_texture_of_eq_4():
    """ICM: coarse image at S/2 in [-1, 1], A at the feature size, U at S/2 (the UpBlock's width
    plus the gated skip's), and t = W_g mean_j(t_j) over real words (Eq. 4)."""
    keras.utils.set_random_seed(9)
    image, texture, boundary = _icm_inputs()
    levels = ImageEncoder(8, 4)(image)
    assert [tuple(x.shape) for x in levels] == [(2, 32, 32, 8), (2, 16, 16, 16), (2, 8, 8, 32)]
    icm = CoarseManipulation(32, upsample_levels=1, image_skips=True)
    out = icm(texture, MASK, levels, boundary)
    assert tuple(out["coarse"].shape) == (2, 16, 16, 3)
    assert np.all(np.abs(_np(out["coarse"])) <= 1.0)
    assert tuple(out["localisation_map"].shape) == (2, 8, 8, 1)
    assert tuple(out["manipulated_features"].shape) == (2, 8, 8, 32)
    assert tuple(out["upsampled"].shape) == (2, 16, 16, icm.output_channels + 16)
    kernel, bias = (_np(w) for w in icm.global_projection.get_weights())
    mean = (_np(texture) * MASK[..., None]).sum(1) / MASK.sum(1, keepdims=True)
    np.testing.assert_allclose(out["texture_global"], mean @ kernel + bias, rtol=1e-5, atol=1e-5)


def test_icm_fuses_by_the_tlu_map_eq_7():
    """Eq. 7, F = A F_c + (1 - A) F_I: with A = 1 (no TLU) the coarse image cannot depend on the
    image features (the gated skips are closed too); with the TLU it does."""
    keras.utils.set_random_seed(10)
    image, texture, boundary = _icm_inputs()
    levels = ImageEncoder(8, 4)(image)
    other = [x + 1.0 for x in levels]
    without = CoarseManipulation(32, 1, use_tlu=False, image_skips=True)
    np.testing.assert_array_equal(without(texture, MASK, levels, boundary)["localisation_map"], 1.0)
    assert "localisation_logits" not in without(texture, MASK, levels, boundary)
    np.testing.assert_allclose(without(texture, MASK, levels, boundary)["coarse"],
                               without(texture, MASK, other, boundary)["coarse"], atol=1e-6)
    with_tlu = CoarseManipulation(32, 1, use_tlu=True, image_skips=True)
    a = _np(with_tlu(texture, MASK, levels, boundary)["coarse"])
    b = _np(with_tlu(texture, MASK, other, boundary)["coarse"])
    assert np.max(np.abs(a - b)) > 1e-4


# ----------------------------------------------------------------------------- discriminator
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
    assert np.all(_np(out["log_conformity"]) <= 0.0) and np.all(_np(out["word_scores"]) <= 0.0)
    gamma = _np(out["word_importance"])
    np.testing.assert_array_equal(gamma[MASK == 0], 0.0)
    np.testing.assert_allclose(gamma.sum(-1), 1.0, rtol=1e-5)
    w = _np(words)
    mean = (w * MASK[..., None]).sum(1) / MASK.sum(1, keepdims=True)
    np.testing.assert_allclose(gamma, _masked_softmax(np.einsum("bld,bd->bl", w, mean) / np.sqrt(6), MASK),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out["log_conformity"], (gamma * _np(out["word_scores"])).sum(-1), rtol=1e-5)

    noisy = words.copy()
    noisy[MASK == 0] = 50.0
    again = disc(images, noisy, MASK)
    np.testing.assert_allclose(again["log_conformity"], out["log_conformity"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(again["word_importance"], out["word_importance"], rtol=1e-5, atol=1e-7)
    # The reality head does not read the text at all.
    np.testing.assert_array_equal(disc(images, words[::-1].copy(), MASK)["reality_logit"], out["reality_logit"])
    with pytest.raises(ValueError, match="num_downsamples"):
        TextAdaptiveDiscriminator(4, num_downsamples=2)


# ----------------------------------------------------------------------------- config round trips
def _round_trip(layer, call):
    """from_config(get_config()) rebuilds the layer; with the same weights it gives the same outputs."""
    outputs = _flatten(call(layer))
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    call(clone)
    clone.set_weights(layer.get_weights())
    for got, want in zip(_flatten(call(clone)), outputs):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    return clone


def test_every_mimnet_layer_survives_a_config_round_trip():
    """get_config -> from_config for every MIM-Net layer: same config, and the same outputs for
    the same weights (so saved Keras models and exports rebuild them exactly)."""
    keras.utils.set_random_seed(12)
    rng = np.random.default_rng(8)
    image, texture, boundary = _icm_inputs()
    words, _ = _memory_inputs()
    levels = ImageEncoder(8, 4)(image)
    features = rng.normal(size=(2, 4, 4, 8)).astype("float32")
    texture_global = rng.normal(size=(2, 8)).astype("float32")
    cases = [
        (TextEncoder(10, 6, 8, dropout=0.1, name="te"), lambda l: l(TOKENS)),
        (MemoryBank(4, 7, 6, temperature=0.2, similarity="dot"), lambda l: l(words, MASK)),
        (WordAttention(4), lambda l: l(features, words, MASK)),
        (TargetLocalisationUnit(init_bias=-1.0), lambda l: l(texture_global, features)),
        (ImageEncoder(8, 4), lambda l: l(image)),
        (ResBlock(6), lambda l: l(features)),
        (DownBlock(6), lambda l: l(features)),
        (UpBlock(6, residual=False), lambda l: l(features)),
        (ToImage(), lambda l: l(features)),
        (CoarseManipulation(32, 1, use_tlu=True, tlu_init_bias=0.5, num_residual_blocks=1, image_skips=True),
         lambda l: l(texture, MASK, levels, boundary)),
        (FineRefinement(16, 4, image_skips=True),
         lambda l: l(levels[1], texture, MASK, np.full((2, 8, 8, 1), 0.5, "float32"), levels[0])),
        (TextAdaptiveDiscriminator(4, 3), lambda l: l(image[:, :16, :16], words, MASK)),
    ]
    for layer, call in cases:
        _round_trip(layer, call)
    assert MemoryBank.from_config(MemoryBank(4, 7, 6).get_config()).name == "memory_bank"


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
    assert np.max(np.abs(_np(edited["fine"]) - _np(out["fine"]))) > 1e-5


def test_icm_word_attention_gives_a_text_context_beyond_the_global_texture():
    """With the global t zeroed, F_c still depends on the words only through the word attention."""
    rng = np.random.default_rng(3)
    boundary = keras.ops.convert_to_tensor(rng.normal(size=(1, 4, 4, 32)).astype("float32"))
    mask = keras.ops.ones((1, 3))
    texture_a = keras.ops.convert_to_tensor(rng.normal(size=(1, 3, 32)).astype("float32"))
    texture_b = keras.ops.convert_to_tensor(rng.normal(size=(1, 3, 32)).astype("float32"))
    outputs = {}
    for attend in (False, True):
        icm = CoarseManipulation(32, 1, image_skips=False, word_attention=attend)
        icm.localise(texture_a, mask, boundary)
        for weight in icm.global_projection.weights:  # t = W_g mean(t_j) = 0 for every text
            weight.assign(np.zeros(weight.shape, "float32"))
        localised = icm.localise(texture_a, mask, boundary)
        assert ("word_attention" in localised) == attend  # its weights, (1, 4 * 4, 3), when it has one
        if attend:
            assert tuple(localised["word_attention"].shape) == (1, 16, 3)
        a = localised["manipulated_features"]
        b = icm.localise(texture_b, mask, boundary)["manipulated_features"]
        outputs[attend] = float(np.abs(np.asarray(a) - np.asarray(b)).max())
        restored = CoarseManipulation.from_config(icm.get_config())
        assert (restored.word_attention is not None) == attend
    assert outputs[False] == 0.0
    assert outputs[True] > 1e-3


def test_texture_word_residual_adds_the_projected_words_to_the_memory_read(generator):
    """`texture_word_residual`: t_j = (Eq. 3 read) + P w_j at real words, 0 at pads; the memory
    attention is still Eq. 2's."""
    config = dataclasses.replace(generator.config, texture_word_residual=True)
    keras.utils.set_random_seed(1)
    residual = MIMNetGenerator(config, name="generator")
    residual.build()
    text = residual.encode_text(TOKENS)
    words, mask = _np(text["words"]), _np(text["mask"])
    out = residual.texture(text["words"], text["mask"])
    read = residual.memory(text["words"], text["mask"])
    kernel, bias = (_np(w) for w in residual.word_projection.weights)
    expected = _np(read["texture"]) + (words @ kernel + bias) * mask[:, :, None]
    np.testing.assert_allclose(_np(out["texture"]), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_np(out["attention"]), _np(read["attention"]), rtol=1e-6, atol=1e-6)
    assert np.all(_np(out["texture"])[mask == 0] == 0.0)
    assert any("word_projection" in v.path for v in residual.trainable_variables)
    assert MIMNetGenerator.from_config(residual.get_config()).config.texture_word_residual


def test_icm_query_features_join_the_boundary_features_as_the_word_attention_query():
    """`query_features` (the image features under --icm_query_image) change F_c only through the
    word attention's queries: same boundary and words, other query features -> other F_c."""
    rng = np.random.default_rng(4)
    boundary = keras.ops.convert_to_tensor(rng.normal(size=(1, 4, 4, 32)).astype("float32"))
    texture = keras.ops.convert_to_tensor(rng.normal(size=(1, 3, 32)).astype("float32"))
    mask = keras.ops.ones((1, 3))
    query_a, query_b = (keras.ops.convert_to_tensor(rng.normal(size=(1, 4, 4, 16)).astype("float32")) for _ in "ab")
    icm = CoarseManipulation(32, 1, image_skips=False, word_attention=True)
    a = icm.localise(texture, mask, boundary, query_features=query_a)
    assert tuple(icm.word_attention.query.kernel.shape) == (32 + 16, 32)
    b = icm.localise(texture, mask, boundary, query_features=query_b)
    assert float(np.abs(_np(a["manipulated_features"]) - _np(b["manipulated_features"])).max()) > 1e-4
    np.testing.assert_allclose(_np(a["texture_global"]), _np(b["texture_global"]))


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
        changes[query_image] = float(np.abs(_np(a) - _np(b)).max())
        assert MIMNetGenerator.from_config(g.get_config()).config.icm_query_image == query_image
    assert changes[False] < 1e-6
    assert changes[True] > 1e-5
