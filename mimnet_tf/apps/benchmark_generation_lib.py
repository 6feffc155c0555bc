"""The SynthBirds text-to-image benchmark: a trained MirrorGAN drawing the scenes of a held-out split.

Each scene of the split (validation for every tuning decision, test for a shipped model's figures,
once) gets one caption: one of its template captions (the `describe` form, one of the training
forms) or, with another phrasing, the same (part, colour) items in that wording (`rephrase` of
the scene's identity case, `data/synthbirds/edit_cases.py`). The held-out families are written as
edit requests ("paint the wings blue"); they are used as prompts as they are. For each phrasing
the generator draws one bird per caption, and `score_phrasing` measures:
- attribute accuracy: how often the attribute probe reads, on the generated bird, the colour the
  caption names, per part and over every named part (chance 1 / 11); the same on the real
  renders of the scenes is the ceiling;
- R-precision (AttnGAN protocol: DAMSM cosine, the true caption among 100), of the generated
  images and of the real renders with the same captions;
- FID of the generated birds against the real renders, on the attribute probe's penultimate
  features (a network trained on SynthBirds, not Inception: comparable within this project);
  the real renders of as many other scenes against the same renders give the floor at this N;
- diversity: mean pairwise pixel L1 and probe-feature distance of several noise draws of one
  caption, averaged over captions; between real renders of different scenes as the reference;
- the prompts' words the model does not know (read as `<unk>`), typos it corrects, and words
  past its max_words.
`run` is what `python -m mimnet_tf.benchmark_generation` does; `benchmarks/mirrorgan_synthbirds.py`
calls `benchmark` on the generator it has just trained.
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable, Optional, Sequence

import numpy as np

from mimnet_tf.data.synthbirds import phrasings
from mimnet_tf.data.synthbirds.edit_cases import CASE_SPLITS, EditCase, identity_cases, rephrase
from mimnet_tf.data.synthbirds.palette import COLOURABLE_PARTS
from mimnet_tf.data.synthbirds.render import render, sample_scene
from mimnet_tf.data.text import split_words
from mimnet_tf.apps.evaluate_lib import load_damsm
from mimnet_tf.apps.generate_lib import generate_images
from mimnet_tf.images import pixels_to_unit_range
from mimnet_tf.metrics import attribute_probe
from mimnet_tf.metrics.attribute_probe import CHANCE, AttributeProbe
from mimnet_tf.metrics.inception import fid_from_activations
from mimnet_tf.metrics.similarity import mean_pairwise_distance, r_precision
from mimnet_tf.metrics.statistics import format_table, write_results
from mimnet_tf.models.mirrorgan import load_mirrorgan
from mimnet_tf.models.model_dir import ModelDir

RESULTS_NAME = "benchmark"
TITLE = "SynthBirds text-to-image benchmark"
REAL_COLUMN = "real renders"
# Folders a shipped MirrorGAN carries beside its generator (ship_model): the DAMSM of R-precision
# and the probe its table was measured with. A model directory without them uses the run's
# --damsm_dir and the probe cached in runs/attribute_probe.
DAMSM_SUBDIR = "damsm"
PROBE_SUBDIR = "attribute_probe"
R_PRECISION_CANDIDATES = 100
FID_FEATURES = "attribute probe penultimate features (per-part attended features; trained on SynthBirds renders)"


@dataclasses.dataclass(frozen=True)
class Settings:
    """How the benchmark draws and measures (shared by `run` and the training benchmark script).

    Attributes:
        num_captions: scenes of the split, one caption (and one generated bird) each.
        split: "validation" (tuning) or "test" (a shipped model's figures, once).
        phrasings: the caption phrasings, each a column (`phrasings.PHRASINGS`).
        seed: SynthBirds dataset seed (the scenes and their captions).
        noise_seed: seed of the generator's noise (the same seed draws the same birds).
        batch_size: captions per generator call.
        diversity_captions: captions whose spread over noise is measured (the first ones).
        diversity_samples: noise draws per such caption.
    """

    num_captions: int = 200
    split: str = "validation"
    phrasings: tuple[str, ...] = (phrasings.TEMPLATE,)
    seed: int = 0
    noise_seed: int = 1
    batch_size: int = 32
    diversity_captions: int = 20
    diversity_samples: int = 8

    def check(self) -> None:
        if self.num_captions < 2:
            raise ValueError(f"--num_captions={self.num_captions}: expected >= 2 (R-precision and FID compare captions)")
        if self.split not in CASE_SPLITS:
            raise ValueError(f"--split={self.split!r}: expected one of {', '.join(CASE_SPLITS)}")
        if not self.phrasings:
            raise ValueError("--phrasing is empty: name at least one phrasing, e.g. --phrasing=template")
        for phrasing in self.phrasings:
            if phrasing not in phrasings.PHRASINGS:
                raise ValueError(f"--phrasing={phrasing!r}: expected one of {', '.join(phrasings.PHRASINGS)}")
        if len(set(self.phrasings)) != len(self.phrasings):
            raise ValueError(f"--phrasing={','.join(self.phrasings)} names a phrasing twice")
        if self.diversity_samples < 2 or self.diversity_captions < 1:
            raise ValueError(f"--diversity_samples={self.diversity_samples}, --diversity_captions="
                             f"{self.diversity_captions}: expected >= 2 samples of >= 1 caption")
        if self.batch_size < 1:
            raise ValueError(f"--batch_size={self.batch_size}: expected >= 1")


def prompts(settings: Settings, phrasing: str) -> list[EditCase]:
    """The caption of every scene in `phrasing`: each scene's identity case (one of its template
    captions, with the parts it names) rephrased; `.caption` and `.named` are what is scored."""
    cases = identity_cases(settings.seed, settings.num_captions, split=settings.split)
    return [rephrase(case, phrasing, index, settings.seed) for index, case in enumerate(cases)]


def read_prompts(vocab, captions: Sequence[str], max_words: int) -> tuple[np.ndarray, dict]:
    """(token ids (N, max_words), what the vocabulary made of the words) of the prompts."""
    readings = [vocab.read(caption, max_words) for caption in captions]
    words = {
        "unknown_words": sum(len(r.unknown) for r in readings),
        "prompts_with_unknown": sum(bool(r.unknown) for r in readings),
        "corrected_words": sum(len(r.corrections) for r in readings),
        "cut_words": sum(max(0, len(split_words(c)) - max_words) for c in captions),
        "unknown_examples": sorted({w for r in readings for w in r.unknown})[:20],
    }
    return np.stack([r.ids for r in readings]), words


def draw(generator, token_ids: np.ndarray, seed: int, batch_size: int) -> np.ndarray:
    """One bird per row of `token_ids` (uint8), the noise of each batch keyed by its first row."""
    return np.concatenate([generate_images(generator, token_ids[start:start + batch_size], seed, stream=start)
                           for start in range(0, len(token_ids), batch_size)])


def spread(images: np.ndarray, probe: AttributeProbe) -> dict:
    """Mean pairwise pixel L1 (in [0, 1]) and probe-feature distance of a set of uint8 images."""
    return {"diversity_l1": mean_pairwise_distance(pixels_to_unit_range(images), "l1"),
            "diversity_features": mean_pairwise_distance(probe.features(images), "l2")}


def _accuracies(scores: dict) -> dict:
    return {"attribute_accuracy": scores["overall"], "named_parts": scores["count"],
            "attribute_accuracy_per_part": {p: v["accuracy"] for p, v in scores["parts"].items()}}


@dataclasses.dataclass
class Reference:
    """What every phrasing is measured against: the real renders of the split's scenes."""

    images: np.ndarray
    features: np.ndarray  # probe features, for FID
    damsm_features: Optional[np.ndarray]  # DAMSM global image features, for R-precision
    column: dict  # the real-renders column of the table


