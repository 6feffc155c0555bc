"""Does the model bind a colour word to its part? Where the word attention looks at each part's pixels.

    python benchmarks/word_binding.py --binding_checkpoint=pretrained/synthbirds64 --binding_cases=200

MIM-Net's generator reads the caption through word attention: in ICM (`--icm_word_attention`, at the
feature grid, S / feature_downsample) and in FIR (Eq. 10, at S/2). An edit of a part can only follow
the caption if the positions of that part attend to the colour word that names it ("a yellow *beak*"
-> "yellow"). On held-out edit cases (the source image with its target caption), for every part the
caption names, this prints the mean attention weight at that part's pixels on
- its own colour word (the word before the part's word),
- the part's word itself,
- the other colour words of the caption,
- everything else (articles, "bird", "and", ...: where a position looks when it reads no colour),
and the same for the background (pixels outside the bird; all colour words count as "other").
The renderer's part masks are used to measure only; they are never an input of the model.
"""
from __future__ import annotations

import collections
import os
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

_CHECKPOINT = flags.DEFINE_string("binding_checkpoint", "pretrained/synthbirds64", "a MIM-Net model directory")
_CASES = flags.DEFINE_integer("binding_cases", 200, "held-out edit cases")

COLUMNS = ("own colour", "part word", "other colours", "no colour")
BATCH = 25


def word_roles(caption: str, part: str, max_words: int):
    """(own colour index, part word index, other colour indices) of `part` in `caption`'s first
    `max_words` words, or None when the caption does not name the part by a word of its own."""
    from mimnet_tf.data.synthbirds.captions import PART_WORDS
    from mimnet_tf.data.synthbirds.palette import COLOUR_NAMES
    from mimnet_tf.data.text import split_words

    words = split_words(caption)[:max_words]
    found = [i for i, w in enumerate(words) if w in PART_WORDS[part]]
    if not found or found[0] == 0:
        return None
    part_index = found[0]
    colours = [i for i, w in enumerate(words) if w in COLOUR_NAMES]
    before = [i for i in colours if i < part_index]
    if not before:
        return None
    own = before[-1]
    return own, part_index, [i for i in colours if i != own]


STAGES = {"icm": "icm_word_attention", "fir": "word_attention"}


def attention_maps(generator, images: np.ndarray, token_ids: np.ndarray) -> dict:
    """{"icm": (B, h, w, L), "fir": (B, S/2, S/2, L)}: the word attention weights the generator
    returns (ICM's with --icm_word_attention; a stage the model does not have is absent)."""
    outputs = generator({"image": images, "token_ids": token_ids})
    maps = {}
    for stage, name in STAGES.items():
        if name in outputs:
            weights = np.asarray(outputs[name])
            grid = int(round(weights.shape[1] ** 0.5))
            maps[stage] = weights.reshape(len(images), grid, grid, weights.shape[2])
    return maps


def _shares(weights: np.ndarray, roles) -> np.ndarray:
    """weights (pixels, L) -> mean share per COLUMNS."""
    own, part_index, others = roles
    rows = np.stack([weights[:, own], weights[:, part_index],
                     weights[:, others].sum(axis=1) if others else np.zeros(len(weights)), np.zeros(len(weights))], 1)
    rows[:, 3] = weights.sum(axis=1) - rows[:, :3].sum(axis=1)
    return rows.mean(axis=0)


def measure(generator, vocab, max_words: int, num_cases: int) -> dict:
    """{stage: {part: {"changed" / "kept": {"shares": mean shares per COLUMNS, "count": cases}},
    "background": {"all": ...}}} over the first `num_cases` held-out edit cases (source image, target
    caption); a part counts where the caption names it and the source shows it."""
    from mimnet_tf import images as image_io
    from mimnet_tf.data.synthbirds.edit_cases import edit_cases
    from mimnet_tf.data.synthbirds.palette import COLOUR_NAMES, COLOURABLE_PARTS
    from mimnet_tf.data.synthbirds.render import render
    from mimnet_tf.data.text import split_words

    size = int(generator.config.image_size)
    cases = edit_cases(num=num_cases)
    sums = collections.defaultdict(lambda: np.zeros(len(COLUMNS)))
    counts = collections.Counter()
    for start in range(0, len(cases), BATCH):
        chunk = cases[start:start + BATCH]
        renders = [render(case.source, size) for case in chunk]
        images = image_io.to_model_range(np.stack([r.image for r in renders]))
        ids = np.stack([vocab.encode(case.caption, max_words)[0] for case in chunk])
        for stage, maps in attention_maps(generator, images, ids).items():
            factor = size // maps.shape[1]
            for case, rendering, weights in zip(chunk, renders, maps):
                full = np.repeat(np.repeat(weights, factor, 0), factor, 1)
                for part in COLOURABLE_PARTS:
                    roles = word_roles(case.caption, part, max_words)
                    pixels = rendering.part_mask(part)
                    if roles is None or not pixels.any():
                        continue
                    key = (stage, part, "changed" if part in case.changed else "kept")
                    sums[key] += _shares(full[pixels], roles)
                    counts[key] += 1
                colour_words = [i for i, w in enumerate(split_words(case.caption)[:max_words]) if w in COLOUR_NAMES]
                if colour_words:
                    background = full[~rendering.bird_mask]
                    share = background[:, colour_words].sum(axis=1).mean()
                    key = (stage, "background", "all")
                    sums[key] += np.array([0.0, 0.0, share, background.sum(axis=1).mean() - share])
                    counts[key] += 1
    results = collections.defaultdict(dict)
    for (stage, part, kind), total in sums.items():
        results[stage].setdefault(part, {})[kind] = {"shares": (total / counts[(stage, part, kind)]).tolist(),
                                                     "count": counts[(stage, part, kind)]}
    return dict(results)


def format_table(results: dict) -> str:
    from mimnet_tf.data.synthbirds.palette import COLOURABLE_PARTS

    lines = []
    for stage in sorted(results):
        lines += ["", f"{stage.upper()} word attention at each part's pixels (mean weight)",
                  "| part (caption changes it / keeps it) | n | " + " | ".join(COLUMNS) + " |",
                  "|---|---|" + "---|" * len(COLUMNS)]
        for part in [*COLOURABLE_PARTS, "background"]:
            for kind, row in sorted(results[stage].get(part, {}).items()):
                lines.append(f"| {part} ({kind}) | {row['count']} | " + " | ".join(f"{v:.3f}" for v in row["shares"]) + " |")
    return "\n".join(lines)


def main(argv):
    del argv
    from mimnet_tf.models.builder import load_generator

    trained = load_generator(_CHECKPOINT.value)
    results = measure(trained.generator, trained.vocab, trained.config.model.max_words, _CASES.value)
    print(f"Word binding of {_CHECKPOINT.value} on {_CASES.value} held-out edit cases "
          f"({trained.config.model.image_size} px)")
    print(format_table(results))


if __name__ == "__main__":
    app.run(main)
