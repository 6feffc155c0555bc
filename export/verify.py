"""Every export scores what it wrote against the Keras model it was made from, and refuses a bad one.

    results = check_exports(trained, {"int8": Written(path, json_path, runner, batch_size=1)}, CheckConfig())
    raise_if_failed(results)

For each written model (a TFLite variant, the ONNX file, the SavedModel):
- PSNR of its edited image against Keras (and the max abs difference of both outputs) on real
  inputs: training images with their captions, after the ones int8 calibrates on;
- for a SynthBirds model, the edit benchmark's attribute accuracy, kept accuracy and background
  L1 on the first `cases` benchmark cases of the validation split (never the test split: these
  figures decide what ships), for the export and for Keras on the same cases.
A MirrorGAN's exports (text to image) are checked on PSNR alone: their generated image against
Keras' on training captions, each with a fixed noise draw (export/generate_common.py).

A model passes when PSNR >= min_psnr and its attribute accuracy is at most max_accuracy_drop
below Keras'. The figures go into the model's JSON (key "checks"); a model that fails is moved
aside to `<name>.rejected<ext>` (nothing is deleted, nothing loads it by its usual name) unless
`keep_failing`, and `raise_if_failed` makes the exporter exit non-zero.

The exporters check what they wrote before it takes its name (a `Checker` passed as `checker=`):
the models are scored in the export's temporary folder (mimnet_tf/files.py), and a refused one
is published under its `.rejected` name only, so it never replaces a good export already there.
`check_exports` checks models already in place (the latency benchmark, a copied file).
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable, Optional

import numpy as np

from mimnet_tf import files
from mimnet_tf.apps.benchmark_edits_lib import render_cases, score_editor
from mimnet_tf.inference.editors import GeneratorEditor, RunnerEditor
from mimnet_tf.export import common, generate_common

REJECTED_TAG = ".rejected"
BENCHMARK_SPLIT = "validation"  # the test split is kept for a model's reported figures


class ExportCheckError(ValueError):
    """An export below its thresholds (the exporters' entry points exit 2 with this message)."""


@dataclasses.dataclass(frozen=True)
class CheckConfig:
    """Attributes:
        cases: SynthBirds benchmark cases scored (SynthBirds models only; 0 skips accuracy).
        examples: training examples the PSNR is measured on.
        min_psnr: dB of the export's edited image against Keras.
        max_accuracy_drop: how far the export's attribute accuracy may fall below Keras'.
        keep_failing: keep a failing model under its name (the exporter still exits non-zero).
        skip_examples: training examples to skip first (the int8 calibration set).
    """

    cases: int = 64
    examples: int = 16
    min_psnr: float = 35.0
    max_accuracy_drop: float = 0.02
    keep_failing: bool = False
    skip_examples: int = 0

    def __post_init__(self):
        if self.cases < 0 or self.examples < 1:
            raise ValueError(f"--check_cases={self.cases} / --check_examples={self.examples}: expected >= 0 and >= 1")
        if self.max_accuracy_drop < 0:
            raise ValueError(f"--max_accuracy_drop={self.max_accuracy_drop}: expected >= 0")


@dataclasses.dataclass(frozen=True)
class Written:
    """A model an exporter wrote: its path (file or directory), the JSON that records its checks,
    `runner(image, token_ids) -> {edited_image, localisation_map}` (a MirrorGAN's:
    `runner(token_ids=, noise=, condition_noise=) -> {generated_image}`) and its static batch (None: any)."""

    path: str
    json_path: str
    runner: Callable[..., dict]
    batch_size: Optional[int] = None


class _Reference:
    """What every export of one model is compared with, computed once: inputs and Keras' scores."""

    def __init__(self, trained, config: CheckConfig):
        self.trained = trained
        self.config = config
        self.examples, self.inputs = _check_examples(trained, config)
        mirrorgan = generate_common.is_mirrorgan(trained)
        self.compare = generate_common.compare if mirrorgan else common.compare
        self.cases = None
        self.keras = None
        if config.cases and trained.config.data.dataset == "synthbirds" and not mirrorgan:  # an edit benchmark
            model = trained.config.model
            self.cases = render_cases(config.cases, model.image_size, identity=False, split=BENCHMARK_SPLIT)
            self.keras = self.score(GeneratorEditor(trained.generator, trained.vocab, model.max_words))

    def score(self, editor) -> dict:
        summary, _ = score_editor(editor, self.cases["edit_cases"], self.trained.config.model.image_size,
                                  rendered=self.cases["edit"])
        return {key: summary[key] for key in ("attribute_accuracy", "kept_accuracy", "background_l1")}


def _check_examples(trained, config: CheckConfig) -> tuple[list[dict], str]:
    """Training examples after the calibration ones; without training data, test/random ones.

    A MirrorGAN's are the same captions, each with its fixed noise (generate_common.generation_examples).
    """
    found, missing = "training images and captions", "test images"
    if generate_common.is_mirrorgan(trained):
        found, missing = "training captions", "test captions"
    try:
        examples = generate_common.parity_examples(trained, config.skip_examples + config.examples, split="train")
        return examples[config.skip_examples:] or examples[-config.examples:], found
    except FileNotFoundError:
        return generate_common.parity_examples(trained, config.examples), f"{missing} (no training data found)"


def check(reference: _Reference, written: Written) -> dict:
    """The figures of one written model and whether it passes."""
    config = reference.config
    batches = common.group(reference.examples, written.batch_size or 1)
    parity = reference.compare(reference.trained, written.runner, batches)
    figures = {"psnr_vs_keras_db": _finite(parity["psnr"]), "max_abs_diff": parity["max_abs_diff"],
               "psnr_inputs": f"{len(batches) * (written.batch_size or 1)} {reference.inputs}",
               "megabytes": round(common.file_megabytes(written.path), 3)}
    failures = []
    if not parity["psnr"] >= config.min_psnr:
        failures.append(f"PSNR vs Keras {parity['psnr']:.1f} dB < {config.min_psnr:g} dB")
    if reference.cases is not None:
        scores = reference.score(_editor(written, reference.trained))
        figures.update({"benchmark_cases": config.cases, "benchmark_split": BENCHMARK_SPLIT, **scores,
                        **{f"keras_{key}": value for key, value in reference.keras.items()}})
        drop = reference.keras["attribute_accuracy"] - scores["attribute_accuracy"]
        if drop > config.max_accuracy_drop:
            failures.append(f"attribute accuracy {scores['attribute_accuracy']:.3f} is {drop:.3f} below Keras' "
                            f"{reference.keras['attribute_accuracy']:.3f} (allowed {config.max_accuracy_drop:g})")
    figures.update({"thresholds": {"min_psnr_db": config.min_psnr, "max_accuracy_drop": config.max_accuracy_drop},
                    "passed": not failures, "failures": failures})
    return figures


def _finite(value: float):
    return round(float(value), 2) if np.isfinite(value) else "inf"


def _editor(written: Written, trained):
    model = trained.config.model
    return RunnerEditor(written.runner, trained.vocab, model.image_size, model.max_words, written.batch_size)


def record(json_path: str, figures: dict) -> None:
    """Writes the figures under "checks" into the model's JSON (created if missing)."""
    values = {}
    if os.path.exists(json_path):
        with open(json_path, encoding="utf-8") as f:
            values = json.load(f)
    values["checks"] = figures
    common.write_metadata(json_path, values)


def rejected_path(path: str) -> str:
    """models/tflite/mimnet_int8.tflite -> models/tflite/mimnet_int8.rejected.tflite; a directory gets the tag."""
    stem, ext = os.path.splitext(path.rstrip(os.sep))
    if os.path.isdir(path):
        stem, ext = path.rstrip(os.sep), ""
    return stem + REJECTED_TAG + ext


def reject(written: Written) -> str:
    """Moves a failing model (and its JSON, when it sits beside it) aside; returns the new path.

    It replaces an older rejected copy of the same export; of a rejected folder, the files the
    new one does not hold are kept aside (files.publish_folder), never deleted.
    """
    target = rejected_path(written.path)
    if os.path.isdir(written.path):
        files.publish_folder(written.path, target, True, "--out")
    else:
        os.replace(written.path, target)
    beside = os.path.splitext(written.path)[0] + ".json"
    if written.json_path == beside and os.path.exists(beside):
        os.replace(beside, os.path.splitext(target)[0] + ".json")
    return target


class Checker:
    """Checks the exports of one model as the exporters write them (their `checker=` argument).

    The Keras reference is computed once for every model checked; `results` gathers the figures
    of all of them ({name: figures}, a refused one's with "rejected_to", where it was published).
    """

    def __init__(self, trained, config: CheckConfig = CheckConfig()):
        self.trained = trained
        self.config = config
        self.results: dict[str, dict] = {}
        self._reference: Optional[_Reference] = None

    def check(self, written: dict[str, Written]) -> dict[str, dict]:
        """Scores every written model and records its figures in its JSON; nothing moves."""
        if self._reference is None:
            self._reference = _Reference(self.trained, self.config)
        for name, model in written.items():
            self.results[name] = check(self._reference, model)
            record(model.json_path, self.results[name])
        return {name: self.results[name] for name in written}

    def refused(self, name: str) -> bool:
        """Whether the model `name` failed its checks and goes aside (always, unless keep_failing)."""
        return not self.results[name]["passed"] and not self.config.keep_failing

    def check_staged_files(self, written: dict[str, Written], folder: str) -> list[str]:
        """Checks models written into an export's temporary folder before they move into `folder`;
        renames each refused one (with its JSON) to its rejected name there.

        Returns the file names of the rejected copies, which replace older rejected copies in `folder`.
        """
        self.check(written)
        replaced = []
        for name, model in written.items():
            if self.refused(name):
                target = os.path.basename(reject(model))
                self.results[name]["rejected_to"] = os.path.join(folder, target)
                replaced += [target, os.path.splitext(target)[0] + ".json"]
        return replaced

    def check_staged_folder(self, name: str, written: Written, destination: str) -> Optional[str]:
        """Checks a model folder written into a temporary sibling of `destination`; returns where
        it goes instead when refused (`<destination>.rejected`), else None."""
        self.check({name: written})
        if not self.refused(name):
            return None
        self.results[name]["rejected_to"] = rejected_path(destination)
        return self.results[name]["rejected_to"]


def check_exports(trained, written: dict[str, Written], config: CheckConfig = CheckConfig()) -> dict[str, dict]:
    """Checks and records models already in place and (unless keep_failing) moves failing ones
    aside; {name: figures}. A failing model's figures carry "rejected_to" when it was moved.
    """
    checker = Checker(trained, config)
    results = checker.check(written)
    for name, model in written.items():
        if checker.refused(name):
            results[name]["rejected_to"] = reject(model)
    return results


def passing(results: dict[str, dict]) -> list[str]:
    return [name for name, figures in results.items() if figures["passed"]]


def format_results(results: dict[str, dict]) -> str:
    """One line per model: file size, PSNR vs Keras, attribute accuracy next to Keras', verdict."""
    lines = [f"{'model':10} {'MB':>7} {'max |diff|':>10} {'PSNR vs Keras':>14} {'attr. acc (Keras)':>18} "
             f"{'kept':>6} {'bg L1':>6}  check"]
    for name, figures in results.items():
        psnr = figures["psnr_vs_keras_db"]
        accuracy = kept = background = "-"
        if "attribute_accuracy" in figures:
            accuracy = f"{figures['attribute_accuracy']:.3f} ({figures['keras_attribute_accuracy']:.3f})"
            kept = f"{figures['kept_accuracy']:.3f}"
            background = f"{figures['background_l1']:.4f}"
        verdict = "ok" if figures["passed"] else "FAILED: " + "; ".join(figures["failures"])
        if "rejected_to" in figures:
            verdict += f" -> moved to {figures['rejected_to']}"
        lines.append(f"{name:10} {figures['megabytes']:7.3f} {figures['max_abs_diff']:10.2e} "
                     f"{psnr if isinstance(psnr, str) else f'{psnr:.1f}':>11} dB {accuracy:>18} {kept:>6} "
                     f"{background:>6}  {verdict}")
    return "\n".join(lines)


def raise_if_failed(results: dict[str, dict], config: CheckConfig) -> None:
    failed = {name: figures for name, figures in results.items() if not figures["passed"]}
    if failed:
        where = "kept (--keep_failing)" if config.keep_failing else "moved aside"
        raise ExportCheckError("; ".join(f"{name}: {', '.join(f['failures'])}" for name, f in failed.items())
                               + f" ({where}; thresholds: --min_psnr, --max_accuracy_drop)")
