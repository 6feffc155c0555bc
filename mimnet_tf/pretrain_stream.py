"""Pretrain MirrorGAN's STREAM captioner: `python -m mimnet_tf.pretrain_stream --flagfile=... --stream_dir=DIR`.

Reads the same flags as training (data, model widths, seed, logging) plus the four below, and
writes a directory that `--stream_dir` then names for `python -m mimnet_tf.train --model=mirrorgan`
(or for MIM-Net's `--redescription` loss). With `--damsm_dir`, STREAM's CNN starts from the
pretrained DAMSM's image encoder. SynthBirds is rendered and prepared on first use. Rerunning the
same command resumes exactly from the newest checkpoint; Ctrl-C (or SIGTERM) saves one first.
Exit codes (every error is one line on stderr): 0 done, 1 a loss became NaN/Inf (nothing saved),
2 bad flags or missing data, 130/143 interrupted by SIGINT/SIGTERM.
"""
from __future__ import annotations

from absl import app, flags

from mimnet_tf import cli
from mimnet_tf import flags as mimnet_flags

mimnet_flags.define_flags()
_STEPS = flags.DEFINE_integer("stream_steps", 2000, "STREAM pretraining steps.")
_LEARNING_RATE = flags.DEFINE_float("stream_learning_rate", 1e-3, "Adam learning rate of STREAM pretraining.")
_ENCODER_WEIGHTS = flags.DEFINE_string(
    "stream_encoder_weights", "", "A local .weights.h5 of an ImageEncoder to start STREAM's CNN from.")
_FROM_DAMSM = flags.DEFINE_boolean(
    "stream_encoder_from_damsm", True, "Without --stream_encoder_weights, start STREAM's CNN from --damsm_dir's.")
FLAGS = flags.FLAGS
PROGRAM = "pretrain_stream"


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        cli.fail(PROGRAM, f"unexpected arguments {argv[1:]}: every setting is a --flag")

    def body():
        from mimnet_tf.apps.pretrain_stream_lib import StreamPretrainConfig, check_options, pretrain_stream
        from mimnet_tf.apps.train_lib import ensure_prepared_data

        config = mimnet_flags.config_from_flags(FLAGS)
        options = StreamPretrainConfig(steps=_STEPS.value, learning_rate=_LEARNING_RATE.value,
                                       encoder_weights=_ENCODER_WEIGHTS.value, encoder_from_damsm=_FROM_DAMSM.value)
        check_options(config, options)
        ensure_prepared_data(config.data, progress=config.train.progress)
        pretrain_stream(config, options)

    cli.guarded_training(PROGRAM, body)


def run() -> None:
    """Console script `mimnet-pretrain-stream`."""
    app.run(main, flags_parser=cli.flags_parser(PROGRAM))


if __name__ == "__main__":
    run()
