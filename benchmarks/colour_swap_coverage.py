"""Which SynthBirds parts colour swap repaints, and how often: the training signal each part gets.

    python benchmarks/colour_swap_coverage.py --coverage_scenes=512 --coverage_size=64

Colour swap (mimnet_tf/models/recolour.py) finds its regions from the image alone: seeds in the
central part of the image, the smallest of K candidate regions. A part it rarely repaints on its
own is a part whose colour the generator rarely has to read from the caption, and at test time
it copies that part. For each setting, on training scenes with the recipe's other colour-swap
settings (3 regions, threshold 0.3, min area 0.05 %, 10 % area cap, batch colours, unmixed
edges), it prints per part the fraction of images where the part is repainted (most of its
pixels) when its colour is its own (no other part shares it, so it cannot ride along with a
larger part), and the fraction of images where most of what was repainted is background.
"described colours" repaints only regions whose colour one of the scene's training captions names
(`--colour_swap_described=xkcd`, a caption drawn per scene and draw, as in training). Uses the
renderer's masks to measure; they are never an input of the model.
"""
from __future__ import annotations

import os
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

_NUM = flags.DEFINE_integer("coverage_scenes", 512, "Training scenes.")
_SIZE = flags.DEFINE_integer("coverage_size", 64, "Render size in pixels.")
_DRAWS = flags.DEFINE_integer("coverage_draws", 4, "Colour-swap draws per scene.")

SETTINGS = {  # name: recolour_regions keyword arguments (beyond the shared ones below)
    "8 seeds, centre 0.5, any colour": {"candidates": 8, "centre": 0.5},
    "8 seeds, centre 0.5, described colours": {"candidates": 8, "centre": 0.5, "described": True},
    "16 seeds, centre 0.5, described colours (the recipe)": {"candidates": 16, "centre": 0.5, "described": True},
    "16 seeds, centre 0.6, described colours": {"candidates": 16, "centre": 0.6, "described": True},
    "24 seeds, centre 0.6, described colours": {"candidates": 24, "centre": 0.6, "described": True},
}
SHARED = {"threshold": 0.3, "colours": "batch", "max_area": 0.1, "min_area": 0.0005, "unmix_edges": True}
REGIONS = 3


def measure(num: int, size: int, draws_per_scene: int, settings=SETTINGS) -> dict:
    """{setting: {part: repainted fraction when its colour is its own, ..., "background": fraction of
    images whose repainted pixels are mostly outside the bird}}."""
    from mimnet_tf.data.synthbirds import render as rendering
    from mimnet_tf.data.synthbirds.captions import captions_for
    from mimnet_tf.data.synthbirds.palette import COLOURABLE_PARTS
    from mimnet_tf.data.text import split_words
    from mimnet_tf.images import to_model_range
    from mimnet_tf.models.colour_names import described_colours, vocabulary_colours
    from mimnet_tf.models.recolour import draws_per_region, recolour_regions

    scenes = [rendering.sample_scene(0, "train", index) for index in range(num)]
    renders = [rendering.render(scene, size) for scene in scenes]
    images = to_model_range(np.stack([r.image for r in renders]))
    masks = {part: np.stack([r.part_mask(part) for r in renders]) for part in COLOURABLE_PARTS}
    own = {part: np.array([sum(s.bird.colour(q) == s.bird.colour(part) for q in COLOURABLE_PARTS) == 1
                           for s in scenes]) & masks[part].any(axis=(1, 2)) for part in COLOURABLE_PARTS}
    bird = np.stack([r.bird_mask for r in renders])
    texts = [[split_words(c) for c in captions_for(scene)] for scene in scenes]
    words = ["<pad>"] + sorted({w for caption in texts for c in caption for w in c})
    palette, colour_of_word = vocabulary_colours("xkcd", words)
    index = {w: i for i, w in enumerate(words)}
    longest = max(len(c) for caption in texts for c in caption)
    results = {}
    for name, kwargs in settings.items():
        rng = np.random.default_rng(0)
        hits = {part: 0 for part in COLOURABLE_PARTS}
        background = 0
        for _ in range(draws_per_scene):
            draws = rng.random((num, REGIONS, draws_per_region(kwargs["candidates"]))).astype(np.float32)
            options = dict(kwargs)
            if options.pop("described", False):  # one of each scene's ten training captions, as training draws
                ids = np.zeros((num, longest), np.int32)
                for row, caption in enumerate(texts):
                    chosen = [index[w] for w in caption[int(rng.integers(len(caption)))]]
                    ids[row, :len(chosen)] = chosen
                options.update(palette=palette, described=described_colours(ids, colour_of_word, len(palette)))
            repainted = np.minimum(recolour_regions(images, draws, **SHARED, **options)[1].numpy(), 1.0)
            for part in COLOURABLE_PARTS:
                share = (repainted * masks[part]).sum(axis=(1, 2)) / np.maximum(masks[part].sum(axis=(1, 2)), 1)
                hits[part] += int(((share > 0.5) & own[part]).sum())
            outside = (repainted * ~bird).sum(axis=(1, 2)) / np.maximum(repainted.sum(axis=(1, 2)), 1e-6)
            background += int((outside > 0.5).sum())
        results[name] = {part: hits[part] / max(1, draws_per_scene * own[part].sum()) for part in COLOURABLE_PARTS}
        results[name]["background"] = background / (draws_per_scene * num)
    return results


def main(argv):
    del argv
    from mimnet_tf.data.synthbirds.palette import COLOURABLE_PARTS

    results = measure(_NUM.value, _SIZE.value, _DRAWS.value)
    print(f"Colour swap coverage, {_NUM.value} training scenes at {_SIZE.value} px, {_DRAWS.value} draws each: "
          "fraction of images where a part with a colour of its own is repainted, and where the repaint is mostly background")
    print("| setting | " + " | ".join(COLOURABLE_PARTS) + " | background |")
    print("|---|" + "---|" * (len(COLOURABLE_PARTS) + 1))
    for name, r in results.items():
        print(f"| {name} | " + " | ".join(f"{r[p]:.3f}" for p in COLOURABLE_PARTS) + f" | {r['background']:.3f} |")


if __name__ == "__main__":
    app.run(main)