def reference(settings: Settings, size: int, probe: AttributeProbe, damsm) -> Reference:
    """Renders the split's scenes (and as many others, for the FID floor) and scores them."""
    cases = prompts(settings, phrasings.TEMPLATE)
    images = np.stack([render(case.source, size).image for case in cases])
    others = np.stack([render(sample_scene(settings.seed, settings.split, settings.num_captions + i), size).image
                       for i in range(settings.num_captions)])
    features = probe.features(images)
    column = {**_accuracies(probe.attribute_accuracy(images, [c.named_dict for c in cases])),
              "fid": fid_from_activations(probe.features(others), features),
              **spread(images[:64], probe), "captions": len(cases)}
    damsm_features = damsm.image_features(images) if damsm is not None else None
    return Reference(images, features, damsm_features, column)


def score_phrasing(generator, vocab, max_words: int, settings: Settings, phrasing: str, real: Reference,
                   probe: AttributeProbe, damsm=None) -> tuple[dict, np.ndarray]:
    """(the column of `phrasing`, the generated birds uint8 (N, S, S, 3))."""
    began = time.time()
    cases = prompts(settings, phrasing)
    captions = [case.caption for case in cases]
    token_ids, words = read_prompts(vocab, captions, max_words)
    generated = draw(generator, token_ids, settings.noise_seed, settings.batch_size)
    named = [case.named_dict for case in cases]
    column = {**_accuracies(probe.attribute_accuracy(generated, named)),
              "fid": fid_from_activations(probe.features(generated), real.features), **words}
    if phrasing == phrasings.HELD_OUT:
        families = [phrasings.family_for(phrasing, i) for i in range(len(cases))]
        column["per_family"] = {
            family: probe.attribute_accuracy(generated[[f == family for f in families]],
                                             [n for n, f in zip(named, families) if f == family])["overall"]
            for family in phrasings.HELD_OUT_FAMILIES if family in families}
    if damsm is not None:
        candidates = min(R_PRECISION_CANDIDATES, len(cases))
        texts = damsm.text_features(captions)
        column["r_precision"] = r_precision(damsm.image_features(generated), texts, candidates, seed=0)
        column["r_precision_real"] = r_precision(real.damsm_features, texts, candidates, seed=0)
    samples = settings.diversity_samples
    spreads = [spread(generate_images(generator, np.repeat(token_ids[k][None], samples, axis=0),
                                      settings.noise_seed + 1, stream=k), probe)
               for k in range(min(settings.diversity_captions, len(cases)))]
    column.update({key: float(np.mean([s[key] for s in spreads])) for key in spreads[0]})
    column.update(captions=len(cases), seconds=round(time.time() - began, 2), examples=captions[:3])
    return column, generated


