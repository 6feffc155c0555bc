"""Pretrain the DAMSM text and image encoders: `python -m mimnet_tf.pretrain_damsm --flagfile=...`.

Writes --damsm_dir (config.json, vocab.txt, checkpoints/, damsm_log.jsonl, damsm_summary.json with
the test R-precision). MIM-Net and MirrorGAN then start their text encoder from it (the paper's
pretrained STEM), and evaluation uses it for Sim and R-precision. Rerunning resumes exactly from the
newest checkpoint; Ctrl-C (or SIGTERM) saves one first.
Settings: --damsm_learning_rate, --damsm_decay_per_epoch, --damsm_epochs or --damsm_steps.
Exit codes (every error is one line on stderr): 0 done, 1 a loss became NaN/Inf (nothing saved),
2 bad flags or missing data, 130/143 interrupted by SIGINT/SIGTERM.
"""
from __future__ import annotations

import json

from absl import app, flags, logging

from mimnet_tf import cli
from mimnet_tf import flags as mimnet_flags

mimnet_flags.define_flags()
FLAGS = flags.FLAGS
PROGRAM = "pretrain_damsm"


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        cli.fail(PROGRAM, f"unexpected arguments {argv[1:]}")
    logging.set_verbosity(logging.WARNING)

    def body():
        config = mimnet_flags.config_from_flags(FLAGS)
        from mimnet_tf.apps import pretrain_damsm_lib, train_lib

        train_lib.ensure_prepared_data(config.data)
        return pretrain_damsm_lib.pretrain_damsm(config)

    summary = cli.guarded_training(PROGRAM, body)
    print(json.dumps({k: summary.get(k) for k in ("steps", "loss", "r_precision", "seconds")}))


def run() -> None:
    """Console script `mimnet-pretrain-damsm`."""
    app.run(main, flags_parser=cli.flags_parser(PROGRAM))


if __name__ == "__main__":
    run()
