"""Exports a trained generator as a TF Serving SavedModel (`edit`, `edit_tensors`, `serving_default`).

    python -m mimnet_tf.export.saved_model --checkpoint=runs/synthbirds --out=models/mimnet/1

`--out` is a version directory of TF Serving's layout (`<base path>/<version number>`); the
vocabulary becomes `assets/vocab.txt` inside it. After writing, the SavedModel is loaded back
and its `edit_tensors` compared with the Keras model (the printed max abs diff).

The version is written into a temporary sibling and renamed into place, so a killed export
leaves the previous version as it was. An existing version is replaced only with --overwrite
(see mimnet_tf/files.py: files in it that the export does not write are kept aside).
"""
from __future__ import annotations

import os
import tempfile

import tensorflow as tf

from mimnet_tf import files
from mimnet_tf.export import common, signatures
from mimnet_tf.config import ExportConfig


def check_version_dir(out_dir: str) -> None:
    """TF Serving loads `<base path>/<integer version>`: refuse any other --out."""
    if not out_dir:
        raise ValueError("--out is required: a version directory such as models/mimnet/1")
    version = os.path.basename(os.path.normpath(out_dir))
    if not version.isdigit():
        raise ValueError(f"--out={out_dir}: TF Serving expects <base path>/<version number>, "
                         f"e.g. models/mimnet/1 (the last directory {version!r} is not a number)")
    if os.path.isfile(out_dir):
        raise ValueError(f"--out={out_dir} is a file; expected a directory")
    if os.path.isdir(out_dir) and os.listdir(out_dir) and not os.path.exists(os.path.join(out_dir, "saved_model.pb")):
        raise ValueError(f"--out={out_dir} exists and is not a SavedModel: refusing to overwrite it")


def export_saved_model(trained, out_dir: str, overwrite: bool = False) -> str:
    """Writes the SavedModel of `trained` (a TrainedGenerator) to the version directory `out_dir`.

    An existing SavedModel there is replaced only with `overwrite`; any other non-empty
    directory is an error.
    """
    check_version_dir(out_dir)
    model = trained.config.model

    def write(folder):
        with tempfile.TemporaryDirectory() as scratch:
            vocab_path = trained.vocab.save(scratch)  # -> assets/vocab.txt of the SavedModel
            module = signatures.EditModule(trained.generator, vocab_path, model.image_size, model.max_words)
            tf.saved_model.save(module, folder, signatures=module.signatures())

    files.write_folder(out_dir, overwrite, "--out", write)
    return out_dir


def saved_model_parity(trained, out_dir: str, batches: list[dict]) -> dict:
    """Loads the SavedModel back and compares `edit_tensors` with the Keras model."""
    loaded = tf.saved_model.load(out_dir)
    edit_tensors = loaded.signatures[signatures.EDIT_TENSORS]

    def run(image, token_ids):
        outputs = edit_tensors(image=tf.constant(image), token_ids=tf.constant(token_ids))
        return {name: value.numpy() for name, value in outputs.items()}

    return common.compare(trained, run, batches)


def export_mirrorgan_saved_model(model_dir: str, out_dir: str, overwrite: bool = False) -> str:
    """A MirrorGAN model directory -> SavedModel with `generate` (text -> PNG bytes) signatures."""
    from mimnet_tf.export.generate_signature import export_generate_saved_model
    from mimnet_tf.models.mirrorgan import load_mirrorgan

    check_version_dir(out_dir)
    trained = load_mirrorgan(model_dir)

    def write(folder):
        with tempfile.TemporaryDirectory() as scratch:
            vocab_path = trained.vocab.save(scratch)
            export_generate_saved_model(trained.generator, vocab_path, trained.config.model.max_words, folder)

    files.write_folder(out_dir, overwrite, "--out", write)
    return out_dir


def main(config: ExportConfig) -> None:
    if common.model_kind(config.checkpoint) == "mirrorgan":
        out_dir = export_mirrorgan_saved_model(config.checkpoint, config.out, config.overwrite)
        print(f"SavedModel (MirrorGAN): {out_dir} ({common.file_megabytes(out_dir):.2f} MB), signatures "
              "generate, generate_tensors, serving_default")
        return
    trained = common.load_checkpoint(config.checkpoint)
    check_version_dir(config.out)
    out_dir = export_saved_model(trained, config.out, config.overwrite)
    parity = saved_model_parity(trained, out_dir, common.parity_batches(trained, 4))
    print(f"SavedModel: {out_dir} ({common.file_megabytes(out_dir):.2f} MB), signatures "
          f"{signatures.EDIT}, {signatures.EDIT_TENSORS}, {signatures.SERVING_DEFAULT}")
    print(f"Parity vs Keras: max abs diff {parity['max_abs_diff']:.2e}")
    if not parity["max_abs_diff"] < 1e-5:
        raise ValueError(f"SavedModel differs from the Keras model by {parity['max_abs_diff']:.2e} (>= 1e-5)")


def run() -> None:
    from mimnet_tf.export import cli

    cli.run_entry_point(main, "checkpoint", "out", "overwrite")


if __name__ == "__main__":
    run()
