"""Exports a trained generator to ONNX with tf2onnx (opset 17) and checks it in onnxruntime.

    python -m mimnet_tf.export.onnx --checkpoint=runs/synthbirds --out=models/onnx

Writes `mimnet.onnx` (inputs `image` float32 (B, S, S, 3) in [-1, 1], `token_ids` int32 (B, L);
outputs `edited_image`, `localisation_map`; B dynamic), `mimnet.json` (the same metadata as the
TFLite files, batch -1, and the checks of export/verify.py) and `vocab.txt`.

A MirrorGAN model directory gives `mirrorgan.onnx` and `mirrorgan.json` the same way (inputs
`token_ids`, `noise`, `condition_noise`; output `generated_image`; export/generate_common.py),
checked on training captions with fixed noise draws.
"""
from __future__ import annotations

import os
from typing import Optional

from mimnet_tf import files
from mimnet_tf.config import ExportConfig
from mimnet_tf.export import cli, common, generate_common, verify

NAME = "onnx"  # its key in the export checks' results


def filenames(trained) -> tuple[str, str]:
    """(model file, metadata file): mimnet.onnx and mimnet.json, or mirrorgan.onnx and mirrorgan.json."""
    stem = generate_common.file_stem(trained)
    return f"{stem}.onnx", f"{stem}.json"


def export_onnx(trained, out_dir: str, opset: int = 17, overwrite: bool = False,
                checker: Optional[verify.Checker] = None) -> str:
    """Converts `edit_tensors` (a MirrorGAN's `generate_tensors`; dynamic batch) with
    tf2onnx.convert.from_function; returns the path.

    The files are written into a temporary folder and then moved in (files.write_files): a
    killed export leaves the previous files whole; they are replaced only with `overwrite`.
    With `checker`, the model is checked in that folder (figures in checker.results["onnx"]); a
    refused one moves in as mimnet.rejected.onnx only, never replacing a good mimnet.onnx.
    """
    import tf2onnx

    if opset < 13:
        raise ValueError(f"--opset={opset}: expected 13 or newer (17 is tested)")
    model_file, metadata_file = filenames(trained)

    def write(folder):
        function, _ = generate_common.tensors_function(generate_common.tensor_module(trained))
        tf2onnx.convert.from_function(function, input_signature=function.input_signature, opset=opset,
                                      output_path=os.path.join(folder, model_file))
        trained.vocab.save(folder)
        common.write_metadata(os.path.join(folder, metadata_file),
                              generate_common.model_metadata(trained, "onnx", model_file, -1))
        if checker is not None:
            return checker.check_staged_files(written(os.path.join(folder, model_file)), out_dir)
        return None

    files.write_files(out_dir, [model_file, metadata_file], overwrite, "--out", write)
    return os.path.join(out_dir, model_file)


def onnx_runner(path: str):
    """(image, token_ids) -> outputs with onnxruntime on CPU: the inputs in the model's order or by
    name (a MirrorGAN's token_ids=, noise=, condition_noise=)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    input_names = [tensor.name for tensor in session.get_inputs()]
    names = [output.name for output in session.get_outputs()]

    def run(*values, **named):
        outputs = session.run(names, {**dict(zip(input_names, values)), **named})
        return dict(zip(names, outputs))

    return run


def written(path: str) -> dict[str, verify.Written]:
    """What export/verify.py checks: the ONNX file, its JSON and an onnxruntime runner."""
    return {NAME: verify.Written(path, os.path.splitext(path)[0] + ".json", onnx_runner(path))}


def main(config: ExportConfig) -> None:
    if not config.out:
        raise ValueError("--out is required: the directory to write mimnet.onnx (mirrorgan.onnx) into")
    checks = cli.check_config(config)
    trained = common.load_checkpoint(config.checkpoint)
    checker = verify.Checker(trained, checks)
    path = export_onnx(trained, config.out, config.opset, config.overwrite, checker)
    print(f"ONNX: {checker.results[NAME].get('rejected_to', path)} (opset {config.opset}), checked with onnxruntime "
          "against Keras:")
    print(verify.format_results(checker.results))
    verify.raise_if_failed(checker.results, checks)


def run() -> None:
    cli.run_entry_point(main, "checkpoint", "out", "opset", "overwrite", *cli.CHECK_FLAGS)


if __name__ == "__main__":
    run()
