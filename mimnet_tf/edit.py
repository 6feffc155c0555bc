"""Edit an image with a sentence: `python -m mimnet_tf.edit`.

    python -m mimnet_tf.edit --preset=synthbirds64 --image=docs/bird.png \\
        --text="this bird has green wings and a red crown" --out=edited.png --save_map   # a shipped model
    python -m mimnet_tf.edit --checkpoint=runs/synthbirds --image=bird.jpg \\
        --text="this bird has blue wings" --out=edited.png --save_map
    python -m mimnet_tf.edit --model=models/mimnet/1 --image=bird.png --text="..."        # SavedModel
    python -m mimnet_tf.edit --model=models/tflite/mimnet_fp32.tflite --image=bird.png --text="..."
    python -m mimnet_tf.edit --checkpoint=runs/synthbirds --manifest=edits.csv --out=edited/

Any image size or mode (grey, RGBA, JPEG, PNG) is accepted; the result has the input's size
(the whole picture is resized to the model's S x S and the edit back: see edit_lib.py). With
--save_map the TLU localisation map is written as a heat-map overlay (`<out>_map.png`). The
words of --text the model does not know are named on the last line.
Batch mode reads a CSV (header `image,text`) or JSON Lines manifest and writes one result per
row plus edits.csv into the --out folder. Exit codes: 0 done, 2 a bad flag, a missing or corrupt
image, or a caption with no known word (one line on stderr, naming the unknown words).
"""
from __future__ import annotations

import sys

from absl import app, flags

from mimnet_tf import cli

_PRESET = flags.DEFINE_string("preset", "", "A shipped model (synthbirds64, synthbirds128), or any model "
                              "directory or export (instead of --checkpoint / --model).")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "", "Model directory written by training (or a checkpoint prefix).")
_MODEL = flags.DEFINE_string("model", "", "An exported model instead: SavedModel dir or .tflite file.")
_IMAGE = flags.DEFINE_string("image", "", "The image to edit (PNG, JPEG, ...; any size or mode).")
_TEXT = flags.DEFINE_string("text", "", "The sentence describing the wanted image.")
_MANIFEST = flags.DEFINE_string("manifest", "", "CSV (image,text) or JSON Lines of edits: batch mode.")
_OUT = flags.DEFINE_string("out", "", "Edited image file (default edited.png), or the results folder with --manifest.")
_SAVE_MAP = flags.DEFINE_bool("save_map", False, "Also write the TLU localisation map as a heat-map overlay.")
_MAP_OUT = flags.DEFINE_string("map_out", "", "Where the overlay goes (default: <out stem>_map.png).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 16, "Images per model call with --manifest.")
PROGRAM = "edit"


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        cli.fail(PROGRAM, f"unexpected arguments {argv[1:]}: every setting is a --flag")
    from mimnet_tf.apps import edit_lib

    config = edit_lib.EditConfig(checkpoint=_CHECKPOINT.value, model=_MODEL.value, preset=_PRESET.value,
                                 image=_IMAGE.value,
                                 text=_TEXT.value, manifest=_MANIFEST.value, out=_OUT.value,
                                 save_map=_SAVE_MAP.value, map_out=_MAP_OUT.value, batch_size=_BATCH_SIZE.value)
    cli.guarded(PROGRAM, lambda: edit_lib.run(config, log=print, progress=sys.stderr.isatty()))


def run() -> None:
    """Console script `mimnet-edit`."""
    app.run(main, flags_parser=cli.flags_parser(PROGRAM))


if __name__ == "__main__":
    run()
