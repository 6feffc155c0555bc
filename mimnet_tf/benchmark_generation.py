"""The SynthBirds text-to-image benchmark: `python -m mimnet_tf.benchmark_generation --checkpoint=DIR`.

    python -m mimnet_tf.benchmark_generation --checkpoint=runs/synthbirds_mirrorgan --num_captions=200
    python -m mimnet_tf.benchmark_generation --checkpoint=runs/synthbirds_mirrorgan \\
        --phrasing=template,held_out,no_bird --out=runs/synthbirds_mirrorgan/validation

Scores a trained MirrorGAN (no training) on one caption per scene of the validation split
(--split=test for a shipped model's figures, once), in one or more phrasings side by side:
attribute accuracy per part (the attribute probe; the real renders' as the ceiling), R-precision
(DAMSM: --damsm_dir, default the model's), FID on the probe's features, diversity across noise and
the prompts' unknown words (see benchmark_generation_lib.py). With --out, writes benchmark.json
and benchmark.md there.
Exit codes: 0 done, 2 bad flags or missing files (one line on stderr).
"""
from __future__ import annotations

import sys

from absl import app, flags

from mimnet_tf import cli

_CHECKPOINT = flags.DEFINE_string("checkpoint", "", "MirrorGAN model directory (its latest checkpoint is scored).")
_NUM_CAPTIONS = flags.DEFINE_integer("num_captions", 200, "Scenes of the split, one caption and one bird each.")
_SPLIT = flags.DEFINE_enum("split", "validation", ["validation", "test"],
                           "Whose scenes: validation (for every tuning decision) or test (a model's reported figures).")
_PHRASING = flags.DEFINE_list(
    "phrasing", ["template"],
    "Caption phrasings to score, each a column: template (a template caption of the scene), held_out (the "
    "held-out request families in turn), one family by name, no_bird, typo.")
_SEED = flags.DEFINE_integer("seed", 0, "SynthBirds dataset seed (the scenes and their captions).")
_NOISE_SEED = flags.DEFINE_integer("noise_seed", 1, "Seed of the generator's noise.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Captions per generator call.")
_DIVERSITY_CAPTIONS = flags.DEFINE_integer("diversity_captions", 20, "Captions whose spread over noise is measured.")
_DIVERSITY_SAMPLES = flags.DEFINE_integer("diversity_samples", 8, "Noise draws per diversity caption.")
_DAMSM_DIR = flags.DEFINE_string("damsm_dir", "", "DAMSM for R-precision (default: the model's own damsm/, "
                                 "else its --damsm_dir; none: skipped).")
_PROBE_DIR = flags.DEFINE_string("probe_dir", "", "Attribute probe (default: the model's own attribute_probe/, else "
                                 "runs/attribute_probe, trained there on first use).")
_OUT = flags.DEFINE_string("out", "", "Folder to write benchmark.json and benchmark.md into.")
PROGRAM = "benchmark_generation"


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        cli.fail(PROGRAM, f"unexpected arguments {argv[1:]}: every setting is a --flag")
    from mimnet_tf.apps import benchmark_generation_lib as lib

    config = lib.BenchmarkConfig(
        checkpoint=_CHECKPOINT.value, damsm_dir=_DAMSM_DIR.value, probe_dir=_PROBE_DIR.value, out=_OUT.value,
        settings=lib.Settings(
            num_captions=_NUM_CAPTIONS.value, split=_SPLIT.value, phrasings=tuple(_PHRASING.value), seed=_SEED.value,
            noise_seed=_NOISE_SEED.value, batch_size=_BATCH_SIZE.value, diversity_captions=_DIVERSITY_CAPTIONS.value,
            diversity_samples=_DIVERSITY_SAMPLES.value))
    output = cli.guarded(PROGRAM, lambda: lib.run(config, log=lambda m: print(m, file=sys.stderr)))
    print(output["table"], end="")
    print(output["metadata"]["notes"])
    if output["paths"]:
        print(f"Written: {', '.join(output['paths'])}")


def run() -> None:
    """Console script `mimnet-benchmark-generation`."""
    app.run(main, flags_parser=cli.flags_parser(PROGRAM))


if __name__ == "__main__":
    run()
