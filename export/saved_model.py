"""Exports a trained generator as a TF Serving SavedModel (`edit`, `edit_tensors`, `serving_default`).

    python -m mimnet_tf.export.saved_model --checkpoint=runs/synthbirds --out=models/mimnet/1

`--out` is a version directory of TF Serving's layout (`<base path>/<version number>`); the
vocabulary becomes `assets/vocab.txt` inside it. After writing, the SavedModel is loaded back
and its `edit_tensors` checked against the Keras model (export/verify.py; figures in
`export_checks.json` inside the version directory; a failing export goes to `<version>.rejected`
instead and the command exits 2 unless --keep_failing). It also holds TF Serving's warm-up
requests (assets.extra/tf_serving_warmup_requests, export/warmup.py).

A MirrorGAN model directory gives a SavedModel with `generate`, `generate_tensors` and
`serving_default` (export/generate_signature.py), checked the same way: its `generate_tensors`
against Keras on training captions with fixed noise draws (export/generate_common.py).

The version is written and checked in a temporary sibling and renamed into place, so a killed
export leaves the previous version as it was, and a refused one never replaces it. An existing
version is replaced only with --overwrite (see mimnet_tf/files.py: files in it that the export
does not write are kept aside).
"""
from __future__ import annotations

import os
import tempfile
from typing import Optional

import tensorflow as tf

from mimnet_tf import files
from mimnet_tf.config import ExportConfig
from mimnet_tf.export import cli, common, generate_common, signatures, verify, warmup
from mimnet_tf.export.generate_signature import GENERATE, GENERATE_TENSORS, export_generate_saved_model

CHECKS_FILENAME = "export_checks.json"
NAME = "savedmodel"  # its key in the export checks' results


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


def export_saved_model(trained, out_dir: str, overwrite: bool = False,
                       checker: Optional[verify.Checker] = None) -> str:
    """Writes the SavedModel of `trained` (a TrainedGenerator, or a TrainedMirrorGAN: its `generate`
    signatures) to the version directory `out_dir`.

    An existing SavedModel there is replaced only with `overwrite`; any other non-empty
    directory is an error. With `checker`, the SavedModel is checked before it takes its place
    (figures in checker.results["savedmodel"]); a refused one goes to `<out_dir>.rejected`.
    """
    check_version_dir(out_dir)
    model = trained.config.model
    mirrorgan = generate_common.is_mirrorgan(trained)

    def write(folder):
        with tempfile.TemporaryDirectory() as scratch:
            vocab_path = trained.vocab.save(scratch)  # -> assets/vocab.txt of the SavedModel
            if mirrorgan:
                export_generate_saved_model(trained.generator, vocab_path, model.max_words, folder)
            else:
                module = signatures.EditModule(trained.generator, vocab_path, model.image_size, model.max_words)
                tf.saved_model.save(module, folder, signatures=module.signatures())
        if not mirrorgan:  # the warm-up requests are edit requests
            warmup.write_warmup_requests(folder, trained.vocab, model.image_size, model.max_words)
        if checker is not None:
            return checker.check_staged_folder(NAME, written(folder)[NAME], out_dir)
        return None

    files.write_folder(out_dir, overwrite, "--out", write)
    return out_dir


def saved_model_runner(out_dir: str):
    """(image, token_ids) -> outputs through the SavedModel's `edit_tensors`, loaded back from disk;
    a MirrorGAN's: (token_ids=, noise=, condition_noise=) -> outputs of its `generate_tensors`."""
    loaded = tf.saved_model.load(out_dir)
    if GENERATE_TENSORS in loaded.signatures:
        function, input_names = loaded.signatures[GENERATE_TENSORS], generate_common.INPUTS
    else:
        function, input_names = loaded.signatures[signatures.EDIT_TENSORS], (signatures.IMAGE, signatures.TOKEN_IDS)

    def run(*values, **named):
        inputs = {**dict(zip(input_names, values)), **named}
        outputs = function(**{name: tf.constant(value) for name, value in inputs.items()})
        return {name: value.numpy() for name, value in outputs.items()}

    run.loaded = loaded  # keeps the variables alive as long as the runner
    return run


def saved_model_parity(trained, out_dir: str, batches: list[dict]) -> dict:
    """Loads the SavedModel back and compares `edit_tensors` with the Keras model."""
    return common.compare(trained, saved_model_runner(out_dir), batches)


def written(out_dir: str) -> dict[str, verify.Written]:
    """What export/verify.py checks: the version directory, its checks JSON (inside it) and a runner."""
    return {NAME: verify.Written(out_dir, os.path.join(out_dir, CHECKS_FILENAME), saved_model_runner(out_dir))}


def main(config: ExportConfig) -> None:
    checks = cli.check_config(config)
    trained = common.load_checkpoint(config.checkpoint)
    check_version_dir(config.out)
    checker = verify.Checker(trained, checks)
    out_dir = export_saved_model(trained, config.out, config.overwrite, checker)
    names = (signatures.EDIT, signatures.EDIT_TENSORS, signatures.SERVING_DEFAULT)
    if generate_common.is_mirrorgan(trained):
        names = (GENERATE, GENERATE_TENSORS, signatures.SERVING_DEFAULT)
    results = checker.results
    print(f"SavedModel: {results[NAME].get('rejected_to', out_dir)} ({results[NAME]['megabytes']:.2f} MB), "
          f"signatures {', '.join(names)}")
    print(verify.format_results(results))
    verify.raise_if_failed(results, checks)
    if not results[NAME]["max_abs_diff"] < 1e-5:
        raise ValueError(f"SavedModel differs from the Keras model by {results[NAME]['max_abs_diff']:.2e} "
                         "(>= 1e-5)")


def run() -> None:
    cli.run_entry_point(main, "checkpoint", "out", "overwrite", *cli.CHECK_FLAGS)


if __name__ == "__main__":
    run()
