"""Packing a trained model directory for shipping (see ship_model.py)."""
from __future__ import annotations

import os
import shutil
from typing import Callable

from mimnet_tf import files
from mimnet_tf.apps import benchmark_edits_lib, benchmark_subset, ship_mirrorgan_lib
from mimnet_tf.data.synthbirds import phrasings
from mimnet_tf.export.common import load_checkpoint, model_kind
from mimnet_tf.inference.editors import load_editor
from mimnet_tf.models.checkpointing import save_generator
from mimnet_tf.models.mirrorgan import load_mirrorgan
from mimnet_tf.models.model_dir import LOG_FILENAME, SUMMARY_FILENAME, ModelDir
# 1,000 cases (~1,650 changed parts) put the attribute accuracy's standard error near 0.007;
# 200 cases, the benchmark's own default, near 0.016.
BENCHMARK_CASES = 1000
# A shipped model's table: its test cases, once, in every phrasing the benchmark has.
SHIP_SPLIT = "test"
SHIP_PHRASINGS = ("template", "held_out", "no_bird", "typo")
LOG_FILES = (LOG_FILENAME, SUMMARY_FILENAME)


def write_generator_checkpoint(trained, out_dir: str) -> str:
    """Writes `out_dir/checkpoints/ckpt-<step>` holding only the generator's variables."""
    step = int(os.path.basename(trained.checkpoint_path).rsplit("-", 1)[-1])
    return save_generator(trained.generator, ModelDir(out_dir).checkpoint_dir, step)


def subset_scores(result: dict) -> dict:
    """The measures of one benchmark result that a re-run on the same cases must reproduce."""
    edit, identity = result["edit"], result["identity"]
    keys = ("attribute_accuracy", "kept_accuracy", "unnamed_preserved", "background_l1", "gt_l1", "diff",
            "map_inside", "map_outside")
    return {**{k: edit[k] for k in keys}, "identity_diff": identity["diff"]}


def score_subset(model_dir: str, num_cases: int, split: str = SHIP_SPLIT) -> dict:
    """The subset measures of the model in `model_dir` on the first `num_cases` edit cases of `split`
    (a MirrorGAN: its text-to-image measures on the first `num_cases` test scenes)."""
    if model_kind(model_dir) == "mirrorgan":
        return ship_mirrorgan_lib.score_subset(model_dir, num_cases)
    editor = load_editor(model_dir)
    return subset_scores(benchmark_edits_lib.run_benchmark(editor, num_cases=num_cases, size=editor.image_size, split=split))


def ship(checkpoint: str, out: str, benchmark_cases: int = BENCHMARK_CASES, subset_cases: int = 40,
         log: Callable[[str], None] = print, damsm_dir: str = "", probe_dir: str = "") -> list[str]:
    """Packs `checkpoint` (a model directory) into `out`; returns the paths written.

    A MIM-Net gets the edit benchmark on `benchmark_cases` test cases, Sim / MP scored with
    `damsm_dir`'s DAMSM (default the checkpoint's; none: skipped). A MirrorGAN gets the
    text-to-image benchmark on `benchmark_cases` test scenes, with its DAMSM (`damsm_dir`, default
    the run's) and attribute probe (`probe_dir`, default runs/attribute_probe) packed beside it,
    and a README (ship_mirrorgan_lib.py).

    Everything is written into a temporary sibling of `out` that is renamed into place at the end:
    a killed run leaves no half-shipped model. An existing non-empty `out` is refused.
    """
    if not out:
        raise ValueError("--out is required: the directory of the shipped model")
    if ModelDir(out).has_config():
        raise FileExistsError(f"--out={out} already holds a model; remove it first")
    if os.path.isfile(out) or (os.path.isdir(out) and os.listdir(out)):
        raise FileExistsError(f"--out={out} exists and is not an empty folder: ship into a new one")
    mirrorgan = model_kind(checkpoint) == "mirrorgan"
    trained = load_mirrorgan(checkpoint) if mirrorgan else load_checkpoint(checkpoint)
    relative: list[str] = []

    def write(folder: str) -> None:
        shutil.copy(ModelDir(checkpoint).config_path, folder)
        trained.vocab.save(folder)
        paths = [ModelDir(folder).config_path, write_generator_checkpoint(trained, folder)]
        for name in LOG_FILES:
            if os.path.exists(os.path.join(checkpoint, name)):
                paths.append(shutil.copy(os.path.join(checkpoint, name), folder))
        log(f"Packed the generator of {trained.checkpoint_path} into {out}")
        if mirrorgan:
            paths.extend(ship_mirrorgan_lib.pack(checkpoint, out, trained, folder, benchmark_cases, subset_cases, log,
                                                 damsm_dir, probe_dir))
        elif benchmark_cases > 0:
            # "" falls back to the packed model's own damsm_dir (benchmark_edits_lib.run does that).
            output = benchmark_edits_lib.run(benchmark_edits_lib.BenchmarkConfig(
                checkpoint=folder, num_cases=benchmark_cases, damsm_dir=damsm_dir, out=folder, split=SHIP_SPLIT,
                phrasings=SHIP_PHRASINGS, model_name=out), log)
            paths.extend(output["paths"])
            paths.append(benchmark_subset.write(folder, subset_cases, SHIP_SPLIT, phrasings.TEMPLATE,
                                                score_subset(folder, subset_cases)))
        relative.extend(os.path.relpath(path, folder) for path in paths)

    files.write_folder(out, False, "--out", write, log)
    return [os.path.join(out, path) for path in relative]
