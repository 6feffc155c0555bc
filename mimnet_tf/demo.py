"""`make demo`: SynthBirds from nothing to a report, on a CPU.

1. Renders and prepares SynthBirds (the embedded dataset) as configs/synthbirds.flags says.
2. Trains a short run from scratch with the documented recipe (MIM-Net; DAMSM pretraining first
   only for a flagfile that starts from a DAMSM), within a time budget, to show that training
   works on this machine.
3. Takes the shipped model (`pretrained/synthbirds64`, trained by the documented full command,
   see its README) when it is there, else the short run, and exports it (SavedModel, TFLite,
   ONNX), edits sample images with sentences, runs the SynthBirds edit benchmark on both models
   (plus the no-edit baseline) and writes the visual report.
Everything lands in --out; the last line printed is the report's path.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

from absl import app, flags, logging

from mimnet_tf import flags as mimnet_flags

mimnet_flags.define_flags()
_OUT = flags.DEFINE_string("out", "demo_output", "Where everything the demo makes goes.")
_SHIPPED = flags.DEFINE_string("shipped_model", "pretrained/synthbirds64",
                               "The shipped model directory ('' to use only the short run).")
_MINUTES = flags.DEFINE_float("train_minutes", 12.0,
                              "Time budget of the short training run (DAMSM, if any, + MIM-Net).")
_DAMSM_SHARE = flags.DEFINE_float("damsm_share", 0.25,
                                  "Share of the budget for DAMSM pretraining (when the flagfile starts from a DAMSM).")
_CASES = flags.DEFINE_integer("num_cases", 200, "SynthBirds edit cases in the benchmark.")
FLAGS = flags.FLAGS

SAMPLE_EDITS = (
    "this bird has blue wings and a red crown",
    "a small bird with a yellow belly and black wings",
    "the bird has a white head and a green tail",
    "this bird has purple wings, an orange belly and a short pink beak",
)


def _say(message: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {message}", flush=True)


def short_training(config, out: str) -> str:
    """MIM-Net sized to the time budget (after DAMSM pretraining, if the flagfile starts from a
    DAMSM); returns the model directory."""
    from mimnet_tf import pretrain_damsm_lib, train_lib

    budget = _MINUTES.value * 60
    model_dir = os.path.join(out, "runs", "synthbirds_short")
    began = time.time()
    if config.model.damsm_dir:  # the paper's start; configs/synthbirds.flags trains its encoders from scratch
        damsm_dir = os.path.join(out, "runs", "synthbirds_damsm")
        # ~0.08 s per DAMSM step (batch 16, 64 px) on 2 quiet cores; 0.1 leaves room for a busy machine.
        damsm_steps = max(100, min(config.train.damsm_steps or 10**9, int(budget * _DAMSM_SHARE.value / 0.1)))
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, damsm_dir=damsm_dir),
                                     train=dataclasses.replace(config.train, damsm_steps=damsm_steps))
        if not os.path.exists(os.path.join(damsm_dir, "damsm_summary.json")):
            _say(f"Pretraining DAMSM for {damsm_steps} steps into {damsm_dir}")
            pretrain_damsm_lib.pretrain_damsm(config, log=_say)
    left = max(budget - (time.time() - began), 60.0)
    _say(f"Training MIM-Net for {left / 60:.1f} min into {model_dir}")
    run = dataclasses.replace(config, train=dataclasses.replace(config.train, model_dir=model_dir))
    trained = train_lib.train_for_minutes(run, left / 60.0, chunk_steps=100, log=_say)
    _say(f"Short run done: step {trained['step']} in {time.time() - began:.0f} s"
         + (" (DAMSM included)" if config.model.damsm_dir else ""))
    return model_dir


def export_all(model_dir: str, out: str, data_config) -> dict:
    """Exports every format; the int8 TFLite calibrates on `data_config`'s training images (the
    demo's own SynthBirds, also for a shipped model whose config names another data directory)."""
    from mimnet_tf.export.common import load_checkpoint
    from mimnet_tf.export.onnx import export_onnx
    from mimnet_tf.export.saved_model import export_saved_model
    from mimnet_tf.export.tflite import export_tflite

    trained = load_checkpoint(model_dir)
    trained = trained._replace(config=dataclasses.replace(trained.config, data=data_config))
    # A rerun of the demo replaces its own exports (files it did not write are kept aside).
    paths = {"saved_model": export_saved_model(trained, os.path.join(out, "models", "mimnet", "1"), overwrite=True)}
    paths["tflite"] = export_tflite(trained, os.path.join(out, "models", "tflite"), variants=("fp32", "int8"),
                                    overwrite=True)
    paths["onnx"] = export_onnx(trained, os.path.join(out, "models", "onnx"), overwrite=True)
    return paths


