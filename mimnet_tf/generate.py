"""Draw birds from text with a trained MirrorGAN: `python -m mimnet_tf.generate`.

    python -m mimnet_tf.generate --checkpoint=runs/synthbirds_mirrorgan --text="a red bird with black wings" \\
        --num=8 --out=generated/

`--checkpoint` is the model directory written by `python -m mimnet_tf.train --model=mirrorgan`
(its latest checkpoint is used); `--text` may be repeated. The images are
`<out>/<caption index>_<first words>_<sample>.png`, with `index.json` saying which caption and
seed made each. Exit codes: 0 done, 2 a bad flag, no model, or a caption with no known word (one
line on stderr).
"""
from __future__ import annotations

from absl import app, flags

from mimnet_tf import cli

_CHECKPOINT = flags.DEFINE_string("checkpoint", "", "MirrorGAN model directory (config.json, vocab.txt, checkpoints/)")
_TEXT = flags.DEFINE_multi_string("text", [], "Caption to draw; repeat the flag for several.")
_NUM = flags.DEFINE_integer("num", 8, "Images per caption.")
_OUT = flags.DEFINE_string("out", "generated", "Output folder for the PNG files and index.json.")
_SEED = flags.DEFINE_integer("seed", 0, "Noise seed: the same seed writes the same images.")
PROGRAM = "generate"


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        cli.fail(PROGRAM, f"unexpected arguments {argv[1:]}: every setting is a --flag")
    if not _CHECKPOINT.value:
        cli.fail(PROGRAM, "--checkpoint is required: a model directory written by mimnet_tf.train --model=mirrorgan")
    from mimnet_tf.apps.generate_lib import write_images

    paths = cli.guarded(PROGRAM, lambda: write_images(_CHECKPOINT.value, _TEXT.value, _NUM.value, _OUT.value,
                                                      _SEED.value))
    print(f"Wrote {len(paths)} images to {_OUT.value}")


def run() -> None:
    """Console script `mimnet-generate`."""
    app.run(main, flags_parser=cli.flags_parser(PROGRAM))


if __name__ == "__main__":
    run()
