"""Pretrain the DAMSM text and image encoders: `python -m mimnet_tf.pretrain_damsm --flagfile=...`.

Writes --damsm_dir (config.json, vocab.txt, checkpoints/, damsm_log.jsonl, damsm_summary.json with
the test R-precision). MIM-Net and MirrorGAN then start their text encoder from it (the paper's
pretrained STEM), and evaluation uses it for Sim and R-precision. Rerunning resumes.
Settings: --damsm_learning_rate, --damsm_decay_per_epoch, --damsm_epochs or --damsm_steps.
"""
from __future__ import annotations

import json
import sys

from absl import app, flags, logging

from mimnet_tf import flags as mimnet_flags

mimnet_flags.define_flags()
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        print(f"pretrain_damsm: error: unexpected arguments {argv[1:]}", file=sys.stderr)
        sys.exit(2)
    logging.set_verbosity(logging.WARNING)
    try:
        config = mimnet_flags.config_from_flags(FLAGS)
        from mimnet_tf import pretrain_damsm_lib, train_lib

        train_lib.ensure_prepared_data(config.data)
        summary = pretrain_damsm_lib.pretrain_damsm(config)
    except (FileNotFoundError, ValueError) as error:
        print(f"pretrain_damsm: error: {error}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps({k: summary[k] for k in ("steps", "loss", "r_precision", "seconds")}))


def run() -> None:
    """Console script `mimnet-pretrain-damsm`."""
    app.run(main)


if __name__ == "__main__":
    run()
