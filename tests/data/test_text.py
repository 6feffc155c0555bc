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


def fuzzed_words(vocab, count=600, seed=0):
    """Unknown words of every kind: one and two edits from vocabulary words, short ones, noise."""
    rng = np.random.default_rng(seed)
    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    words = []
    real = [w for w in vocab.words[2:]]
    for i in range(count):
        word = list(str(rng.choice(real)))
        for _ in range(int(rng.choice([1, 1, 2, 3]))):
            kind, at = int(rng.integers(3)), int(rng.integers(len(word) + 1))
            if kind == 0 and len(word) > 1 and at < len(word):
                del word[at]
            elif kind == 1:
                word.insert(at, letters[int(rng.integers(len(letters)))])
            elif at < len(word):
                word[at] = letters[int(rng.integers(len(letters)))]
        words.append("".join(word))
    words += ["".join(rng.choice(list(letters), size=int(rng.integers(1, 9)))) for _ in range(count // 4)]
    return [w for w in dict.fromkeys(words) if w and w not in vocab]


@pytest.fixture(scope="module")
def caption_vocab(tmp_path_factory):
    """A vocabulary like the SynthBirds recipe's, built from training captions."""
    from mimnet_tf.data.synthbirds.captions import captions_for
    from mimnet_tf.data.synthbirds.render import sample_scene

    vocab = text.Vocabulary.build(c for i in range(200) for c in captions_for(sample_scene(0, "train", i)))
    return vocab, vocab.save(str(tmp_path_factory.mktemp("vocab")))


def test_typo_correction_rules(caption_vocab):
    vocab, _ = caption_vocab
    assert vocab.correct("bleu") is None  # a swap of two letters is two edits: too many for 4 letters
    assert vocab.correct("blu") == "blue" and vocab.correct("yelow") == "yellow"
    assert vocab.correct("purpel") == "purple"  # 6 letters may be two edits away
    assert vocab.correct("blue") is None  # known words are not corrected
    assert vocab.correct("rd") is None  # too short to tell
    reading = vocab.read("Make the wngs blu, please!", 8)
    assert reading.corrections == (("wngs", "wings"), ("blu", "blue")) and reading.unknown == ("please",)
    assert reading.ids.tolist()[:5] == [vocab.lookup(w) for w in ("make", "the", "wings", "blue")] + [text.UNK_ID]
    assert reading.describe() == "read 'wngs' as 'wings', 'blu' as 'blue'; unknown words (ignored): please"
    assert vocab.read("the wings", 4).describe() == ""


def test_python_and_tensorflow_correct_typos_alike(caption_vocab):
    vocab, path = caption_vocab
    words = fuzzed_words(vocab)
    table = text.lookup_table(path)
    ids, corrected = text.correct_tf(tf.constant(words), table)
    expected = [vocab.correct(w) for w in words]
    assert [c.decode() or None for c in corrected.numpy()] == expected
    assert ids.numpy().tolist() == [vocab.lookup(e) if e else text.UNK_ID for e in expected]
    assert sum(e is not None for e in expected) > 100 and sum(e is None for e in expected) > 100
    # whole captions: ids and the report
    captions = [" ".join(words[i:i + 5]) + " red wings" for i in range(0, 200, 5)] + ["", "zzzz qq"]
    tf_ids, tf_corrections, tf_unknown = text.read_tf(tf.constant(captions), table, 6)
    for caption, got_ids, got_corrections, got_unknown in zip(captions, tf_ids.numpy(), tf_corrections.numpy(),
                                                              tf_unknown.numpy()):
        reading = vocab.read(caption, 6)
        assert got_ids.tolist() == reading.ids.tolist(), caption
        assert got_corrections.decode() == " ".join(f"{a}>{b}" for a, b in reading.corrections)
        assert got_unknown.decode() == " ".join(reading.unknown)
