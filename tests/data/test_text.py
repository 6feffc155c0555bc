import itertools

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


_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"


def _swap(word: list, at: int) -> list:
    return word[:at] + word[at + 1:at + 2] + word[at:at + 1] + word[at + 2:]


def fuzzed_words(vocab, count=600, seed=0):
    """Unknown words of every kind: one and two edits from vocabulary words (insertions, deletions,
    substitutions, swaps of two adjacent letters, mixed), short ones, noise; and, for each
    vocabulary word, one swap, a swap and one more edit, two swaps, and a swap of the last letter
    over the two before it ("yellow" -> "yelwl"), which is two edits only if a letter may be
    edited twice."""
    rng = np.random.default_rng(seed)
    words = []
    real = [w for w in vocab.words[2:]]
    for i in range(count):
        word = list(str(rng.choice(real)))
        for _ in range(int(rng.choice([1, 1, 2, 3]))):
            kind, at = int(rng.integers(4)), int(rng.integers(len(word) + 1))
            if kind == 0 and len(word) > 1 and at < len(word):
                del word[at]
            elif kind == 1:
                word.insert(at, _LETTERS[int(rng.integers(len(_LETTERS)))])
            elif kind == 2 and at < len(word):
                word[at] = _LETTERS[int(rng.integers(len(_LETTERS)))]
            elif kind == 3 and at < len(word) - 1:
                word = _swap(word, at)
        words.append("".join(word))
    for word in real:
        if len(word) < 3:
            continue
        at = int(rng.integers(len(word) - 1))
        swapped = _swap(list(word), at)
        other = int(rng.choice([i for i in range(len(word)) if i not in (at, at + 1)]))
        words.append("".join(swapped))
        words.append("".join(swapped[:other] + [_LETTERS[int(rng.integers(26))]] + swapped[other + 1:]))
        words.append("".join(swapped[:other] + swapped[other + 1:]))
        words.append("".join(_swap(_swap(list(word), 0), len(word) - 2)))
        words.append(word[:-3] + word[-1] + word[-3])
    words += ["".join(rng.choice(list(_LETTERS), size=int(rng.integers(1, 9)))) for _ in range(count // 4)]
    return [w for w in dict.fromkeys(words) if w and w not in vocab]


def one_edit_away(word: str) -> set:
    """Every word one insertion, deletion, substitution or swap of two adjacent letters from
    `word`, enumerated (not by the dynamic programme under test)."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return ({a + b[1:] for a, b in splits if b} | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
            | {a + c + b[1:] for a, b in splits if b for c in _LETTERS} | {a + c + b for a, b in splits for c in _LETTERS})


UNDECIDED = "(not decided by one edit)"


def one_edit_correction(vocab, word: str):
    """What the spec reads an unknown `word` as, where one edit decides it: the lowest-id
    vocabulary word one edit away (nothing is nearer), else None for a word of fewer than
    CORRECTION_TWO_EDITS_LENGTH letters (one edit is its limit), else UNDECIDED."""
    if len(word) < text.CORRECTION_MIN_LENGTH:
        return None
    near = one_edit_away(word)
    for candidate in vocab.words[text.UNK_ID + 1:]:
        if len(candidate) >= text.CORRECTION_MIN_LENGTH and candidate in near:
            return candidate
    return None if len(word) < text.CORRECTION_TWO_EDITS_LENGTH else UNDECIDED


def assert_one_edit_corrections(vocab, words, corrections):
    """`corrections` (None: left unknown) are the spec's wherever one edit decides it, and some
    words are read through a swap (they stay unknown when a swap counts two edits)."""
    reference = [one_edit_correction(vocab, w) for w in words]
    wrong = [(w, r, c) for w, r, c in zip(words, reference, corrections) if r != UNDECIDED and r != c]
    assert not wrong, wrong[:10]
    swapped = [w for w, c in zip(words, corrections) if c and len(w) == len(c) and sorted(w) == sorted(c)
               and sum(a != b for a, b in zip(w, c)) == 2 and len(w) < text.CORRECTION_TWO_EDITS_LENGTH]
    assert len(swapped) > 20, swapped


@pytest.fixture(scope="module")
def caption_vocab(tmp_path_factory):
    """A vocabulary like the SynthBirds recipe's, built from training captions."""
    from mimnet_tf.data.synthbirds.captions import captions_for
    from mimnet_tf.data.synthbirds.render import sample_scene

    vocab = text.Vocabulary.build(c for i in range(200) for c in captions_for(sample_scene(0, "train", i)))
    return vocab, vocab.save(str(tmp_path_factory.mktemp("vocab")))


def test_edit_distance_counts_a_swap_of_two_adjacent_letters_as_one_edit():
    assert text.edit_distance("bleu", "blue") == 1 and text.edit_distance("purpel", "purple") == 1
    assert text.edit_distance("oarnhe", "orange") == 2  # a swap and a substitution
    assert text.edit_distance("lbeu", "blue") == 2  # two swaps
    assert text.edit_distance("kitten", "sitting") == 3 and text.edit_distance("", "red") == 3
    # Optimal string alignment: a swapped pair takes no further edit (Damerau-Levenshtein says 2).
    assert text.edit_distance("ca", "abc") == 3 and text.edit_distance("abc", "ca") == 3
    assert text.edit_distance("yelwl", "yellow") == 3
    assert text.edit_distance("aa", "aa") == 0 and text.edit_distance("ab", "ba") == 1


def test_capped_distances_tf_are_edit_distance_for_every_short_word():
    """The SavedModel's dynamic programme against Python's on every word of up to 5 letters of a
    3-letter alphabet (where swaps, repeats and near-ties abound), longer noise, and the cap."""
    rng = np.random.default_rng(1)
    vocabulary = ["<pad>", "<unk>"] + sorted({"".join(rng.choice(list("abc"), size=int(rng.integers(1, 8))))
                                              for _ in range(80)})
    words = ["".join(p) for size in range(6) for p in itertools.product("abc", repeat=size)]
    words += ["".join(rng.choice(list("abcd"), size=int(rng.integers(6, 14)))) for _ in range(50)]
    distances = tf.function(text.capped_distances_tf, autograph=False)  # a graph, as in the SavedModel
    got = distances(tf.constant(words), tf.constant(vocabulary), 3).numpy()
    expected = [[min(text.edit_distance(w, c), 3) for c in vocabulary] for w in words]
    np.testing.assert_array_equal(got, expected)


def test_typo_correction_rules(caption_vocab):
    vocab, _ = caption_vocab
    assert vocab.correct("bleu") == "blue"  # a swap of two adjacent letters is one edit
    assert vocab.correct("lbeu") is None  # two swaps: too many for 4 letters
    assert vocab.correct("blu") == "blue" and vocab.correct("yelow") == "yellow"
    assert vocab.correct("purpel") == "purple" and vocab.correct("oarnhe") == "orange"  # 6 letters: two edits
    assert vocab.correct("yleloq") == "yellow"  # a swap and a substitution
    assert vocab.correct("bhiet") is None  # "white": a swap and a substitution are too many for 5 letters
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
    assert_one_edit_corrections(vocab, words, expected)
    assert [c.decode() or None for c in corrected.numpy()] == expected
    assert ids.numpy().tolist() == [vocab.lookup(e) if e else text.UNK_ID for e in expected]
    assert sum(e is not None for e in expected) > 100 and sum(e is None for e in expected) > 100
    # nothing to correct, and no word at all
    known_ids, known_corrections = text.correct_tf(tf.constant(["red", "wings", "a"]), table)
    assert known_ids.numpy().tolist() == [vocab.lookup(w) for w in ("red", "wings", "a")]
    assert known_corrections.numpy().tolist() == [b"", b"", b""]
    assert text.correct_tf(tf.constant([], tf.string), table)[0].shape == (0,)
    # whole captions: ids and the report
    captions = [" ".join(words[i:i + 5]) + " red wings" for i in range(0, 200, 5)] + ["", "zzzz qq"]
    tf_ids, tf_corrections, tf_unknown = text.read_tf(tf.constant(captions), table, 6)
    for caption, got_ids, got_corrections, got_unknown in zip(captions, tf_ids.numpy(), tf_corrections.numpy(),
                                                              tf_unknown.numpy()):
        reading = vocab.read(caption, 6)
        assert got_ids.tolist() == reading.ids.tolist(), caption
        assert got_corrections.decode() == " ".join(f"{a}>{b}" for a, b in reading.corrections)
        assert got_unknown.decode() == " ".join(reading.unknown)
