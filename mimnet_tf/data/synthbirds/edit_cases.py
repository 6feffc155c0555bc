"""The SynthBirds edit benchmark: test scenes, target captions and their exact ground truth.

An edit case recolours 1-3 parts of a test scene (parts picked with the caption mention weights)
and names 0-2 further parts with their unchanged colour; the caption names exactly those parts,
in shuffled order. The ground truth is the same scene re-rendered with the changed parts
recoloured: same bird, pose and background, every unnamed part unchanged.

Cases come from the test split (the figures a shipped model reports, scored once per model) or
from the validation split (the cases every tuning decision reads). `rephrase` rewrites a case's
caption in another phrasing (`phrasings.py`): a held-out request naming only the changed parts,
a bare list without "bird", or the template caption with typos (one-letter, or two letters
swapped) in its colour words.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from mimnet_tf.data.synthbirds import phrasings
from mimnet_tf.data.synthbirds.captions import (
    describe,
    named_parts,
    sample_mentioned_parts,
    shape_adjectives,
    template_captions_for,
)
from mimnet_tf.data.synthbirds.palette import COLOUR_NAMES, COLOURABLE_PARTS
from mimnet_tf.data.synthbirds.render import Scene, sample_scene, with_colours
from mimnet_tf.data.synthbirds.seeding import generator

_NUM_CHANGED_P = (0.5, 0.35, 0.15)  # 1, 2 or 3 recoloured parts
_NUM_KEPT_P = (0.35, 0.4, 0.25)  # 0, 1 or 2 parts named with their unchanged colour


@dataclasses.dataclass(frozen=True)
class EditCase:
    """One edit: change `source` so that it matches `caption`; `target` is the right answer.

    Attributes:
        case_id: unique name (`edit_00017`, `identity_00017`).
        source: the test scene to edit.
        target: the ground truth: `source` with the changed parts recoloured.
        caption: the target text.
        named: (part, target colour) for every part the caption names, in COLOURABLE_PARTS order.
        changed: named parts whose colour differs from the source.
        kept: named parts whose colour is the source's.
    """

    case_id: str
    source: Scene
    target: Scene
    caption: str
    named: tuple[tuple[str, str], ...]
    changed: tuple[str, ...]
    kept: tuple[str, ...]

    @property
    def named_dict(self) -> dict[str, str]:
        return dict(self.named)

    @property
    def unnamed(self) -> tuple[str, ...]:
        """Colourable parts the caption does not mention (they must not change)."""
        named = self.named_dict
        return tuple(p for p in COLOURABLE_PARTS if p not in named)

    def to_json(self) -> dict:
        """The JSON record of cases.jsonl (scenes by key; colours of both sides spelled out)."""
        return {
            "case_id": self.case_id,
            "source": self.source.key,
            "caption": self.caption,
            "named": dict(self.named),
            "changed": list(self.changed),
            "kept": list(self.kept),
            "source_colours": self.source.bird.as_dict(),
            "target_colours": self.target.bird.as_dict(),
        }


CASE_SPLITS = ("test", "validation")


def _test_index(case: int, num_scenes: int | None) -> int:
    return case % num_scenes if num_scenes else case


def _check(num: int, num_scenes: int | None, split: str) -> None:
    if num < 0:
        raise ValueError(f"num must be >= 0, got {num}")
    if num_scenes is not None and num_scenes <= 0:
        raise ValueError(f"num_scenes must be positive (the number of test images), got {num_scenes}")
    if split not in CASE_SPLITS:
        raise ValueError(f"split must be one of {CASE_SPLITS}, got {split!r}")


def _stream(kind: str, seed: int, split: str, k: int):
    """The random stream of case k (the test split keeps the keys of the first release)."""
    return generator(kind, seed, k) if split == "test" else generator(kind, seed, split, k)


def make_case(case_id: str, source: Scene, rng: np.random.Generator) -> EditCase:
    """Draws one edit of `source`: what changes, to which colours, what else the caption names."""
    colours = source.bird.as_dict()
    changed = sample_mentioned_parts(rng, 1 + int(rng.choice(3, p=_NUM_CHANGED_P)))
    new_colours = {}
    for part in changed:
        others = [c for c in COLOUR_NAMES if c != colours[part]]
        new_colours[part] = others[int(rng.integers(len(others)))]
    kept = sample_mentioned_parts(rng, int(rng.choice(3, p=_NUM_KEPT_P)), exclude=changed)
    target = with_colours(source, new_colours)
    mentioned = changed + kept
    order = rng.permutation(len(mentioned))
    caption = describe(target.bird.as_dict(), [mentioned[int(i)] for i in order], rng, shape_adjectives(target.bird))
    return EditCase(
        case_id=case_id,
        source=source,
        target=target,
        caption=caption,
        named=tuple((p, target.bird.colour(p)) for p in COLOURABLE_PARTS if p in mentioned),
        changed=tuple(p for p in COLOURABLE_PARTS if p in changed),
        kept=tuple(p for p in COLOURABLE_PARTS if p in kept),
    )


def edit_cases(seed: int = 0, num: int = 200, num_scenes: int | None = None, split: str = "test") -> list[EditCase]:
    """The first `num` edit cases of the benchmark (deterministic in `seed` and `split`).

    Args:
        seed: dataset seed (the scenes are `sample_scene(seed, split, i)`).
        num: number of cases.
        num_scenes: when given, case k edits scene k % num_scenes (the written test images);
            otherwise scene k.
        split: "test" (the reported figures) or "validation" (for tuning decisions).
    """
    _check(num, num_scenes, split)
    return [
        make_case(f"edit_{k:05d}", sample_scene(seed, split, _test_index(k, num_scenes)), _stream("edit", seed, split, k))
        for k in range(num)
    ]


def identity_cases(seed: int = 0, num: int = 200, num_scenes: int | None = None,
                   split: str = "test") -> list[EditCase]:
    """Cases whose caption is one of the source's own template captions: editing should change little."""
    _check(num, num_scenes, split)
    cases = []
    for k in range(num):
        source = sample_scene(seed, split, _test_index(k, num_scenes))
        captions = template_captions_for(source)
        caption = captions[int(_stream("identity", seed, split, k).integers(len(captions)))]
        named = named_parts(caption, source.bird.as_dict())
        cases.append(
            EditCase(
                case_id=f"identity_{k:05d}",
                source=source,
                target=source,
                caption=caption,
                named=tuple(named.items()),
                changed=(),
                kept=tuple(named),
            )
        )
    return cases


