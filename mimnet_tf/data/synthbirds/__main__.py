"""Renders SynthBirds to disk: `python -m mimnet_tf.data.synthbirds --out=DIR`.

    python -m mimnet_tf.data.synthbirds --out=data/synthbirds --num=6000 --num_test=600
    python -m mimnet_tf.data.synthbirds --out=DIR --size=128 --seed=1 --num_edit_cases=500 --workers=2

Writes the CUB-200-2011 + AttnGAN layout (see writer.py), the edit benchmark and
synthbirds.json; prints a summary. Re-running with the same settings does nothing.
"""
from __future__ import annotations

import json
import sys

from absl import app, flags

from mimnet_tf.data.synthbirds.writer import OutputDirError, write_dataset

_OUT = flags.DEFINE_string("out", None, "Directory to write the dataset into (created if missing).")
_NUM = flags.DEFINE_integer("num", 6000, "Number of training images.")
_NUM_TEST = flags.DEFINE_integer("num_test", 600, "Number of test images.")
_SIZE = flags.DEFINE_integer("size", 64, "Image side in pixels.")
_SEED = flags.DEFINE_integer("seed", 0, "Dataset seed: the same seed gives the same files.")
_CAPTIONS = flags.DEFINE_integer("captions_per_image", 10, "Captions per image (CUB has 10).")
_NUM_EDIT_CASES = flags.DEFINE_integer("num_edit_cases", 200, "Edit cases of the benchmark.")
_NUM_IDENTITY = flags.DEFINE_integer(
    "num_identity_cases", None, "Identity cases; default min(num_edit_cases, num_test)."
)
_WORKERS = flags.DEFINE_integer("workers", 2, "Rendering processes.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace a SynthBirds dataset made with other settings.")
_PROGRESS = flags.DEFINE_bool("progress", True, "Show progress bars.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not _OUT.value:
        raise app.UsageError("--out is required: the directory to write SynthBirds into")
    try:
        summary = write_dataset(
            out=_OUT.value,
            num_train=_NUM.value,
            num_test=_NUM_TEST.value,
            size=_SIZE.value,
            seed=_SEED.value,
            captions_per_image=_CAPTIONS.value,
            num_edit_cases=_NUM_EDIT_CASES.value,
            num_identity_cases=_NUM_IDENTITY.value,
            workers=_WORKERS.value,
            overwrite=_OVERWRITE.value,
            progress=_PROGRESS.value,
        )
    except (OutputDirError, ValueError) as error:
        sys.exit(f"synthbirds: error: {error}")
    print(json.dumps(summary, indent=2))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
