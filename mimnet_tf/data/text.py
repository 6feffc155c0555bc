"""The one tokenization spec of the project, and its vocabulary file.

Spec: ASCII lower-case; every run of characters other than `a-z` and `0-9` (punctuation, white
space, non-ASCII) separates words and is dropped; the first `max_words` words are kept; ids come
from the vocabulary file (line number = id; line 0 is `<pad>`, line 1 is `<unk>`); the sequence
is right-padded with `<pad>` (id 0).

A word not in the vocabulary is corrected to the nearest vocabulary word when it is a likely
typo: at least CORRECTION_MIN_LENGTH characters long and within `max_correction_distance(len)`
edits of a vocabulary word of at least CORRECTION_MIN_LENGTH characters, an edit being an
insertion, a deletion, a substitution or a swap of two adjacent letters ("bleu" is one edit from
"blue"), each letter edited at most once (optimal string alignment, `edit_distance`); the
nearest wins, ties go to the lowest id (the vocabulary is ordered by frequency, so the commonest
word). Any other unknown word is `<unk>` (id 1). Callers report both: the words corrected
(typed -> read as) and the words left unknown.

The same spec is implemented four times, and tests prove they give identical ids:
- `Vocabulary.read` / `Vocabulary.encode`: plain Python (the CLI, the Python API, the TFLite runner);
- `tokenize_tf`: core TF ops (`tf.strings`, `StaticHashTable`, a `tf.while_loop`), used by the
  SavedModel so a stock TF Serving binary loads it (`read_tf` also returns the report);
- `tokenize_tf(..., splitter="tf_text")`: the same lookup after `tensorflow_text.regex_split`,
  used in the training pipeline (training captions are all in the vocabulary: nothing to correct);
- the Android app's `Tokenizer.kt` with `Correction.java` (serving/android).
"""
from __future__ import annotations

import collections
import dataclasses
import os
import re
from typing import Iterable, Sequence

import numpy as np

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1
VOCAB_FILENAME = "vocab.txt"
SEPARATOR_PATTERN = "[^a-z0-9]+"
_SEPARATOR_BYTES = re.compile(rb"[^a-z0-9]+")
# Typo correction: words this short are never corrected nor corrected to ("a", "is", "to", ...).
CORRECTION_MIN_LENGTH = 3
# Words of at least this many characters may be two edits away ("purpel" -> "purple" is one).
CORRECTION_TWO_EDITS_LENGTH = 6


