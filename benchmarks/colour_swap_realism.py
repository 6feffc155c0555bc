"""How much a colour-swapped SynthBirds image looks like a real edit: the distance of the
repainted image to the re-render of the same scene with that part's colour changed.

    python benchmarks/colour_swap_realism.py --num=150 --size=64

Colour swap (mimnet_tf/models/recolour.py) must produce inputs that look like a bird of
another colour; anything that gives the old colour away (a ring of the old colour at the part's
anti-aliased edge, shading the repaint got wrong) lets the generator rebuild the image without
reading the caption, and it then copies its input at test time. For each scene one part (in
turn) is repainted from a seed pixel inside it to the colour the re-render gives that pixel;
the renderer's part coverage splits the changed pixels into the part's edge (coverage < 0.95)
and its core. Printed per setting (mean L1 in [-1, 1] units, lower is better): edge, core, and
pixels the re-render did not change (another part of the same colour repainted too). This
uses the renderer's masks and is a diagnostic of the swap, never an input of the model.
"""
from __future__ import annotations

import os
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

_NUM = flags.DEFINE_integer("num", 150, "Training scenes (one repainted part each).")
_SIZE = flags.DEFINE_integer("size", 64, "Render size in pixels.")
_THRESHOLD = flags.DEFINE_float("threshold", 0.3, "Colour distance that joins a region (--colour_swap_threshold).")

SETTINGS = {  # name: recolour_regions keyword arguments
    "additive (the old recipe)": {},
    "additive + unmix edges (the recipe)": {"unmix_edges": True},
    "multiplicative": {"shading": "multiplicative"},
    "multiplicative + unmix edges": {"shading": "multiplicative", "unmix_edges": True},
}


def measure(num: int, size: int, threshold: float, settings=SETTINGS) -> dict:
    """{setting: {"edge": L1, "core": L1, "unchanged": L1, "edge_unswapped": L1}}."""
    from mimnet_tf.data.synthbirds import render as rendering
    from mimnet_tf.data.synthbirds.palette import COLOUR_NAMES, COLOURABLE_PARTS
    from mimnet_tf.images import to_model_range
    from mimnet_tf.models.recolour import DRAWS_PER_REGION, recolour_regions

    rng = np.random.default_rng(0)
    errors = {name: {"edge": [], "core": [], "unchanged": [], "edge_unswapped": []} for name in settings}
    for index in range(num):
        scene = rendering.sample_scene(0, "train", index)
        source = rendering.render(scene, size)
        part = COLOURABLE_PARTS[index % len(COLOURABLE_PARTS)]
        core = source.part_mask(part)
        if core.sum() < 3:
            continue
        others = [c for c in COLOUR_NAMES if c != scene.bird.colour(part)]
        target = rendering.render(rendering.with_colours(scene, {part: others[rng.integers(len(others))]}), size)
        image = to_model_range(source.image)
        wanted = to_model_range(target.image)
        rows, cols = np.nonzero(core)
        row, col = rows[len(rows) // 2], cols[len(cols) // 2]
        draws = np.zeros((1, 1, DRAWS_PER_REGION), np.float32)
        draws[0, 0, :5] = [(row + 0.5) / size, (col + 0.5) / size, *((wanted[row, col] + 1.0) / 2.0)]
        changed = np.abs(wanted - image).sum(-1) > 0.02
        coverage = source.coverage[..., rendering.PARTS.index(part)]
        edge, inner = changed & (coverage < 0.95), changed & (coverage >= 0.95)
        for name, kwargs in settings.items():
            out = recolour_regions(image[None], draws, threshold=threshold, centre=1.0, **kwargs)[0].numpy()[0]
            error = np.abs(out - wanted)
            record = errors[name]
            if edge.any():
                record["edge"].append(error[edge].mean())
                record["edge_unswapped"].append(np.abs(image - wanted)[edge].mean())
            if inner.any():
                record["core"].append(error[inner].mean())
            record["unchanged"].append(error[~changed].mean())
    return {name: {k: float(np.mean(v)) for k, v in record.items()} for name, record in errors.items()}


def main(argv):
    del argv
    results = measure(_NUM.value, _SIZE.value, _THRESHOLD.value)
    print(f"Colour swap vs the re-rendered edit, {_NUM.value} scenes at {_SIZE.value} px "
          f"(mean L1, [-1, 1] units; lower is better)")
    print("| setting | part edge | part core | pixels the edit leaves |")
    print("|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['edge']:.3f} | {r['core']:.3f} | {r['unchanged']:.4f} |")
    first = next(iter(results.values()))
    print(f"(no repaint at all: part edge {first['edge_unswapped']:.3f})")


if __name__ == "__main__":
    app.run(main)