def rephrase(case: EditCase, phrasing: str, index: int, seed: int = 0) -> EditCase:
    """`case` with its caption in `phrasing` (one of `phrasings.PHRASINGS`).

    A request (a held-out family or "no_bird") names only the changed parts, with their target
    colours (an identity case: the parts its caption names, with their own colours); "typo" keeps
    the template caption and what it names, with a one-letter typo in every colour word
    ("transposed": two adjacent letters swapped);
    "template" is the case itself. Deterministic in (seed, phrasing, index)."""
    if phrasing not in phrasings.PHRASINGS:
        raise ValueError(f"phrasing={phrasing!r}: expected one of {phrasings.PHRASINGS}")
    if phrasing == phrasings.TEMPLATE:
        return case
    family = phrasings.family_for(phrasing, index)
    rng = generator("phrasing", seed, family, index)
    if family in phrasings.MISSPELT:
        return dataclasses.replace(case, caption=phrasings.misspell(case.caption, family, rng))
    target = case.target.bird.as_dict()
    parts = case.changed or tuple(case.named_dict)
    items = [(str(p), target[str(p)]) for p in rng.permutation(parts)]
    caption = phrasings.request(items, family, rng)
    named = tuple((p, target[p]) for p in COLOURABLE_PARTS if p in parts)
    return dataclasses.replace(case, caption=caption, named=named, kept=() if case.changed else tuple(dict(named)))
