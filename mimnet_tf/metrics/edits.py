"""Scores of one SynthBirds edit, and their summary over a benchmark.

For an edit case (source scene, target caption, ground-truth render) and an edited image:
- attribute hits: for each part the caption names, the dominant colour of the edited image in
  that part's core pixels (snapped to the palette) equals the named colour. Split into parts the
  caption changes ("changed") and parts it names with their current colour ("kept");
- unnamed parts: the dominant colour of every part the caption does not name is unchanged;
- background L1: mean |edited - source| outside the bird (images in [0, 1]);
- L1 to the ground truth over the whole image; Diff = mean |edited - source| (the paper's);
- localisation: the mean of the TLU map inside the bird vs outside (when the editor gives a map);
- Sim (when the caller adds a per-case "sim": the DAMSM cosine of the edited image and the
  caption) and MP = (1 - mean Diff) x mean Sim, the paper's manipulative precision.
Nothing here reads the model: it scores images, so it serves checkpoints, exports and baselines.
"""
from __future__ import annotations

import collections

import numpy as np
from PIL import Image

from mimnet_tf.data.synthbirds.edit_cases import EditCase
from mimnet_tf.data.synthbirds.palette import COLOURABLE_PARTS, dominant_colour
from mimnet_tf.data.synthbirds.render import Rendering
from mimnet_tf.images import pixels_to_unit_range
from mimnet_tf.metrics.similarity import manipulative_precision


def score_edit(case: EditCase, edited: np.ndarray, source: Rendering, target: Rendering,
               localisation_map: np.ndarray | None = None) -> dict:
    """Scores one edited image (uint8 [S, S, 3]) against its case; see the module docstring."""
    if edited.shape != source.image.shape:
        raise ValueError(f"edited image of shape {edited.shape}, expected {source.image.shape}")
    named = case.named_dict
    hits = {}
    for part, colour in named.items():
        hits[part] = dominant_colour(edited, target.part_mask(part)) == colour
    unnamed = {}
    for part in COLOURABLE_PARTS:
        if part not in named:
            unnamed[part] = dominant_colour(edited, source.part_mask(part)) == source_colour(case, part)
    difference = np.abs(pixels_to_unit_range(edited) - pixels_to_unit_range(source.image))
    outside = ~source.bird_mask
    score = {
        "case_id": case.case_id,
        "changed": {p: bool(hits[p]) for p in case.changed},
        "kept": {p: bool(hits[p]) for p in case.kept},
        "unnamed": {p: bool(v) for p, v in unnamed.items()},
        "background_l1": float(difference[outside].mean()) if outside.any() else 0.0,
        "gt_l1": float(np.abs(pixels_to_unit_range(edited) - pixels_to_unit_range(target.image)).mean()),
        "diff": float(difference.mean()),
    }
    if localisation_map is not None:
        values = resize_map(localisation_map, source.image.shape[0])
        inside = source.bird_mask
        score["map_inside"] = float(values[inside].mean()) if inside.any() else 0.0
        score["map_outside"] = float(values[~inside].mean()) if (~inside).any() else 0.0
    return score


def resize_map(values: np.ndarray, size: int) -> np.ndarray:
    """A (h, w) or (h, w, 1) map -> float32 (size, size), bilinear."""
    values = np.asarray(values, dtype=np.float32).reshape(np.shape(values)[:2])
    return np.asarray(Image.fromarray(values, mode="F").resize((size, size), Image.BILINEAR), dtype=np.float32)


def source_colour(case: EditCase, part: str) -> str:
    return case.source.bird.colour(part)


def _rate(values) -> float:
    values = list(values)
    return float(np.mean(values)) if values else float("nan")


def summarise(scores: list[dict]) -> dict:
    """Benchmark figures over many scored cases (accuracies in [0, 1])."""
    changed = collections.defaultdict(list)
    kept = collections.defaultdict(list)
    unnamed = collections.defaultdict(list)
    for s in scores:
        for part, hit in s["changed"].items():
            changed[part].append(hit)
        for part, hit in s["kept"].items():
            kept[part].append(hit)
        for part, hit in s["unnamed"].items():
            unnamed[part].append(hit)
    summary = {
        "cases": len(scores),
        "attribute_accuracy": _rate(h for v in changed.values() for h in v),
        "attribute_accuracy_per_part": {p: _rate(changed[p]) for p in COLOURABLE_PARTS if changed[p]},
        "changed_parts": sum(len(v) for v in changed.values()),
        "kept_accuracy": _rate(h for v in kept.values() for h in v),
        "kept_parts": sum(len(v) for v in kept.values()),
        "unnamed_preserved": _rate(h for v in unnamed.values() for h in v),
        "unnamed_preserved_per_part": {p: _rate(unnamed[p]) for p in COLOURABLE_PARTS if unnamed[p]},
        "background_l1": _rate(s["background_l1"] for s in scores),
        "gt_l1": _rate(s["gt_l1"] for s in scores),
        "diff": _rate(s["diff"] for s in scores),
    }
    if scores and "sim" in scores[0]:
        summary["sim"] = _rate(s["sim"] for s in scores)
        summary["mp"] = manipulative_precision(summary["diff"], summary["sim"])
    if scores and "map_inside" in scores[0]:
        inside = _rate(s["map_inside"] for s in scores)
        outside = _rate(s["map_outside"] for s in scores)
        summary.update(map_inside=inside, map_outside=outside, map_ratio=inside / max(outside, 1e-6))
    return summary