def sample_edits(model_dir: str, out: str) -> list[str]:
    """Edits a few SynthBirds test images with SAMPLE_EDITS; writes image, edit and map overlay."""
    from mimnet_tf import images
    from mimnet_tf.data.synthbirds.render import render, sample_scene
    from mimnet_tf.edit_lib import edit_images
    from mimnet_tf.editors import load_editor

    editor = load_editor(checkpoint=model_dir)
    folder = os.path.join(out, "edits")
    os.makedirs(folder, exist_ok=True)
    pictures = [render(sample_scene(0, "test", i), 128).image for i in range(len(SAMPLE_EDITS))]
    written = []
    for i, (picture, text, result) in enumerate(zip(pictures, SAMPLE_EDITS,
                                                   edit_images(editor, pictures, SAMPLE_EDITS))):
        stem = os.path.join(folder, f"{i:02d}")
        images.save_image(f"{stem}_source.png", picture)
        images.save_image(f"{stem}_edited.png", result.edited)
        images.save_image(f"{stem}_map.png", result.map_overlay)
        written.append(f"{stem}_edited.png  <- \"{text}\"")
    return written


def main(argv) -> None:
    if len(argv) > 1:
        print(f"demo: error: unexpected arguments {argv[1:]}", file=sys.stderr)
        sys.exit(2)
    logging.set_verbosity(logging.WARNING)
    from mimnet_tf import benchmark_edits_lib, report_lib, train_lib

    out = _OUT.value
    os.makedirs(out, exist_ok=True)
    config = mimnet_flags.config_from_flags(FLAGS)
    config = dataclasses.replace(config, data=dataclasses.replace(
        config.data, data_dir=os.path.join(out, "data", "synthbirds"), prepared_dir=""))
    _say(f"SynthBirds data in {config.data.data_dir}")
    train_lib.ensure_prepared_data(config.data, log=_say)

    short_dir = short_training(config, out)
    shipped = _SHIPPED.value if _SHIPPED.value and os.path.isdir(_SHIPPED.value) else ""
    if _SHIPPED.value and not shipped:
        _say(f"No shipped model at {_SHIPPED.value}: the short run is used for everything below")
    main_dir = shipped or short_dir

    _say(f"Exporting {main_dir}")
    exports = export_all(main_dir, out, config.data)
    for kind, path in exports.items():
        _say(f"  {kind}: {path}")
    for line in sample_edits(main_dir, out):
        _say(f"  edit: {line}")

    results = {}
    for name, model_dir in (("shipped", shipped), ("short run", short_dir)):
        if not model_dir:
            continue
        bench_out = os.path.join(out, "benchmark", name.replace(" ", "_"))
        _say(f"SynthBirds edit benchmark of the {name} model ({_CASES.value} cases)")
        result = benchmark_edits_lib.run(benchmark_edits_lib.BenchmarkConfig(
            checkpoint=model_dir, num_cases=_CASES.value, out=bench_out), log=lambda *_: None)
        results[name] = result
        print(result["table"], flush=True)
    with open(os.path.join(out, "benchmark", "summary.json"), "w", encoding="utf-8") as f:
        json.dump({name: r["results"] for name, r in results.items()}, f, indent=2, default=str)

    report_dir = os.path.join(out, "report")
    benchmark_json = os.path.join(out, "benchmark", "shipped" if shipped else "short_run", "benchmark.json")
    path = report_lib.write_report(report_lib.ReportConfig(checkpoint=main_dir, out=report_dir,
                                                           benchmark_json=benchmark_json))
    _say("Report written")
    print(os.path.abspath(path if isinstance(path, str) else os.path.join(report_dir, "index.html")))


def run() -> None:
    app.run(main)


if __name__ == "__main__":
    run()
