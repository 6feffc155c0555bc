"""The SynthBirds edit benchmark: `python -m mimnet_tf.benchmark_edits --checkpoint=DIR`.

    python -m mimnet_tf.benchmark_edits --checkpoint=runs/synthbirds --out=runs/synthbirds
    python -m mimnet_tf.benchmark_edits --model=models/tflite/mimnet_fp32.tflite
    python -m mimnet_tf.benchmark_edits --checkpoint=runs/sb --ablation_checkpoint=runs/sb_nomem
    python -m mimnet_tf.benchmark_edits --checkpoint=runs/sb --phrasing=template,held_out,no_bird,typo

Renders the edit cases of the validation split (--split=test for a model's reported figures, once)
and identity cases (each image with one of its own captions), in one or more caption phrasings,
runs the model and the baselines ("no edit", and "w/o memory" with --ablation_checkpoint) on
them, and prints the measures side by side: attribute accuracy overall and per part, kept
accuracy, unnamed parts preserved, background L1, L1 to the ground truth, Diff / Sim / MP (Sim
needs a DAMSM: --damsm_dir, default the checkpoint's), identity Diff, the TLU map inside and
outside the bird. With --out, writes benchmark.json and benchmark.md there.
Exit codes: 0 done, 2 bad flags or missing files (one line on stderr).
"""
from __future__ import annotations

import sys

from absl import app, flags

from mimnet_tf import cli

_CHECKPOINT = flags.DEFINE_string("checkpoint", "", "Model directory (or checkpoint prefix) to benchmark.")
_MODEL = flags.DEFINE_string("model", "", "An exported model instead: SavedModel dir or .tflite file.")
_ABLATION = flags.DEFINE_string("ablation_checkpoint", "", "Model directory of the w/o-memory model (extra column).")
_NUM_CASES = flags.DEFINE_integer("num_cases", 200, "Edit cases (and identity cases).")
_SIZE = flags.DEFINE_integer("size", 0, "Render size in pixels (0: the model's image size).")
_SEED = flags.DEFINE_integer("seed", 0, "SynthBirds dataset seed (the test scenes and edit cases).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Cases per model call.")
_DAMSM_DIR = flags.DEFINE_string("damsm_dir", "", "DAMSM for Sim and MP (default: the checkpoint's damsm_dir).")
_GROUND_TRUTH = flags.DEFINE_bool("ground_truth", False, "Add the ground-truth renders as a column (the ceiling).")
_OUT = flags.DEFINE_string("out", "", "Folder to write benchmark.json and benchmark.md into.")
_SPLIT = flags.DEFINE_enum("split", "validation", ["validation", "test"],
                           "Whose cases: validation (for every tuning decision) or test (a model's reported figures).")
_PHRASING = flags.DEFINE_list(
    "phrasing", ["template"],
    "Caption phrasings to score, each a column: template (the benchmark's captions), held_out (the held-out "
    "request families in turn), one family by name, no_bird, typo (one-letter typos in the colour words), "
    "transposed (two adjacent letters swapped in the colour words).")
PROGRAM = "benchmark_edits"


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        cli.fail(PROGRAM, f"unexpected arguments {argv[1:]}: every setting is a --flag")
    from mimnet_tf.apps import benchmark_edits_lib

    config = benchmark_edits_lib.BenchmarkConfig(
        checkpoint=_CHECKPOINT.value, model=_MODEL.value, ablation_checkpoint=_ABLATION.value,
        num_cases=_NUM_CASES.value, size=_SIZE.value, seed=_SEED.value, batch_size=_BATCH_SIZE.value,
        damsm_dir=_DAMSM_DIR.value, ground_truth=_GROUND_TRUTH.value, out=_OUT.value, split=_SPLIT.value,
        phrasings=tuple(_PHRASING.value))
    output = cli.guarded(PROGRAM, lambda: benchmark_edits_lib.run(config, log=lambda m: print(m, file=sys.stderr)))
    print(output["table"], end="")
    if output["paths"]:
        print(f"Written: {', '.join(output['paths'])}")


def run() -> None:
    """Console script `mimnet-benchmark-edits`."""
    app.run(main, flags_parser=cli.flags_parser(PROGRAM))


if __name__ == "__main__":
    run()