def max_correction_distance(length: int) -> int:
    """How many edits a typed word of `length` characters may be from the word it is read as."""
    if length < CORRECTION_MIN_LENGTH:
        return 0
    return 2 if length >= CORRECTION_TWO_EDITS_LENGTH else 1


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (restricted Damerau-Levenshtein): the fewest insertions,
    deletions, substitutions and swaps of two adjacent letters turning `a` into `b`, no letter
    edited twice ("ca" -> "abc" is 3, not 2: the swapped "ac" cannot take a "b" between)."""
    before, previous = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i]
        for j in range(1, len(b) + 1):
            distance = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                distance = min(distance, before[j - 2] + 1)  # the swap of a[i-2:i]
            current.append(distance)
        before, previous = previous, current
    return previous[-1]


@dataclasses.dataclass(frozen=True)
class Reading:
    """How a caption was read: its ids, the words corrected and the words left unknown.

    Attributes:
        ids: int32 [max_words].
        corrections: (typed word, vocabulary word it was read as), in caption order.
        unknown: words neither in the vocabulary nor corrected (read as `<unk>`), in caption order.
    """

    ids: np.ndarray
    corrections: tuple[tuple[str, str], ...]
    unknown: tuple[str, ...]

    def describe(self) -> str:
        """One line for a user: "read 'bleu' as 'blue'; unknown: prettier" ("" when all known)."""
        parts = []
        if self.corrections:
            parts.append("read " + ", ".join(f"{typed!r} as {word!r}" for typed, word in self.corrections))
        if self.unknown:
            parts.append("unknown words (ignored): " + ", ".join(self.unknown))
        return "; ".join(parts)


class CaptionError(ValueError):
    """A caption the model cannot use: empty, or made only of unknown words."""


def split_words(caption: str) -> list[str]:
    """Splits a caption into words by the spec (ASCII lower-case, non-alphanumerics separate)."""
    lowered = caption.encode("utf-8").lower()  # bytes.lower() touches ASCII only, as TF does
    return [w.decode("ascii") for w in _SEPARATOR_BYTES.split(lowered) if w]


class Vocabulary:
    """Word <-> id mapping stored as a plain text file, one word per line.

    Args:
        words: the words, in id order; must start with `<pad>`, `<unk>`.

    Example:
        >>> vocab = Vocabulary.build(["a red bird", "a blue bird"])
        >>> vocab.encode("A red bird!", max_words=5)[0].tolist()
        [2, 4, 3, 0, 0]
    """

    def __init__(self, words: Sequence[str]):
        words = list(words)
        if words[:2] != [PAD, UNK]:
            raise ValueError(f"A vocabulary starts with {PAD!r}, {UNK!r}; got {words[:2]!r}")
        if len(set(words)) != len(words):
            raise ValueError("A vocabulary has each word once; found duplicates")
        self.words = words
        self._ids = {w: i for i, w in enumerate(words)}

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self._ids

    @classmethod
    def build(cls, captions: Iterable[str], min_count: int = 1, max_size: int = 0) -> "Vocabulary":
        """Builds a vocabulary from training captions: by frequency, ties broken alphabetically."""
        counts = collections.Counter(w for c in captions for w in split_words(c))
        ranked = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        if max_size:
            ranked = ranked[: max(0, max_size - 2)]
        return cls([PAD, UNK] + ranked)

    @classmethod
    def load(cls, path: str) -> "Vocabulary":
        if os.path.isdir(path):
            path = os.path.join(path, VOCAB_FILENAME)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"Vocabulary file not found: {path}. It is written by `python -m mimnet_tf.data.prepare` "
                f"(as {VOCAB_FILENAME} beside the TFRecords) and copied beside checkpoints and exports."
            )
        with open(path, encoding="utf-8") as f:
            return cls([line.rstrip("\n") for line in f])

    def save(self, path: str) -> str:
        if os.path.isdir(path):
            path = os.path.join(path, VOCAB_FILENAME)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(self.words) + "\n")
        return path

    def lookup(self, word: str) -> int:
        return self._ids.get(word, UNK_ID)

    def correct(self, word: str) -> str | None:
        """The vocabulary word an unknown `word` is read as (the spec above), or None."""
        limit = max_correction_distance(len(word))
        if not limit or word in self._ids:
            return None
        best, best_distance = None, limit + 1
        for candidate in self.words[UNK_ID + 1:]:  # in id order: the first at a distance wins ties
            if len(candidate) < CORRECTION_MIN_LENGTH or abs(len(candidate) - len(word)) >= best_distance:
                continue
            distance = edit_distance(word, candidate)
            if distance < best_distance:
                best, best_distance = candidate, distance
        return best

    def read(self, caption: str, max_words: int) -> Reading:
        """The ids of `caption` (typos corrected) and what was corrected or left unknown."""
        words = split_words(caption)[:max_words]
        ids = np.full((max_words,), PAD_ID, dtype=np.int32)
        corrections, unknown = [], []
        for i, word in enumerate(words):
            if word in self._ids:
                ids[i] = self._ids[word]
                continue
            corrected = self.correct(word)
            if corrected is None:
                ids[i] = UNK_ID
                unknown.append(word)
            else:
                ids[i] = self._ids[corrected]
                corrections.append((word, corrected))
        return Reading(ids, tuple(corrections), tuple(unknown))

    def encode(self, caption: str, max_words: int) -> tuple[np.ndarray, list[str]]:
        """Returns (ids int32 [max_words], the words left unknown): `read` without the corrections."""
        reading = self.read(caption, max_words)
        return reading.ids, list(reading.unknown)

    def encode_checked(self, caption: str, max_words: int) -> np.ndarray:
        """Like `encode`, but raises CaptionError for an empty or all-unknown caption."""
        ids, unknown = self.encode(caption, max_words)
        check_caption(caption, ids, unknown)
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self.words[int(i)] for i in ids if int(i) != PAD_ID)


def check_caption(caption: str, ids: np.ndarray, unknown: Sequence[str]) -> None:
    """Raises CaptionError naming the problem when a caption carries no known word."""
    if not np.any(ids != PAD_ID):
        raise CaptionError(f"The caption {caption!r} is empty: it has no word made of letters or digits.")
    if not np.any(ids > UNK_ID):
        raise CaptionError(
            f"The caption {caption!r} has only words the model does not know: {', '.join(unknown)}. "
            "Use words from the vocabulary file shipped beside the model."
        )


def lookup_table(vocab_path: str):
    """A StaticHashTable word -> id (int64) read from the vocabulary file (an asset in exports)."""
    import tensorflow as tf

    initializer = tf.lookup.TextFileInitializer(
        vocab_path,
        key_dtype=tf.string,
        key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
        value_dtype=tf.int64,
        value_index=tf.lookup.TextFileIndex.LINE_NUMBER,
    )
    return tf.lookup.StaticHashTable(initializer, default_value=UNK_ID)


def split_tf(captions, max_words: int, splitter: str = "core"):
    """string (batch,) -> ragged string (batch, <= max_words) words by the spec.

    splitter: "core" (tf.strings only, for SavedModels) or "tf_text" (tensorflow-text)."""
    import tensorflow as tf

    lowered = tf.strings.lower(captions)  # ASCII only, like bytes.lower()
    if splitter == "tf_text":
        import tensorflow_text as tf_text

        words = tf_text.regex_split(lowered, delim_regex_pattern=SEPARATOR_PATTERN)
    elif splitter == "core":
        spaced = tf.strings.regex_replace(lowered, SEPARATOR_PATTERN, " ")
        words = tf.strings.split(tf.strings.strip(spaced))
    else:
        raise ValueError(f"splitter={splitter!r}: expected 'core' or 'tf_text'")
    return words[:, :max_words]


def tokenize_tf(captions, table, max_words: int, splitter: str = "core"):
    """Tokenizes a batch of captions with TF ops (typos corrected): string [B] -> int32 [B, max_words].

    Args:
        captions: string tensor of shape (batch,).
        table: the lookup table from `lookup_table`.
        max_words: the fixed sequence length.
        splitter: "core" (tf.strings only, for SavedModels) or "tf_text" (tensorflow-text).
    """
    return padded_ids_tf(word_ids_tf(captions, table, max_words, splitter), max_words)


def word_ids_tf(captions, table, max_words: int, splitter: str = "core"):
    """string (batch,) -> ragged int64 ids (batch, <= max_words), typos corrected (`tokenize_tf`
    before padding, for a pipeline that changes the words first)."""
    words = split_tf(captions, max_words, splitter)
    return words.with_flat_values(correct_tf(words.flat_values, table)[0])


def padded_ids_tf(ids, max_words: int):
    """Ragged ids (batch, <= max_words) -> int32 (batch, max_words), padded with PAD_ID."""
    import tensorflow as tf

    return tf.cast(ids.to_tensor(default_value=PAD_ID, shape=[None, max_words]), tf.int32)


def vocabulary_tf(table):
    """The table's words in id order, string (vocab_size,): what corrections are chosen from."""
    import tensorflow as tf

    keys, values = table.export()
    return tf.gather(keys, tf.argsort(values))


