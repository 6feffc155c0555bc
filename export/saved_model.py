"""Exports a trained generator as a TF Serving SavedModel (`edit`, `edit_tensors`, `serving_default`).

    python -m mimnet_tf.export.saved_model --checkpoint=runs/synthbirds --out=models/mimnet/1

`--out` is a version directory of TF Serving's layout (`<base path>/<version number>`); the
vocabulary becomes `assets/vocab.txt` inside it. After writing, the SavedModel is loaded back
and its `edit_tensors` checked against the Keras model (export/verify.py; figures in
`export_checks.json` inside the version directory; a failing export is moved aside to
`<version>.rejected` and the command exits 2 unless --keep_failing).
"""
from __future__ import annotations

import os
import shutil
import tempfile

import tensorflow as tf

from mimnet_tf.export import common, signatures, verify, warmup
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


def export_saved_model(trained, out_dir: str) -> str:
    """Writes the SavedModel of `trained` (a TrainedGenerator) to the version directory `out_dir`.

    An existing SavedModel there is replaced; any other non-empty directory is an error.
    """
    check_version_dir(out_dir)
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        if not os.path.exists(os.path.join(out_dir, "saved_model.pb")):
            raise ValueError(f"--out={out_dir} exists and is not a SavedModel: refusing to overwrite it")
        shutil.rmtree(out_dir)
    model = trained.config.model
    with tempfile.TemporaryDirectory() as scratch:
        vocab_path = trained.vocab.save(scratch)  # -> assets/vocab.txt of the SavedModel
        module = signatures.EditModule(trained.generator, vocab_path, model.image_size, model.max_words)
        tf.saved_model.save(module, out_dir, signatures=module.signatures())
    warmup.write_warmup_requests(out_dir, trained.vocab, model.image_size, model.max_words)
    return out_dir


CHECKS_FILENAME = "export_checks.json"


def saved_model_runner(out_dir: str):
    """(image, token_ids) -> outputs through the SavedModel's `edit_tensors`, loaded back from disk."""
    loaded = tf.saved_model.load(out_dir)
    edit_tensors = loaded.signatures[signatures.EDIT_TENSORS]

    def run(image, token_ids):
        outputs = edit_tensors(image=tf.constant(image), token_ids=tf.constant(token_ids))
        return {name: value.numpy() for name, value in outputs.items()}

    run.loaded = loaded  # keeps the variables alive as long as the runner
    return run


def saved_model_parity(trained, out_dir: str, batches: list[dict]) -> dict:
    """Loads the SavedModel back and compares `edit_tensors` with the Keras model."""
    return common.compare(trained, saved_model_runner(out_dir), batches)


def written(out_dir: str) -> dict[str, verify.Written]:
    """What export/verify.py checks: the version directory, its checks JSON (inside it) and a runner."""
    return {"savedmodel": verify.Written(out_dir, os.path.join(out_dir, CHECKS_FILENAME), saved_model_runner(out_dir))}


def export_mirrorgan_saved_model(model_dir: str, out_dir: str) -> str:
    """A MirrorGAN model directory -> SavedModel with `generate` (text -> PNG bytes) signatures."""
    from mimnet_tf.export.generate_signature import export_generate_saved_model
    from mimnet_tf.models.mirrorgan import load_mirrorgan

    check_version_dir(out_dir)
    trained = load_mirrorgan(model_dir)
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        if not os.path.exists(os.path.join(out_dir, "saved_model.pb")):
            raise ValueError(f"--out={out_dir} exists and is not a SavedModel: refusing to overwrite it")
        shutil.rmtree(out_dir)
    with tempfile.TemporaryDirectory() as scratch:
        vocab_path = trained.vocab.save(scratch)
        return export_generate_saved_model(trained.generator, vocab_path, trained.config.model.max_words, out_dir)


def main(config: ExportConfig) -> None:
    if common.model_kind(config.checkpoint) == "mirrorgan":
        out_dir = export_mirrorgan_saved_model(config.checkpoint, config.out)
        print(f"SavedModel (MirrorGAN): {out_dir} ({common.file_megabytes(out_dir):.2f} MB), signatures "
              "generate, generate_tensors, serving_default")
        return
    from mimnet_tf.export import cli

    checks = cli.check_config(config)
    trained = common.load_checkpoint(config.checkpoint)
    check_version_dir(config.out)
    out_dir = export_saved_model(trained, config.out)
    print(f"SavedModel: {out_dir} ({common.file_megabytes(out_dir):.2f} MB), signatures "
          f"{signatures.EDIT}, {signatures.EDIT_TENSORS}, {signatures.SERVING_DEFAULT}")
    results = verify.check_exports(trained, written(out_dir), checks)
    print(verify.format_results(results))
    verify.raise_if_failed(results, checks)
    if not results["savedmodel"]["max_abs_diff"] < 1e-5:
        raise ValueError(f"SavedModel differs from the Keras model by {results['savedmodel']['max_abs_diff']:.2e} "
                         "(>= 1e-5)")


def run() -> None:
    from mimnet_tf.export import cli

    cli.run_entry_point(main, "checkpoint", "out", *cli.CHECK_FLAGS)


if __name__ == "__main__":
    run()
