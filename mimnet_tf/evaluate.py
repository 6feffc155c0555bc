"""Evaluate a trained model by the paper's protocol: `python -m mimnet_tf.evaluate`.

    python -m mimnet_tf.evaluate --flagfile=configs/cub.flags --checkpoint=runs/cub \\
        --inception_weights=/data/inception_v3_weights_tf_dim_ordering_tf_kernels.h5

Every test image is edited with a caption of another test image; prints and writes (to --out,
default the model directory) evaluation.json and evaluation.md: IS, Sim, Diff, MP, FID and
R-precision per method, in the layout of the paper's Table 1 (see evaluate_lib.py).

Accepts the training flagfile: the data settings come from the checkpoint's config.json, and
data flags given here (e.g. --prepared_dir) override them. `--damsm_dir` defaults to the one
in config.json; `--seed`, `--batch_size` and `--progress` are the shared flags. `--export`
evaluates an exported model (SavedModel directory or .tflite) instead of a checkpoint.
Exit codes: 0 done, 2 bad flags or missing files (one line on stderr).
"""
from __future__ import annotations

import dataclasses
import os
import sys

from absl import app, flags

from mimnet_tf import cli
from mimnet_tf import flags as mimnet_flags
from mimnet_tf.config import DataConfig
from mimnet_tf.models.model_dir import ModelDir

mimnet_flags.define_flags()
_CHECKPOINT = flags.DEFINE_string("checkpoint", "", "Model directory to evaluate (default: --model_dir when given).")
_EXPORT = flags.DEFINE_string("export", "", "An exported model (SavedModel dir or .tflite) to evaluate instead.")
_ABLATION = flags.DEFINE_string("ablation_checkpoint", "", "Model directory of the w/o-memory model (extra row).")
_INCEPTION = flags.DEFINE_string("inception_weights", "", "Local Inception-v3 weights file for IS and FID.")
_OUT = flags.DEFINE_string("out", "", "Folder of evaluation.json/.md (default: the model directory).")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 0, "Test images to evaluate (0: all).")
_NUM_CANDIDATES = flags.DEFINE_integer("num_candidates", 100, "R-precision candidates (1 true + 99 random).")
_IS_SPLITS = flags.DEFINE_integer("is_splits", 10, "Inception-score splits.")
_METHOD = flags.DEFINE_string("method", "", "Row name of the model (default: MIM-Net <image size>).")
FLAGS = flags.FLAGS
PROGRAM = "evaluate"


def data_config(model_dir: str) -> tuple:
    """(DataConfig, damsm_dir of the run): the run's config.json, with the data flags given here on top."""
    if model_dir:
        run = ModelDir(model_dir).config()
        data, damsm_dir = run.data, run.model.damsm_dir
    else:
        data, damsm_dir = DataConfig(), ""
    given = {f.name: FLAGS[f.name].value for f in dataclasses.fields(DataConfig) if FLAGS[f.name].present}
    return dataclasses.replace(data, **given), damsm_dir


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        cli.fail(PROGRAM, f"unexpected arguments {argv[1:]}: every setting is a --flag")
    checkpoint = _CHECKPOINT.value or ("" if _EXPORT.value else FLAGS.model_dir if FLAGS["model_dir"].present else "")
    if not checkpoint and not _EXPORT.value:
        cli.fail(PROGRAM, "--checkpoint is required: a model directory written by `python -m mimnet_tf.train` "
                          "(or --export=PATH for an exported model)")
    from mimnet_tf.apps import evaluate_lib
    from mimnet_tf.inference.editors import resolve_checkpoint

    def body():
        model_dir = resolve_checkpoint(checkpoint)[0] if checkpoint else ""
        data, run_damsm_dir = data_config(model_dir)
        config = evaluate_lib.EvaluationConfig(
            data=data, checkpoint=checkpoint, export=_EXPORT.value, ablation_checkpoint=_ABLATION.value,
            damsm_dir=FLAGS.damsm_dir if FLAGS["damsm_dir"].present else run_damsm_dir,
            inception_weights=_INCEPTION.value,
            out=_OUT.value or model_dir or os.path.dirname(os.path.abspath(_EXPORT.value)),
            num_images=_NUM_IMAGES.value, batch_size=FLAGS.batch_size, seed=FLAGS.seed,
            num_candidates=_NUM_CANDIDATES.value, is_splits=_IS_SPLITS.value, progress=FLAGS.progress,
            method=_METHOD.value)
        return evaluate_lib.evaluate(config, log=lambda message: print(message, file=sys.stderr))

    result = cli.guarded(PROGRAM, body)
    print(evaluate_lib.format_rows(result["rows"]), end="")
    if result["paths"]:
        print(f"Written: {', '.join(result['paths'])}")


def run() -> None:
    """Console script `mimnet-evaluate`."""
    app.run(main, flags_parser=cli.flags_parser(PROGRAM))


if __name__ == "__main__":
    run()