def capped_distances_tf(typed, vocabulary, cap: int):
    """`edit_distance` of every pair with core TF ops, counted up to `cap`: string (n,) typed
    words, string (v,) vocabulary -> int32 (n, v), min(edit_distance(typed[i], vocabulary[k]), cap).

    The dynamic programme of `edit_distance`, one typed letter (one row) per `tf.while_loop`
    step, every pair at once. Only its band of diagonals |j - i| < cap can stay under the cap, so
    a row holds those 2 * cap - 1 cells (`band[..., d]` is column j = i + d - (cap - 1)), and a
    row's insertions, a running minimum along it, are the minimum of the row shifted by
    0 .. cap - 1 places: no inner loop. Typed letters past the longest vocabulary word + cap are
    dropped first: such a word is at least `cap` from every vocabulary word by length alone."""
    import tensorflow as tf

    # A table's export has no static rank in a graph; the ragged ops below need one.
    typed, vocabulary = tf.reshape(typed, [-1]), tf.reshape(vocabulary, [-1])
    vocabulary_lengths = tf.strings.length(vocabulary)
    typed_lengths = tf.strings.length(typed)
    typed = tf.strings.substr(typed, 0, tf.reduce_max(vocabulary_lengths) + cap)
    rows = tf.strings.bytes_split(typed).to_tensor("")  # (n, typed letters)
    # Vocabulary letter j (1-based) at [:, j - 1 + cap]; "" (never a typed letter) around it.
    letters = tf.pad(tf.strings.bytes_split(vocabulary).to_tensor(""), [[0, 0], [cap, 2 * cap]])
    n, v, diagonals = tf.shape(rows)[0], tf.shape(vocabulary)[0], 2 * cap - 1
    offsets = tf.range(diagonals) - (cap - 1)  # j - i of each band cell

    def shifted(band, places: int, fill):  # band[..., d - places] (places < 0: from the right)
        pad = tf.fill(tf.stack([n, v, abs(places)]), fill)
        if places > 0:
            return tf.concat([pad, band[..., :-places]], axis=2)
        return tf.concat([band[..., -places:], pad], axis=2)

    def at(band, row):  # band[..., j - row + cap - 1] at j = each vocabulary word's length: (n, v)
        return tf.reduce_sum(tf.where(tf.equal(offsets[None, :], (vocabulary_lengths - row)[:, None])[None],
                                      band, 0), axis=2)

    def step(i, before, previous, previous_same, distances):
        row = i + 1  # the row of typed letter `i` (0-based): the DP's rows start at the empty prefix
        band_letters = tf.slice(letters, tf.stack([0, row]), [-1, diagonals])  # b[j] of each band cell
        same = tf.equal(rows[:, i, None, None], band_letters[None])  # typed[i] == b[j]
        substituted = previous + 1 - tf.cast(same, tf.int32)  # from (row - 1, j - 1): the same diagonal
        deleted = shifted(previous, -1, cap) + 1  # from (row - 1, j): the next diagonal
        # typed[i-1:i+1] == b[j-1:j+1] reversed (b[j-1] is this row's previous diagonal, b[j] the
        # previous row's next one): the swap costs 1 from (row - 2, j - 2), the same diagonal.
        swappable = tf.logical_and(shifted(same, 1, False), shifted(previous_same, -1, False))
        current = tf.minimum(tf.minimum(substituted, deleted), tf.where(swappable, before + 1, cap))
        inserted = current
        for places in range(1, cap):  # letters inserted before column j
            inserted = tf.minimum(inserted, shifted(current, places, cap) + places)
        outside = (row + offsets < 0)[None, None, :]  # columns j < 0
        current = tf.where(outside, cap, tf.minimum(inserted, cap))
        distances = tf.where(tf.equal(typed_lengths, row)[:, None], at(current, row), distances)
        return i + 1, previous, current, same, distances

    first = tf.broadcast_to(tf.where(offsets < 0, cap, tf.minimum(offsets, cap)), tf.stack([n, v, diagonals]))
    distances = tf.where(tf.equal(typed_lengths, 0)[:, None], at(first, 0), cap)
    loop = (tf.constant(0), first, first, tf.zeros(tf.stack([n, v, diagonals]), tf.bool), distances)
    band = tf.TensorShape([None, None, diagonals])
    *_, distances = tf.while_loop(lambda i, *_: i < tf.shape(rows)[1], step, loop,
                                  shape_invariants=(tf.TensorShape([]), band, band, band, tf.TensorShape([None, None])))
    far = tf.abs(typed_lengths[:, None] - vocabulary_lengths[None, :]) >= cap
    return tf.where(far, cap, distances)


