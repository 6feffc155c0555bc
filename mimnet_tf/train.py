"""Train MIM-Net (or another registered model): `python -m mimnet_tf.train --flagfile=configs/cub.flags`.

Every field of the run configuration is a flag (see mimnet_tf/flags.py); a flagfile under
configs/ is the whole recipe of a run, and later flags override it:

    python -m mimnet_tf.train --flagfile=configs/cub.flags --model_dir=runs/cub_short --max_steps=2000

Rerunning the same command resumes from the newest checkpoint in --model_dir that restores
(damaged ones are skipped and moved aside; see docs/robustness.md). One trainer per --model_dir:
a second one stops at once. Ctrl-C (or SIGTERM) saves a checkpoint first. Exit codes (every
error is one line on stderr): 0 done, 1 a loss became NaN/Inf (nothing saved), 2 bad flags,
missing data, a --model_dir of another model, in use, or whose checkpoints none restores,
3 a corrupt prepared data file (TFRecord, vocab.txt, meta.json: named; nothing saved),
130/143 interrupted by SIGINT/SIGTERM.
"""
from __future__ import annotations

import json
import signal
import sys

from absl import app, flags, logging

from mimnet_tf import flags as mimnet_flags

mimnet_flags.define_flags()
FLAGS = flags.FLAGS

EXIT_NON_FINITE = 1
EXIT_USAGE = 2
EXIT_CORRUPT_DATA = 3


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    print(f"train: error: {message}", file=sys.stderr)
    sys.exit(code)


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's parser, with an unknown flag or a bad value as one line and exit code 2."""
    try:
        return FLAGS(argv)
    except flags.Error as error:
        _fail(f"{error}. See --helpfull.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        _fail(f"unexpected arguments {argv[1:]}: every setting is a --flag")
    if not FLAGS["verbosity"].present:  # TF's INFO lines (saver, all-reduce plans) would break the progress bar
        logging.set_verbosity(logging.WARNING)
    try:
        config = mimnet_flags.config_from_flags(FLAGS)
    except ValueError as error:
        _fail(str(error))
    from mimnet_tf.apps import train_lib

    try:
        summary = train_lib.train(config)
    except train_lib.DataError as error:
        _fail(str(error), EXIT_CORRUPT_DATA)
    except train_lib.SetupError as error:
        _fail(str(error))
    except FloatingPointError as error:  # training.loop.NonFiniteLossError: nothing was saved
        _fail(str(error), EXIT_NON_FINITE)
    except KeyboardInterrupt as interrupt:  # training.loop.TrainingInterrupted saved the step first
        print(f"train: {interrupt or 'interrupted before training started'}", file=sys.stderr)
        sys.exit(128 + int(getattr(interrupt, "signum", signal.SIGINT)))
    print(json.dumps({k: summary[k] for k in ("step", "steps_run", "images_per_second", "elapsed", "checkpoint")}))


def run() -> None:
    """Console script `mimnet-train`."""
    app.run(main, flags_parser=_parse_flags)


if __name__ == "__main__":
    run()
