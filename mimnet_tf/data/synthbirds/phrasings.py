"""Held-out phrasing families: requests written the way people type them, never used in training.

The edit benchmark scores a model on its template captions (`captions.describe`) and, with
`--phrasing`, on the same edit cases rewritten in one of these families. Training captions come
only from `captions.TRAINING_FORMS` and the template form, so a model that edits as well here as
on the template captions has learnt the language rather than the templates. Each family names
only the parts to change (as a request does), part before colour or colour before part, and
several use words no training caption has ("want", "should", "please", "paint", ...): they reach
the model as `<unk>`.

`MARKERS` are words of each family that no training caption may contain (a test reads thousands
of training captions to check it).

Besides the held-out families the benchmark has three more phrasings of its own:
- "no_bird": the changed parts as a bare colour-first list ("blue wings and a red crown");
- "typo": the template caption with a one-letter typo in every colour word (`typo`);
- "transposed": the template caption with two adjacent letters swapped in every colour word
  ("bleu wings", `transposition`), the commonest typing slip after a one-letter one.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from mimnet_tf.data.synthbirds import captions
from mimnet_tf.data.synthbirds.captions import Context, Item, colour_first, join

TEMPLATE = "template"
NO_BIRD = "no_bird"
TYPO = "typo"
TRANSPOSED = "transposed"
HELD_OUT = "held_out"  # every family below, one after another over the cases


def _the(ctx: Context) -> str:
    return ctx.choice(("the", "its"))


def want(items: Sequence[Item], ctx: Context) -> str:
    """"i want blue wings and a red crown"."""
    return "i want " + join([colour_first(i, ctx, adjectives=False) for i in items])


def show_in(items: Sequence[Item], ctx: Context) -> str:
    """"show the wings in blue and the crown in red"."""
    return "show " + join([f"{_the(ctx)} {ctx.part(p)} in {ctx.colour(c)}" for p, c in items])


def should_be(items: Sequence[Item], ctx: Context) -> str:
    """"the wings should be blue and the crown should be red"."""
    return join([f"{_the(ctx)} {ctx.part(p)} should be {ctx.colour(c)}" for p, c in items])


def set_to(items: Sequence[Item], ctx: Context) -> str:
    """"set the wings to blue and the crown to red"."""
    return "set " + join([f"{_the(ctx)} {ctx.part(p)} to {ctx.colour(c)}" for p, c in items])


def paint(items: Sequence[Item], ctx: Context) -> str:
    """"paint the wings blue and the crown red"."""
    return "paint " + join([f"{_the(ctx)} {ctx.part(p)} {ctx.colour(c)}" for p, c in items])


def can_you(items: Sequence[Item], ctx: Context) -> str:
    """"can you make its wings blue and its crown red?"."""
    return "can you make " + join([f"{_the(ctx)} {ctx.part(p)} {ctx.colour(c)}" for p, c in items]) + "?"


def please(items: Sequence[Item], ctx: Context) -> str:
    """"blue wings and a red crown please"."""
    return join([colour_first(i, ctx, adjectives=False) for i in items]) + " please"


def would_like(items: Sequence[Item], ctx: Context) -> str:
    """"i would like the wings to be blue and the crown to be red"."""
    return "i would like " + join([f"{_the(ctx)} {ctx.part(p)} to be {ctx.colour(c)}" for p, c in items])


def colour_for(items: Sequence[Item], ctx: Context) -> str:
    """"blue for the wings and red for the crown"."""
    return join([f"{ctx.colour(c)} for the {ctx.part(p)}" for p, c in items])


def colour_on(items: Sequence[Item], ctx: Context) -> str:
    """"blue on the wings and red on the crown"."""
    return join([f"{ctx.colour(c)} on the {ctx.part(p)}" for p, c in items])


HELD_OUT_FAMILIES = {
    "want": want,
    "show_in": show_in,
    "should_be": should_be,
    "set_to": set_to,
    "paint": paint,
    "can_you": can_you,
    "please": please,
    "would_like": would_like,
    "colour_for": colour_for,
    "colour_on": colour_on,
}
# Words that mark each family; none of them is in any training caption.
MARKERS = {
    "want": ("want",), "show_in": ("show", "in"), "should_be": ("should", "be"), "set_to": ("set",),
    "paint": ("paint",), "can_you": ("can", "you"), "please": ("please",), "would_like": ("would", "like"),
    "colour_for": ("for",), "colour_on": ("on",),
}
PHRASINGS = (TEMPLATE, HELD_OUT, *HELD_OUT_FAMILIES, NO_BIRD, TYPO, TRANSPOSED)
# The phrasings that keep the template caption and misspell its colour words.
MISSPELT = {TYPO, TRANSPOSED}


def no_bird(items: Sequence[Item], ctx: Context) -> str:
    """"blue wings and a red crown"."""
    return join([colour_first(i, ctx) for i in items])


_ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def _misspelling(result: str, word: str) -> bool:
    """Whether `result` can stand for a misspelt `word`: it is not the word, nor too short to be
    corrected, nor another colour or part (that would be another request, not a typo)."""
    return (result != word and len(result) >= 3 and result not in captions.WORD_TO_COLOUR
            and result not in captions.WORD_TO_PART)


def typo(word: str, rng: np.random.Generator) -> str:
    """`word` with one letter deleted, inserted or replaced, never another colour or part word."""
    while True:
        position = int(rng.integers(len(word) + 1))
        kind = int(rng.integers(3)) if position < len(word) else 1
        letter = _ALPHABET[int(rng.integers(26))]
        if kind == 0:
            result = word[:position] + word[position + 1:]
        elif kind == 1:
            result = word[:position] + letter + word[position:]
        else:
            result = word[:position] + letter + word[position + 1:]
        if _misspelling(result, word):
            return result


def transposition(word: str, rng: np.random.Generator) -> str:
    """`word` with two adjacent, different letters swapped ("blue" -> "bleu"), never another
    colour or part word."""
    swaps = [word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(len(word) - 1)]
    swaps = [s for s in swaps if _misspelling(s, word)]
    if not swaps:
        raise ValueError(f"{word!r} has no two adjacent letters whose swap is a misspelling")
    return swaps[int(rng.integers(len(swaps)))]


def misspell(caption: str, phrasing: str, rng: np.random.Generator) -> str:
    """`caption` with every colour word misspelt the `phrasing` way (`TYPO` or `TRANSPOSED`)."""
    slip = typo if phrasing == TYPO else transposition
    return " ".join(slip(w, rng) if w in captions.WORD_TO_COLOUR else w for w in caption.split())


def family_for(phrasing: str, index: int) -> str:
    """The held-out family of case `index` under `phrasing` (HELD_OUT cycles through them)."""
    if phrasing == HELD_OUT:
        names = list(HELD_OUT_FAMILIES)
        return names[index % len(names)]
    return phrasing


def request(items: Sequence[Item], family: str, rng: np.random.Generator) -> str:
    """The request naming `items` in held-out `family` (or NO_BIRD)."""
    form = no_bird if family == NO_BIRD else HELD_OUT_FAMILIES[family]
    return form(items, Context(rng, adjective_p=0.0, intensity=0.0))