def correct_tf(words, table, vocabulary=None):
    """The spec's typo correction with core TF ops: string (n,) words -> int64 (n,) ids and string
    (n,) corrected-to words ("" where a word is known or left unknown).

    Every unknown word of at least CORRECTION_MIN_LENGTH characters is compared with every
    vocabulary word by `capped_distances_tf` (`edit_distance`, counted up to one more than the
    largest limit); the nearest within `max_correction_distance` wins, the lowest id on ties
    (argmin takes the first)."""
    import tensorflow as tf

    vocabulary = vocabulary_tf(table) if vocabulary is None else vocabulary
    ids = table.lookup(words)
    lengths = tf.strings.length(words)
    candidates = tf.where(tf.logical_and(tf.equal(ids, UNK_ID), lengths >= CORRECTION_MIN_LENGTH))[:, 0]
    cap = max_correction_distance(CORRECTION_TWO_EDITS_LENGTH) + 1
    distances = capped_distances_tf(tf.gather(words, candidates), vocabulary, cap)
    v = tf.size(vocabulary)
    usable = tf.logical_and(tf.strings.length(vocabulary) >= CORRECTION_MIN_LENGTH, tf.range(v) > UNK_ID)
    distances = tf.where(usable[None, :], distances, cap)
    best = tf.argmin(distances, axis=1, output_type=tf.int32)
    best_distance = tf.reduce_min(distances, axis=1)
    typed_lengths = tf.gather(lengths, candidates)
    limit = tf.where(typed_lengths >= CORRECTION_TWO_EDITS_LENGTH, 2, 1)
    accepted = best_distance <= limit
    corrected_ids = tf.where(accepted, tf.cast(best, tf.int64), UNK_ID)
    corrected_words = tf.where(accepted, tf.gather(vocabulary, best), "")
    shape = tf.shape(words, out_type=tf.int64)
    ids = tf.tensor_scatter_nd_update(ids, candidates[:, None], corrected_ids)
    corrections = tf.tensor_scatter_nd_update(tf.fill(tf.cast(shape, tf.int32), ""), candidates[:, None],
                                              corrected_words)
    return ids, corrections


def read_tf(captions, table, max_words: int):
    """`Vocabulary.read` for a batch with core TF ops: string (batch,) ->
    (ids int32 (batch, max_words), corrections string (batch,): "typed>word" pairs joined by
    spaces, unknown string (batch,): the words left unknown joined by spaces)."""
    import tensorflow as tf

    words = split_tf(captions, max_words, "core")
    typed = words.flat_values
    ids, corrected = correct_tf(typed, table)
    pairs = tf.where(tf.strings.length(corrected) > 0, tf.strings.join([typed, corrected], ">"), "")
    unknown = tf.where(tf.equal(ids, UNK_ID), typed, "")

    def spaced(values):
        joined = tf.strings.reduce_join(words.with_flat_values(values), axis=1, separator=" ")
        return tf.strings.strip(tf.strings.regex_replace(joined, " +", " "))

    return padded_ids_tf(words.with_flat_values(ids), max_words), spaced(pairs), spaced(unknown)
