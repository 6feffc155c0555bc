"""The one tokenization spec of the project, and its vocabulary file.

Spec: ASCII lower-case; every run of characters other than `a-z` and `0-9` (punctuation, white
space, non-ASCII) separates words and is dropped; the first `max_words` words are kept; ids come
from the vocabulary file (line number = id; line 0 is `<pad>`, line 1 is `<unk>`); a word not in
the vocabulary is `<unk>` (id 1); the sequence is right-padded with `<pad>` (id 0).

The same spec is implemented three times, and tests prove they give identical ids:
- `encode` / `Vocabulary.encode`: plain Python, what an app does (see serving/android);
- `tokenize_tf`: core TF ops (`tf.strings`, `StaticHashTable`), used by the SavedModel so a
  stock TF Serving binary loads it;
- `tokenize_tf(..., splitter="tf_text")`: the same lookup after `tensorflow_text.regex_split`,
  used in the training pipeline.
"""
from __future__ import annotations

import collections
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

    def encode(self, caption: str, max_words: int) -> tuple[np.ndarray, list[str]]:
        """Returns (ids int32 [max_words], the unknown words among the kept words)."""
        words = split_words(caption)[:max_words]
        ids = np.full((max_words,), PAD_ID, dtype=np.int32)
        for i, word in enumerate(words):
            ids[i] = self.lookup(word)
        unknown = [w for w in words if w not in self._ids]
        return ids, unknown

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


def tokenize_tf(captions, table, max_words: int, splitter: str = "core"):
    """Tokenizes a batch of captions with TF ops: string [B] -> int32 [B, max_words].

    Args:
        captions: string tensor of shape (batch,).
        table: the lookup table from `lookup_table`.
        max_words: the fixed sequence length.
        splitter: "core" (tf.strings only, for SavedModels) or "tf_text" (tensorflow-text).
    """
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
    words = words[:, :max_words]
    ids = tf.ragged.map_flat_values(table.lookup, words)
    dense = ids.to_tensor(default_value=PAD_ID, shape=[None, max_words])
    return tf.cast(dense, tf.int32)
