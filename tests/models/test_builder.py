"""The builder: word vectors from fastText / GloVe files into the text encoder's embedding, and
--generator_init_dir (a larger run started from a smaller run's generator)."""
import dataclasses
import os

import keras
import numpy as np
import pytest

from mimnet_tf import testing
from mimnet_tf.data.text import Vocabulary
from mimnet_tf.models.builder import build_mimnet, load_word_vectors

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
