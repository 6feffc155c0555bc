"""Exports a trained generator to ONNX with tf2onnx (opset 17) and checks it in onnxruntime.

    python -m mimnet_tf.export.onnx --checkpoint=runs/synthbirds --out=models/onnx

Writes `mimnet.onnx` (inputs `image` float32 (B, S, S, 3) in [-1, 1], `token_ids` int32 (B, L);
outputs `edited_image`, `localisation_map`; B dynamic), `mimnet.json` (the same metadata as the
TFLite files, batch -1, and the checks of export/verify.py) and `vocab.txt`.
"""
from __future__ import annotations

import os

from mimnet_tf.export import common, signatures, verify
from mimnet_tf.config import ExportConfig

MODEL_FILENAME = "mimnet.onnx"


def export_onnx(trained, out_dir: str, opset: int = 17) -> str:
    """Converts `edit_tensors` (dynamic batch) with tf2onnx.convert.from_function; returns the path."""
    import tf2onnx

    if opset < 13:
        raise ValueError(f"--opset={opset}: expected 13 or newer (17 is tested)")
    os.makedirs(out_dir, exist_ok=True)
    model = trained.config.model
    module = signatures.TensorModule(trained.generator, model.image_size, model.max_words)
    path = os.path.join(out_dir, MODEL_FILENAME)
    tf2onnx.convert.from_function(module.edit_tensors, input_signature=module.edit_tensors.input_signature,
                                  opset=opset, output_path=path)
    trained.vocab.save(out_dir)
    common.write_metadata(os.path.splitext(path)[0] + ".json", common.metadata(trained, "onnx", MODEL_FILENAME, -1))
    return path


def onnx_runner(path: str):
    """(image, token_ids) -> outputs with onnxruntime on CPU."""
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]

    def run(image, token_ids):
        values = session.run(names, {signatures.IMAGE: image, signatures.TOKEN_IDS: token_ids})
        return dict(zip(names, values))

    return run


def written(path: str) -> dict[str, verify.Written]:
    """What export/verify.py checks: the ONNX file, its JSON and an onnxruntime runner."""
    return {"onnx": verify.Written(path, os.path.splitext(path)[0] + ".json", onnx_runner(path))}


def main(config: ExportConfig) -> None:
    from mimnet_tf.export import cli

    if not config.out:
        raise ValueError("--out is required: the directory to write mimnet.onnx into")
    checks = cli.check_config(config)
    trained = common.load_checkpoint(config.checkpoint)
    path = export_onnx(trained, config.out, config.opset)
    print(f"ONNX: {path} (opset {config.opset}), checked with onnxruntime against Keras:")
    results = verify.check_exports(trained, written(path), checks)
    print(verify.format_results(results))
    verify.raise_if_failed(results, checks)


def run() -> None:
    from mimnet_tf.export import cli

    cli.run_entry_point(main, "checkpoint", "out", "opset", *cli.CHECK_FLAGS)


if __name__ == "__main__":
    run()
