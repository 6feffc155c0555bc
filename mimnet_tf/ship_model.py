"""Packs a trained model directory for shipping: `python -m mimnet_tf.ship_model`.

    python -m mimnet_tf.ship_model --checkpoint=runs/synthbirds --out=pretrained/synthbirds64

Writes into --out what inference, export and the demo need, and nothing else: config.json,
vocab.txt, a generator-only checkpoint (no discriminators, no optimizer slots: a fraction of
the training checkpoint's size) at the same step, the training log (train_log.jsonl,
train_summary.json) and, with --benchmark_cases, the SynthBirds edit benchmark of the packed
model (benchmark.json / benchmark.md) plus the first --subset_cases cases on their own
(benchmark_subset.json), which tests/test_shipped_model.py re-scores. --damsm_dir names the DAMSM
that scores Sim / MP (default the checkpoint's own; a model trained without one has none).
A MirrorGAN run (config.json says --model=mirrorgan) gets the text-to-image benchmark on
--benchmark_cases test scenes instead, with its DAMSM (--damsm_dir, default the run's) and
attribute probe (--probe_dir) packed beside it, and a README.md (ship_mirrorgan_lib.py).
Exit codes: 0 done, 2 bad flags or missing files (one line on stderr).
"""
from __future__ import annotations

import sys

from absl import app, flags

from mimnet_tf import cli
from mimnet_tf.apps import ship_model_lib

_CHECKPOINT = flags.DEFINE_string("checkpoint", "", "Model directory written by `python -m mimnet_tf.train`.")
_OUT = flags.DEFINE_string("out", "", "Directory to write the shipped model into (created; must not hold one).")
_BENCHMARK_CASES = flags.DEFINE_integer(
    "benchmark_cases", ship_model_lib.BENCHMARK_CASES, "SynthBirds edit cases to benchmark (0: none). 1,000 cases (~1,650 changed "
    "parts) put the attribute accuracy's standard error near 0.007; 200 cases, the benchmark's own default, near 0.016.")
_SUBSET_CASES = flags.DEFINE_integer("subset_cases", 40, "Cases of the subset a test re-scores.")
_DAMSM_DIR = flags.DEFINE_string("damsm_dir", "", "DAMSM that scores Sim / MP in the benchmark "
                                 "(default: the checkpoint's --damsm_dir; none: those columns are skipped).")
_PROBE_DIR = flags.DEFINE_string("probe_dir", "", "A MirrorGAN's benchmark: the attribute probe that reads the colours "
                                 "(default runs/attribute_probe, trained there on first use); packed with the model.")
PROGRAM = "ship_model"


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        cli.fail(PROGRAM, f"unexpected arguments {argv[1:]}: every setting is a --flag")
    paths = cli.guarded(PROGRAM, lambda: ship_model_lib.ship(
        _CHECKPOINT.value, _OUT.value, _BENCHMARK_CASES.value, _SUBSET_CASES.value,
        log=lambda m: print(m, file=sys.stderr), damsm_dir=_DAMSM_DIR.value, probe_dir=_PROBE_DIR.value))
    print("Written: " + ", ".join(paths))


def run() -> None:
    app.run(main, flags_parser=cli.flags_parser(PROGRAM))


if __name__ == "__main__":
    run()
