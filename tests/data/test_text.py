import numpy as np
import pytest
import tensorflow as tf

from mimnet_tf.data import text

CAPTIONS = [
    "this bird has a red crown, blue wings and a white belly",
    "A small bird with GREY wings and a short orange beak.",
    "  the bird is mostly yellow -- with black wings!!  ",
    "Über-blue café wings; 3 spots",
    "",
    "...",
    "word " * 40,
]


def _corpus(n=300, seed=0):
    rng = np.random.default_rng(seed)
    words = ["bird", "red", "Blue", "wings,", "belly.", "a", "the", "crown!", "zzz", "é", "x-y", "  ", "3"]
    return [" ".join(rng.choice(words, size=rng.integers(0, 25))) for _ in range(n)] + CAPTIONS


def test_split_words_follows_spec():
    assert text.split_words("A red-crowned bird, 2 wings!") == ["a", "red", "crowned", "bird", "2", "wings"]
    assert text.split_words("") == []
    assert text.split_words("Über") == ["ber"]  # non-ASCII separates, as in TF


def test_vocabulary_build_orders_by_frequency_and_round_trips(tmp_path):
    vocab = text.Vocabulary.build(["a red bird", "a blue bird", "a bird"])
    assert vocab.words[:5] == ["<pad>", "<unk>", "a", "bird", "blue"]
    path = vocab.save(str(tmp_path))
    assert text.Vocabulary.load(path).words == vocab.words


def test_encode_pads_truncates_and_marks_unknown():
    vocab = text.Vocabulary.build(["a red bird"])
    ids, unknown = vocab.encode("A RED parrot bird", max_words=6)
    assert ids.tolist() == [vocab.lookup("a"), vocab.lookup("red"), text.UNK_ID, vocab.lookup("bird"), 0, 0]
    assert unknown == ["parrot"]
    assert vocab.encode("a a a a", max_words=2)[0].tolist() == [2, 2]


@pytest.mark.parametrize("caption, message", [("", "empty"), ("?!", "empty"), ("parrot macaw", "parrot, macaw")])
def test_encode_checked_names_the_problem(caption, message):
    vocab = text.Vocabulary.build(["a red bird"])
    with pytest.raises(text.CaptionError, match=message):
        vocab.encode_checked(caption, max_words=5)


def test_missing_vocabulary_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="vocab.txt"):
        text.Vocabulary.load(str(tmp_path / "vocab.txt"))


@pytest.mark.parametrize("max_words", [5, 18])
def test_python_core_tf_and_tf_text_give_identical_ids(tmp_path, max_words):
    corpus = _corpus()
    vocab = text.Vocabulary.build(corpus[:200])
    path = vocab.save(str(tmp_path))
    table = text.lookup_table(path)
    expected = np.stack([vocab.encode(c, max_words)[0] for c in corpus])
    core = text.tokenize_tf(tf.constant(corpus), table, max_words, splitter="core").numpy()
    tf_text = text.tokenize_tf(tf.constant(corpus), table, max_words, splitter="tf_text").numpy()
    assert core.dtype == np.int32 and core.shape == (len(corpus), max_words)
    np.testing.assert_array_equal(core, expected)
    np.testing.assert_array_equal(tf_text, expected)