def column_name(phrasing: str) -> str:
    return f"generated ({phrasing})"


def benchmark(generator, vocab, max_words: int, settings: Settings, probe: AttributeProbe, damsm=None,
              log: Callable[[str], None] = lambda _: None) -> dict:
    """Every phrasing of `settings` drawn by `generator` and scored, plus the real-renders column.

    Returns:
        {"columns": {column name: measures}, "images": {column name: uint8 images}}: one column
        per phrasing (`column_name`) and REAL_COLUMN last.
    """
    settings.check()
    size = int(generator.sizes[-1])
    real = reference(settings, size, probe, damsm)
    columns, images = {}, {}
    for phrasing in settings.phrasings:
        name = column_name(phrasing)
        columns[name], images[name] = score_phrasing(generator, vocab, max_words, settings, phrasing, real, probe,
                                                     damsm)
        log(f"{name}: attribute accuracy {columns[name]['attribute_accuracy']:.3f} "
            f"({columns[name]['seconds']} s)")
    columns[REAL_COLUMN], images[REAL_COLUMN] = real.column, real.images
    return {"columns": columns, "images": images}


def _get(key: str) -> Callable[[dict], object]:
    return lambda column: column.get(key)


def _part(part: str) -> Callable[[dict], object]:
    return lambda column: column["attribute_accuracy_per_part"].get(part)


# (row label, how to read it from a column); missing values show as "-".
MEASURES: tuple[tuple[str, Callable[[dict], object]], ...] = (
    (f"attribute accuracy (probe; chance {CHANCE:.3f})", _get("attribute_accuracy")),
    *((f"attribute accuracy: {part}", _part(part)) for part in COLOURABLE_PARTS),
    ("named parts scored", _get("named_parts")),
    ("R-precision (DAMSM)", _get("r_precision")),
    ("R-precision of the real renders, same captions", _get("r_precision_real")),
    ("FID vs the real renders (probe features)", _get("fid")),
    ("diversity: pixel L1 between samples", _get("diversity_l1")),
    ("diversity: probe-feature distance between samples", _get("diversity_features")),
    ("unknown words in the prompts", _get("unknown_words")),
    ("prompts with an unknown word", _get("prompts_with_unknown")),
    ("typos corrected", _get("corrected_words")),
    ("words past max_words", _get("cut_words")),
    *((f"attribute accuracy, family {family}", lambda c, f=family: c.get("per_family", {}).get(f))
      for family in phrasings.HELD_OUT_FAMILIES),
    ("captions", _get("captions")),
    ("seconds", _get("seconds")),
)


def comparison_rows(columns: dict[str, dict]) -> list[dict]:
    """One row per measure, one column per phrasing (and the real renders); rows nobody has
    (R-precision without a DAMSM, families without held_out) are left out."""
    rows = []
    for label, read in MEASURES:
        row = {"measure": label, **{name: read(column) for name, column in columns.items()}}
        if any(row[name] is not None for name in columns):
            rows.append(row)
    return rows


def notes(settings: Settings) -> str:
    """What the table's real-renders column and diversity rows mean (under the table)."""
    return (f"Real renders: the attribute accuracy ceiling; FID of {settings.num_captions} renders of other scenes "
            "of the split against the same renders (the floor at this number of images); diversity between "
            f"renders of different scenes. Generated diversity: {settings.diversity_samples} noise draws of each of "
            f"the first {settings.diversity_captions} captions. Held-out families are edit requests, used as "
            "prompts as they are.")


def default_damsm_dir(model_dir: str, config) -> str:
    """A shipped model's own DAMSM (`<model_dir>/damsm`), else the run's --damsm_dir."""
    own = os.path.join(model_dir, DAMSM_SUBDIR)
    return own if ModelDir(own).has_config() else config.model.damsm_dir


