"""The SynthBirds edit benchmark: test scenes, target captions and their exact ground truth.

An edit case recolours 1-3 parts of a test scene (parts picked with the caption mention weights)
and names 0-2 further parts with their unchanged colour; the caption names exactly those parts,
in shuffled order. The ground truth is the same scene re-rendered with the changed parts
recoloured: same bird, pose and background, every unnamed part unchanged.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from mimnet_tf.data.synthbirds.captions import (
    captions_for,
    describe,
    named_parts,
    sample_mentioned_parts,
    shape_adjectives,
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


def _test_index(case: int, num_scenes: int | None) -> int:
    return case % num_scenes if num_scenes else case


def _check(num: int, num_scenes: int | None) -> None:
    if num < 0:
        raise ValueError(f"num must be >= 0, got {num}")
    if num_scenes is not None and num_scenes <= 0:
        raise ValueError(f"num_scenes must be positive (the number of test images), got {num_scenes}")


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


def edit_cases(seed: int = 0, num: int = 200, num_scenes: int | None = None) -> list[EditCase]:
    """The first `num` edit cases of the benchmark (deterministic in `seed`).

    Args:
        seed: dataset seed (the test scenes are `sample_scene(seed, "test", i)`).
        num: number of cases.
        num_scenes: when given, case k edits test scene k % num_scenes (the written test images);
            otherwise test scene k.
    """
    _check(num, num_scenes)
    return [
        make_case(f"edit_{k:05d}", sample_scene(seed, "test", _test_index(k, num_scenes)), generator("edit", seed, k))
        for k in range(num)
    ]


def identity_cases(seed: int = 0, num: int = 200, num_scenes: int | None = None) -> list[EditCase]:
    """Cases whose caption is one of the source's own captions: editing should change little."""
    _check(num, num_scenes)
    cases = []
    for k in range(num):
        source = sample_scene(seed, "test", _test_index(k, num_scenes))
        captions = captions_for(source)
        caption = captions[int(generator("identity", seed, k).integers(len(captions)))]
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
