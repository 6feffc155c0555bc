"""`make demo`: SynthBirds from nothing to a report, on a CPU.

1. Renders and prepares SynthBirds (the embedded dataset) as configs/synthbirds.flags says.
2. Trains a short run from scratch with the documented recipe (MIM-Net; DAMSM pretraining first
   only for a flagfile that starts from a DAMSM), within a time budget, to show that training
   works on this machine.
3. Takes the shipped model (`pretrained/synthbirds64`, trained by the documented full command,
   see its README) when it is there, else the short run, and exports it (SavedModel, TFLite,
   ONNX), edits sample images with sentences, runs the SynthBirds edit benchmark on both models
   (plus the no-edit baseline) and writes the visual report.
It measures how much of the machine the short run got (mimnet_tf/machine_load.py: its CPU time
against /proc/stat's) and says so beside that run's figures, on the console and in the report:
a time budget on a busy machine trains fewer steps. Everything lands in --out; the demo ends
with a summary (demo_lib.py, also written to <out>/summary.txt): where the report is, both
models' figures, and the command that edits your own picture next.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

from absl import app, flags, logging

from mimnet_tf import machine_load
from mimnet_tf.apps import demo_lib
from mimnet_tf import flags as mimnet_flags
from mimnet_tf.training.precision import cpu_has_bfloat16

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


def short_training(config, out: str) -> dict:
    """MIM-Net sized to the time budget (after DAMSM pretraining, if the flagfile starts from a
    DAMSM); returns {"model_dir", "step", "train_seconds", "usage": the CPU share it got}."""
    from mimnet_tf.apps import pretrain_damsm_lib, train_lib

    budget = _MINUTES.value * 60
    model_dir = os.path.join(out, "runs", "synthbirds_short")
    began = time.time()
    start = machine_load.sample()
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
    # Each chunk ends with a checkpoint and a new input iterator (~2 s here): 500-step chunks keep
    # that under 2 % of the budget (100-step ones cost ~10 %); the last chunk still ends in time.
    trained = train_lib.train_for_minutes(run, left / 60.0, chunk_steps=500, log=_say)
    end = machine_load.sample()
    usage = machine_load.share(start, end) if start and end else None
    overhead = "set-up and DAMSM" if config.model.damsm_dir else "set-up"
    _say(f"Short run done: {demo_lib.describe_training(trained['step'], trained['train_seconds'], left)}, "
         f"{time.time() - began:.0f} s with {overhead}; {machine_load.describe(usage)}")
    return {"model_dir": model_dir, "step": trained["step"], "train_seconds": trained["train_seconds"],
            "budget_seconds": left, "usage": usage}


def export_all(model_dir: str, out: str, data_config) -> dict:
    """Exports every format and keeps only what passes its checks against Keras (export/verify.py:
    PSNR >= 35 dB, attribute accuracy within 0.02 of Keras on 64 benchmark cases); a failing model
    is written under its *.rejected* name instead. The int8 TFLite calibrates on `data_config`'s
    training images (the demo's own SynthBirds, also for a shipped model whose config names another
    data directory)."""
    from mimnet_tf.config import ExportConfig
    from mimnet_tf.export import onnx, saved_model, tflite, verify
    from mimnet_tf.export.common import load_checkpoint

    trained = load_checkpoint(model_dir)
    trained = trained._replace(config=dataclasses.replace(trained.config, data=data_config))
    samples = ExportConfig().representative_samples
    checker = verify.Checker(trained, verify.CheckConfig(skip_examples=samples))
    # A rerun of the demo replaces its own exports (files it did not write are kept aside); a
    # refused one goes to its *.rejected* name and never replaces the last good one.
    saved_dir = saved_model.export_saved_model(trained, os.path.join(out, "models", "mimnet", "1"), overwrite=True,
                                               checker=checker)
    tflite_paths = tflite.export_tflite(trained, os.path.join(out, "models", "tflite"), ("fp32", "int8"), samples,
                                        overwrite=True, checker=checker)
    onnx_path = onnx.export_onnx(trained, os.path.join(out, "models", "onnx"), overwrite=True, checker=checker)
    for line in verify.format_results(checker.results).splitlines():
        _say(f"  {line}")
    kept = verify.passing(checker.results)
    paths = {"saved_model": saved_dir} if saved_model.NAME in kept else {}
    paths["tflite"] = {variant: path for variant, path in tflite_paths.items() if variant in kept}
    if onnx.NAME in kept:
        paths["onnx"] = onnx_path
    return paths


def sample_edits(model_dir: str, out: str) -> list[str]:
    """Edits a few SynthBirds test images with SAMPLE_EDITS; writes image, edit and map overlay."""
    from mimnet_tf import images
    from mimnet_tf.data.synthbirds.render import render, sample_scene
    from mimnet_tf.inference.editor import Editor

    editor = Editor.from_preset(model_dir)
    folder = os.path.join(out, "edits")
    os.makedirs(folder, exist_ok=True)
    pictures = [render(sample_scene(0, "test", i), 128).image for i in range(len(SAMPLE_EDITS))]
    written = []
    for i, (picture, text, result) in enumerate(zip(pictures, SAMPLE_EDITS, editor.edit(pictures, SAMPLE_EDITS))):
        stem = os.path.join(folder, f"{i:02d}")
        images.save_image(f"{stem}_source.png", picture)
        result.save(f"{stem}_edited.png", map_path=f"{stem}_map.png")
        written.append(f"{stem}_edited.png  <- \"{text}\"")
    return written


def main(argv) -> None:
    if len(argv) > 1:
        print(f"demo: error: unexpected arguments {argv[1:]}", file=sys.stderr)
        sys.exit(2)
    logging.set_verbosity(logging.WARNING)
    from mimnet_tf.apps import benchmark_edits_lib, report_lib, train_lib
    from mimnet_tf.inference.editors import GeneratorEditor

    out = _OUT.value
    os.makedirs(out, exist_ok=True)
    config = mimnet_flags.config_from_flags(FLAGS)
    config = dataclasses.replace(config, data=dataclasses.replace(
        config.data, data_dir=os.path.join(out, "data", "synthbirds"), prepared_dir=""))
    # bfloat16 (the flagfile's, or by default) only where the CPU computes it natively; --nobfloat16 turns it off.
    wanted = config.train.bfloat16 or not FLAGS["bfloat16"].present
    bfloat16 = wanted and not config.train.mixed_precision and cpu_has_bfloat16()
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, bfloat16=bfloat16))
    if bfloat16:
        _say("The short run trains in bfloat16: this CPU computes it natively, ~1.3x the images/s of float32 "
             "(--nobfloat16 for float32)")
    elif wanted and not config.train.mixed_precision:
        _say("The short run trains in float32: this CPU does not compute bfloat16 natively")
    _say(f"SynthBirds data in {config.data.data_dir}")
    train_lib.ensure_prepared_data(config.data, log=_say)

    short = short_training(config, out)
    short_dir = short["model_dir"]
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
        if name == "short run":  # its figures depend on the CPU it got in its minutes
            _say(f"The short run trained {short['step']} steps; {machine_load.describe(short['usage'])}")
    with open(os.path.join(out, "benchmark", "summary.json"), "w", encoding="utf-8") as f:
        json.dump({name: r["results"] for name, r in results.items()}, f, indent=2, default=str)

    figures = {name: r["results"][GeneratorEditor.name]["edit"] for name, r in results.items()}
    training = demo_lib.describe_training(short["step"], short["train_seconds"], short["budget_seconds"])
    short_note = (f"Short run ({short_dir}): {training}, {demo_lib.describe_figures(figures['short run'])}; "
                  f"{machine_load.describe(short['usage'])}.")
    report_dir = os.path.join(out, "report")
    benchmark_json = os.path.join(out, "benchmark", "shipped" if shipped else "short_run", "benchmark.json")
    written = report_lib.write_report(report_lib.ReportConfig(checkpoint=main_dir, out=report_dir,
                                                              benchmark_json=benchmark_json, notes=(short_note,)))
    _say("Report written")
    lines = demo_lib.summary_lines(os.path.abspath(written["html"]), _SHIPPED.value, figures.get("shipped"),
                                   short_dir, figures["short run"], short["step"], short["train_seconds"],
                                   short["budget_seconds"], short["usage"])
    with open(os.path.join(out, "summary.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


def run() -> None:
    app.run(main)


if __name__ == "__main__":
    run()
