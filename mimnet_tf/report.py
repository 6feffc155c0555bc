"""The visual report of a model: `python -m mimnet_tf.report --checkpoint=DIR --out=report/`.

    python -m mimnet_tf.report --checkpoint=runs/synthbirds --out=report/
    python -m mimnet_tf.report --checkpoint=runs/cub --source=test --num_examples=12

Writes report/index.html (open it in a browser; it needs only the PNG files beside it): a
table of edits (source | target text | coarse | fine | TLU map | ground truth), the same table
as edits_grid.png, the training curves (training_curves.png, from the run's train_log.jsonl or
TensorBoard events) and the metric tables of benchmark_edits / evaluate (see report_lib.py).
Prints the page's path. Exit codes: 0 done, 2 bad flags or missing files (one line on stderr).
"""
from __future__ import annotations

import os
import sys

from absl import app, flags

from mimnet_tf import cli

_CHECKPOINT = flags.DEFINE_string("checkpoint", "", "Model directory written by training (or a checkpoint prefix).")
_MODEL = flags.DEFINE_string("model", "", "An exported model instead (SavedModel dir or .tflite): no coarse column.")
_OUT = flags.DEFINE_string("out", "report", "The report folder (index.html and its PNGs).")
_NUM_EXAMPLES = flags.DEFINE_integer("num_examples", 8, "Rows of the edit table.")
_SOURCE = flags.DEFINE_enum("source", "auto", ["auto", "synthbirds", "test"],
                            "Examples: SynthBirds edit cases (with ground truth) or the prepared test split.")
_SEED = flags.DEFINE_integer("seed", 0, "SynthBirds dataset seed / the caption draw of test examples.")
_SIZE = flags.DEFINE_integer("size", 0, "SynthBirds render size (0: the model's image size).")
_CELL_SIZE = flags.DEFINE_integer("cell_size", 128, "Pixels of an image cell (small images are enlarged).")
_BENCHMARK_JSON = flags.DEFINE_string("benchmark_json", "", "benchmark.json to show (default: in --out, then the model dir).")
_EVALUATION_JSON = flags.DEFINE_string("evaluation_json", "", "evaluation.json to show (default: in --out, then the model dir).")
_NUM_CASES = flags.DEFINE_integer("num_cases", 50, "Benchmark cases to run when no benchmark.json is found (0: none).")
PROGRAM = "report"


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        cli.fail(PROGRAM, f"unexpected arguments {argv[1:]}: every setting is a --flag")
    from mimnet_tf.apps import report_lib

    config = report_lib.ReportConfig(
        checkpoint=_CHECKPOINT.value, model=_MODEL.value, out=_OUT.value, num_examples=_NUM_EXAMPLES.value,
        source=_SOURCE.value, seed=_SEED.value, size=_SIZE.value, cell_size=_CELL_SIZE.value,
        benchmark_json=_BENCHMARK_JSON.value, evaluation_json=_EVALUATION_JSON.value, num_cases=_NUM_CASES.value)
    written = cli.guarded(PROGRAM, lambda: report_lib.write_report(config, log=lambda m: print(m, file=sys.stderr)))
    print(f"Report: {os.path.abspath(written['html'])}")


def run() -> None:
    """Console script `mimnet-report`."""
    app.run(main, flags_parser=cli.flags_parser(PROGRAM))


if __name__ == "__main__":
    run()