def load_probe(model_dir: str, probe_dir: str, log: Callable[[str], None]) -> AttributeProbe:
    """The probe in `probe_dir` as it is (trained there with the default configuration if it holds
    none); without `probe_dir`, a shipped model's own (`<model_dir>/attribute_probe`), else the one
    cached in runs/attribute_probe (retrained there if its configuration is not the default)."""
    directory = probe_dir or os.path.join(model_dir, PROBE_SUBDIR)
    if os.path.exists(os.path.join(directory, attribute_probe.META_FILENAME)):
        probe = AttributeProbe.load(directory)
        log(f"Attribute probe loaded from {directory} (held-out accuracy {probe.held_out.get('mean')})")
        return probe
    return AttributeProbe.load_or_train(probe_dir or attribute_probe.DEFAULT_DIR, log=log)


def _named(path: str, config: "BenchmarkConfig") -> str:
    """`path`, with the model directory spelled as `config.model_name` when it lies inside it (ship_model
    benchmarks a staging folder that is renamed into place afterwards)."""
    if config.model_name and os.path.commonpath([os.path.abspath(path), os.path.abspath(config.checkpoint)]) == \
            os.path.abspath(config.checkpoint):
        return os.path.join(config.model_name, os.path.relpath(path, config.checkpoint))
    return path


@dataclasses.dataclass(frozen=True)
class BenchmarkConfig:
    """What `python -m mimnet_tf.benchmark_generation` runs.

    Attributes:
        checkpoint: the MirrorGAN model directory (its latest checkpoint is scored).
        settings: what is drawn and measured.
        damsm_dir: DAMSM of R-precision ("": the model's own `damsm/`, else its --damsm_dir;
            none there: R-precision is skipped).
        probe_dir: attribute probe ("": the model's own `attribute_probe/`, else the one cached
            in runs/attribute_probe, trained there on first use).
        out: folder of benchmark.json / benchmark.md ("" writes nothing).
        model_name: what those files call the model (default: checkpoint).
    """

    checkpoint: str
    settings: Settings = Settings()
    damsm_dir: str = ""
    probe_dir: str = ""
    out: str = ""
    model_name: str = ""


def run(config: BenchmarkConfig, log: Callable[[str], None] = print, probe: Optional[AttributeProbe] = None) -> dict:
    """Loads the model, the DAMSM and the probe (unless given), scores, writes; returns the results.

    Returns:
        {"columns": {name: measures}, "rows": comparison rows, "table": Markdown, "paths": (json, md)
        when written, "metadata": what the files record besides the rows}.
    """
    settings = config.settings
    settings.check()
    if not config.checkpoint:
        raise ValueError("--checkpoint is required: a model directory written by mimnet_tf.train --model=mirrorgan")
    trained = load_mirrorgan(config.checkpoint)
    damsm = load_damsm(config.damsm_dir or default_damsm_dir(config.checkpoint, trained.config), log)
    probe = probe or load_probe(config.checkpoint, config.probe_dir, log)
    size = int(trained.generator.sizes[-1])
    log(f"{TITLE}: {settings.num_captions} {settings.split} scenes at {size} px (seed {settings.seed}), "
        f"phrasings: {', '.join(settings.phrasings)}; model {trained.checkpoint_path}")
    results = benchmark(trained.generator, trained.vocab, trained.config.model.max_words, settings, probe, damsm, log)
    columns = results["columns"]
    rows = comparison_rows(columns)
    title = f"{TITLE} ({settings.split} scenes)"
    metadata = {
        "checkpoint": config.model_name or config.checkpoint, "step": int(trained.checkpoint_path.rsplit("-", 1)[-1]),
        "split": settings.split, "num_captions": settings.num_captions, "seed": settings.seed,
        "noise_seed": settings.noise_seed, "size": size, "phrasings": list(settings.phrasings),
        "chance": CHANCE, "probe_held_out_accuracy": probe.held_out.get("mean"),
        "fid_features": f"{FID_FEATURES}, {probe.features(results['images'][REAL_COLUMN][:1]).shape[1]} dims",
        "damsm_dir": _named(damsm.damsm_dir, config) if damsm is not None else None,
        "r_precision_candidates": min(R_PRECISION_CANDIDATES, settings.num_captions) if damsm is not None else None,
        "diversity": f"{settings.diversity_samples} samples x {settings.diversity_captions} captions",
        "examples": {name: column.get("examples") for name, column in columns.items() if "examples" in column},
        "unknown_examples": {name: column["unknown_examples"] for name, column in columns.items()
                             if column.get("unknown_examples")},
        "notes": notes(settings),
    }
    output = {"columns": columns, "rows": rows, "metadata": metadata, "paths": (),
              "table": format_table(rows, ["measure", *columns], title=title)}
    if config.out:
        output["paths"] = write_results(os.path.join(config.out, RESULTS_NAME), rows, ["measure", *columns],
                                        title=title, metadata=metadata)
    return output
