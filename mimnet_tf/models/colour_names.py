"""Which words of a vocabulary name colours, and which colour: the table that lets colour swap
repaint only the regions a caption describes (`--colour_swap_described`).

A colour swap that repaints a part the caption does not name teaches the generator to guess that
part's colour from its prior, which is what an edit must never do ("keep everything else"). With
a colour-name table, a candidate region is repainted only when the colour word nearest to its
seed colour is in the caption. Nothing about the image is labelled: the table is what the words
mean, the same for every image.

Tables (neither knows anything of a dataset):
    "xkcd": the one-word names of the xkcd colour survey (`data/xkcd_colours.txt`, CC0): the colour
        most people mean by each word, so "brown" is a dark brown and "pink" a pink, not a violet.
    "css": the CSS colour names that PIL knows (`PIL.ImageColor.colormap`).
"""
from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
from PIL import ImageColor

from mimnet_tf.config import COLOUR_NAME_TABLES
from mimnet_tf.images import to_model_range

XKCD_FILE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "xkcd_colours.txt")


def colour_names(table: str) -> dict[str, tuple[int, int, int]]:
    """Colour word -> RGB (0-255) of the table named `table`."""
    if table == "xkcd":
        names = {}
        with open(XKCD_FILE, encoding="utf-8") as f:
            for line in f:
                if line.strip() and not line.startswith("#"):
                    name, hex_code = line.split()
                    names[name] = ImageColor.getrgb(hex_code)
        return names
    if table == "css":
        return {name: ImageColor.getrgb(name)[:3] for name in ImageColor.colormap}
    raise ValueError(f"colour-name table {table!r}: expected one of {COLOUR_NAME_TABLES[1:]}")


def vocabulary_colours(table: str, words) -> tuple[np.ndarray, np.ndarray]:
    """The colours the vocabulary `words` (a sequence, index = token id) can name.

    Returns:
        (palette, colour_of_word): palette (P, 3) float32 in [-1, 1], one row per distinct colour
        named by a word of the vocabulary (in order of first appearance), and colour_of_word (V,)
        int32, the palette row of each token id, -1 for words that name no colour. P is at least 1
        (a black row nobody names when the vocabulary has no colour word).
    """
    names = colour_names(table)
    rows: dict[tuple[int, int, int], int] = {}
    colour_of_word = np.full(len(words), -1, np.int32)
    for token_id, word in enumerate(words):
        rgb = names.get(word)
        if rgb is not None:
            colour_of_word[token_id] = rows.setdefault(tuple(rgb), len(rows))
    palette = to_model_range(np.array(list(rows) or [(0, 0, 0)], np.float32))
    return palette, colour_of_word


def described_colours(token_ids, colour_of_word, num_colours: int):
    """(batch, num_colours) float32: 1 where a caption (token ids, (batch, words)) has a word naming
    that palette colour. `colour_of_word` and the palette are `vocabulary_colours`'s."""
    named = tf.gather(tf.constant(colour_of_word), token_ids)  # -1: not a colour word
    return tf.reduce_max(tf.one_hot(named, num_colours), axis=1)
