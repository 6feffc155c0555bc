"""CUB-like captions of SynthBirds scenes, and their parser.

A caption names a few parts with their colours ("this bird has a red crown, blue wings and a
white belly"). Every part phrase is `[article] [short/long] <colour> <part word>`: the colour
word comes right before the part word, so `named_parts` reads a caption back exactly. Two
whole-bird forms name several parts at once: "the bird is mostly <X> ..." and "this is a <X>
bird ...". They are used only when the parts they stand for are exactly the parts whose colour
is X (at least three of them), and `named_parts(caption, colours)` expands them that way.

Captions are at most MAX_WORDS words (the project's default `max_words`), so no part is lost
to truncation.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from mimnet_tf.data.synthbirds.palette import COLOUR_NAMES, COLOURABLE_PARTS, check_colour
from mimnet_tf.data.synthbirds.seeding import generator
from mimnet_tf.data.text import split_words

MAX_WORDS = 18

PART_WORDS: dict[str, tuple[str, ...]] = {
    "crown": ("crown",),
    "head": ("head",),
    "belly": ("belly", "breast"),
    "wings": ("wings",),
    "tail": ("tail",),
    "beak": ("beak", "bill"),
}
# How often CUB-like captions mention each part (wings most, beak and tail least); also the
# weights with which edit cases pick the parts they change.
MENTION_WEIGHTS: dict[str, float] = {
    "crown": 0.16, "head": 0.15, "belly": 0.2, "wings": 0.27, "tail": 0.11, "beak": 0.11
}
WHOLE_BIRD_MIN_PARTS = 3

_WORD_TO_PART = {word: part for part, words in PART_WORDS.items() for word in words}
_PLURAL = {"wings"}
_LIST_TEMPLATES = (
    "this bird has {}",
    "a small bird with {}",
    "the bird has {}",
    "this is a bird with {}",
    "a bird with {}",
    "this small bird has {}",
    "this bird is small and has {}",
    "the small bird has {}",
)
_COMPACT_TEMPLATE = "a bird with {}"  # the shortest intro, used when a caption runs long
_WHOLE_TEMPLATES = ("the bird is mostly {}", "this bird is mostly {}", "this is a {} bird", "a {} bird")


def _phrase(part: str, colour: str, rng: np.random.Generator, adjective: str | None, articles: bool) -> str:
    words = [PART_WORDS[part][int(rng.integers(len(PART_WORDS[part])))]]
    words.insert(0, colour)
    if adjective:
        words.insert(0, adjective)
    if articles and part not in _PLURAL:
        words.insert(0, "an" if words[0][0] in "aeiou" else "a")
    return " ".join(words)


def _join(phrases: Sequence[str]) -> str:
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def whole_bird_colour(colours: Mapping[str, str], parts: Sequence[str]) -> str | None:
    """The colour X a whole-bird form may use for `parts`, or None.

    X qualifies when at least WHOLE_BIRD_MIN_PARTS parts have colour X and all of them are in
    `parts` (so "mostly X" names exactly the listed parts of that colour).
    """
    for colour in COLOUR_NAMES:
        sharing = [p for p in COLOURABLE_PARTS if colours.get(p) == colour]
        if len(sharing) >= WHOLE_BIRD_MIN_PARTS and set(sharing) <= set(parts):
            return colour
    return None


def describe(
    colours: Mapping[str, str],
    parts: Sequence[str],
    rng: np.random.Generator,
    adjectives: Mapping[str, str] | None = None,
    whole_bird: float = 0.5,
) -> str:
    """One caption that names exactly `parts`, each with its colour in `colours`.

    Args:
        colours: {part: colour name}; must contain every part in `parts`.
        parts: the colourable parts to name, in the order they should appear.
        rng: numpy Generator (templates, synonyms, adjectives).
        adjectives: optional shape words per part ({"beak": "short", "tail": "long"}); each is
            used now and then, always before the colour word.
        whole_bird: probability of a whole-bird form ("mostly X", "a X bird") when one applies.

    Returns:
        A lower-case caption of at most MAX_WORDS words.
    """
    parts = list(parts)
    if not parts:
        raise ValueError("describe needs at least one part to name")
    for part in parts:
        if part not in PART_WORDS:
            raise ValueError(f"Unknown part {part!r}; expected one of {COLOURABLE_PARTS}")
        if part not in colours:
            raise ValueError(f"No colour given for part {part!r}")
        check_colour(colours[part])
    if len(set(parts)) != len(parts):
        raise ValueError(f"Parts must be distinct, got {parts}")
    adjectives = dict(adjectives or {})
    chosen = {p: adjectives[p] for p in parts if p in adjectives and rng.random() < 0.4}

    whole = whole_bird_colour(colours, parts)
    if whole is not None and rng.random() < whole_bird:
        template = _WHOLE_TEMPLATES[int(rng.integers(len(_WHOLE_TEMPLATES)))]
        rest = [p for p in parts if colours[p] != whole]
        if not rest and template.startswith("a "):
            template = "this is a {} bird"  # "a red bird" alone reads as a fragment
        head = template.format(whole)
        for articles, adjective_map in ((True, chosen), (True, {}), (False, {})):
            phrases = [_phrase(p, colours[p], rng, adjective_map.get(p), articles) for p in rest]
            caption = head + (" with " + _join(phrases) if phrases else "")
            if len(caption.split()) <= MAX_WORDS:
                return caption
        return caption

    template = _LIST_TEMPLATES[int(rng.integers(len(_LIST_TEMPLATES)))]
    # Long lists fall back to fewer words: no adjectives, then the compact intro, then no articles.
    attempts = (
        (template, chosen, True), (template, {}, True), (_COMPACT_TEMPLATE, {}, True), (_COMPACT_TEMPLATE, {}, False)
    )
    for template, adjective_map, articles in attempts:
        caption = template.format(_join([_phrase(p, colours[p], rng, adjective_map.get(p), articles) for p in parts]))
        if len(caption.split()) <= MAX_WORDS:
            return caption
    return caption


def named_parts(caption: str, colours: Mapping[str, str] | None = None) -> dict[str, str]:
    """Reads a caption made by `describe` back to {part: colour}, in COLOURABLE_PARTS order.

    Args:
        caption: the caption.
        colours: the bird's colours; needed only to expand a whole-bird form ("mostly X",
            "a X bird") into the parts that have colour X.
    """
    words = split_words(caption)
    found: dict[str, str] = {}
    whole = None
    for i, word in enumerate(words):
        if word not in COLOUR_NAMES:
            continue
        following = words[i + 1] if i + 1 < len(words) else ""
        if following in _WORD_TO_PART:
            found[_WORD_TO_PART[following]] = word
        elif following == "bird" or (i > 0 and words[i - 1] == "mostly"):
            whole = word
    if whole is not None:
        if colours is None:
            raise ValueError(f"Caption {caption!r} says the bird is {whole} overall; pass `colours` to expand it")
        for part in COLOURABLE_PARTS:
            if colours.get(part) == whole and part not in found:
                found[part] = whole
    return {p: found[p] for p in COLOURABLE_PARTS if p in found}


def shape_adjectives(bird) -> dict[str, str]:
    """Shape words that are true of `bird`: its beak and tail, short or long."""
    return {
        "beak": "long" if bird.beak_length >= 0.75 else "short",
        "tail": "long" if bird.tail_length >= 0.55 else "short",
    }


def sample_mentioned_parts(rng: np.random.Generator, count: int, exclude: Sequence[str] = ()) -> list[str]:
    """`count` distinct parts drawn with CUB-like mention weights (wings most often).

    Weighted sampling without replacement by exponential keys (Efraimidis-Spirakis): the same
    distribution as drawing one part at a time, at a fraction of the cost of `rng.choice`.
    """
    candidates = [p for p in COLOURABLE_PARTS if p not in exclude]
    if count > len(candidates):
        raise ValueError(f"Cannot pick {count} parts out of {candidates}")
    uniforms = rng.random(len(candidates))
    keys = [math.log(u) / MENTION_WEIGHTS[p] if u > 0 else -math.inf for u, p in zip(uniforms, candidates)]
    order = sorted(range(len(candidates)), key=lambda i: -keys[i])
    return [candidates[i] for i in order[:count]]


def captions_for(scene, num: int = 10) -> list[str]:
    """`num` deterministic captions of `scene` (10 like CUB's text_c10), each naming 2-4 parts.

    Sometimes, when at least three parts share a colour, a caption says the bird is mostly
    that colour and adds one or two other parts (wings first).
    """
    colours = scene.bird.as_dict()
    adjectives = shape_adjectives(scene.bird)
    rng = generator("captions", scene.seed, scene.split, scene.index)
    majority = next(
        (c for c in COLOUR_NAMES if sum(v == c for v in colours.values()) >= WHOLE_BIRD_MIN_PARTS), None
    )
    captions = []
    for _ in range(num):
        if majority is not None and rng.random() < 0.3:
            parts = [p for p in COLOURABLE_PARTS if colours[p] == majority]
            others = [p for p in COLOURABLE_PARTS if colours[p] != majority]
            if others:
                extra = ["wings"] if "wings" in others else []
                if not extra or rng.random() < 0.4:
                    extra += sample_mentioned_parts(rng, 1, exclude=parts + extra) if len(others) > len(extra) else []
                parts = parts + extra
            whole_bird = 1.0
        else:
            parts = sample_mentioned_parts(rng, int(rng.choice([2, 3, 4], p=[0.4, 0.4, 0.2])))
            whole_bird = 0.3
        order = rng.permutation(len(parts))
        captions.append(describe(colours, [parts[int(i)] for i in order], rng, adjectives, whole_bird))
    return captions
