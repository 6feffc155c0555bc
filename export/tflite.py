"""Exports a trained generator to TFLite (LiteRT): builtin ops only, static shapes, one signature.

    python -m mimnet_tf.export.tflite --checkpoint=runs/synthbirds --out=models/tflite \\
        --variants=fp32,fp16,dynamic,int8

Each variant is `mimnet_<variant>.tflite` with `mimnet_<variant>.json` beside it (tensors, input
size, normalisation, max words, vocab file name) and the shared `vocab.txt`. The signature
`serving_default` maps `image` float32 (B, S, S, 3) in [-1, 1] and `token_ids` int32 (B, L) to
`edited_image` and `localisation_map` (B = --batch_size, 1 by default).

Variants: fp32; fp16 (float16 weights); dynamic (int8 weights, float activations); int8 (int8
weights and activations calibrated on training examples, float input/output). After writing,
each file runs in the LiteRT interpreter on test images and is compared with the Keras model.
"""
from __future__ import annotations

import os
import warnings

import tensorflow as tf

from mimnet_tf import files
from mimnet_tf.export import common, signatures
from mimnet_tf.config import ExportConfig

VARIANTS = ("fp32", "fp16", "dynamic", "int8")
# The LiteRT REVERSE_SEQUENCE kernel has no int8 version, yet the quantizer quantizes it (the
# model then fails at AllocateTensors); the text encoder's two reverse_sequence ops stay float.
# The memory's cosine attention divides by vector norms; a quantized DIV refuses a divisor that
# rounds to its zero point (padding words have zero norm), so DIV stays float too.
INT8_FLOAT_OPS = ("REVERSE_SEQUENCE", "DIV")


def parse_variants(variants) -> tuple[str, ...]:
    """Validates --variants; returns them in the given order without duplicates."""
    if isinstance(variants, str):
        variants = variants.split(",")
    chosen = []
    for variant in variants:
        variant = variant.strip()
        if not variant:
            continue
        if variant not in VARIANTS:
            raise ValueError(f"--variants: unknown variant {variant!r}; expected a comma-separated subset of "
                             f"{','.join(VARIANTS)}")
        if variant not in chosen:
            chosen.append(variant)
    if not chosen:
        raise ValueError(f"--variants is empty; expected a comma-separated subset of {','.join(VARIANTS)}")
    return tuple(chosen)


def model_filename(variant: str) -> str:
    return f"mimnet_{variant}.tflite"


def metadata_filename(variant: str) -> str:
    return f"mimnet_{variant}.json"


def convert(module: signatures.TensorModule, variant: str, representative=None) -> bytes:
    """Converts the module's static-shape `edit_tensors` to a TFLite flatbuffer.

    Args:
        module: a TensorModule with a static batch size.
        variant: one of VARIANTS.
        representative: for int8, a list of {image, token_ids} numpy batches (calibration).
    """
    function = module.edit_tensors.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if variant == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "int8":
        if not representative:
            raise ValueError("The int8 variant needs representative training examples")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                               tf.lite.OpsSet.TFLITE_BUILTINS]

        def dataset():
            for batch in representative:
                yield {signatures.IMAGE: batch["image"], signatures.TOKEN_IDS: batch["token_ids"]}

        converter.representative_dataset = dataset
        # Selective quantization: the debugger's non-debug model is the int8 model with the
        # denylisted ops left in float.
        with warnings.catch_warnings():  # the debugger uses the deprecated tf.lite.Interpreter
            warnings.simplefilter("ignore", UserWarning)
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_dataset=dataset,
                debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(INT8_FLOAT_OPS)))
            return debugger.get_nondebug_quantized_model()
    elif variant != "fp32":
        parse_variants([variant])
    return converter.convert()


def representative_batches(trained, count: int, batch_size: int) -> list[dict]:
    """`count` calibration batches from the training data (int8)."""
    try:
        examples = common.parity_batches(trained, count * batch_size, split="train")
    except FileNotFoundError as error:
        raise FileNotFoundError(f"The int8 variant calibrates on the training data, which is missing: {error}") from None
    return common.group(examples, batch_size)


def export_tflite(trained, out_dir: str, variants=VARIANTS, representative_samples: int = 32,
                  batch_size: int = 1, overwrite: bool = False) -> dict[str, str]:
    """Writes each variant, its metadata JSON and vocab.txt into out_dir; returns {variant: path}.

    Every file is written first into a temporary folder and then moved in (files.write_files):
    a killed export leaves the previous files whole; files of the same name are replaced only
    with `overwrite`.
    """
    variants = parse_variants(variants)
    if batch_size < 1:
        raise ValueError(f"--batch_size={batch_size}: a TFLite model has a static batch size >= 1")
    model = trained.config.model
    names = [name for variant in variants for name in (model_filename(variant), metadata_filename(variant))]

    def write(folder):
        module = signatures.TensorModule(trained.generator, model.image_size, model.max_words, batch_size)
        representative = None
        if "int8" in variants:
            representative = representative_batches(trained, representative_samples, batch_size)
        trained.vocab.save(folder)
        for variant in variants:
            with open(os.path.join(folder, model_filename(variant)), "wb") as f:
                f.write(convert(module, variant, representative))
            values = common.metadata(trained, "tflite", model_filename(variant), batch_size, variant)
            common.write_metadata(os.path.join(folder, metadata_filename(variant)), values)

    files.write_files(out_dir, names, overwrite, "--out", write)
    return {variant: os.path.join(out_dir, model_filename(variant)) for variant in variants}


def tflite_runner(path: str):
    """(image, token_ids) -> outputs with the LiteRT interpreter (the one the apps use)."""
    from mimnet_tf.serving.tflite_edit import LiteRTModel

    model = LiteRTModel(path)
    return model.run


def evaluate(trained, paths: dict[str, str], batches: list[dict]) -> dict[str, dict]:
    """{variant: dict(max_abs_diff, psnr vs Keras, megabytes)} on the given examples."""
    return {variant: {**common.compare(trained, tflite_runner(path), batches),
                      "megabytes": common.file_megabytes(path)}
            for variant, path in paths.items()}


def main(config: ExportConfig) -> None:
    variants = parse_variants(config.variants)
    if not config.out:
        raise ValueError("--out is required: the directory to write the .tflite files into")
    trained = common.load_checkpoint(config.checkpoint)
    paths = export_tflite(trained, config.out, variants, config.representative_samples, config.batch_size,
                          config.overwrite)
    results = evaluate(trained, paths, common.group(common.parity_batches(trained, 8 * config.batch_size), config.batch_size))
    print(f"{'variant':8} {'file':24} {'MB':>7} {'max |diff|':>11} {'PSNR vs Keras':>14}")
    for variant, result in results.items():
        print(f"{variant:8} {model_filename(variant):24} {result['megabytes']:7.3f} {result['max_abs_diff']:11.2e} "
              f"{result['psnr']:11.1f} dB")


def run() -> None:
    from mimnet_tf.export import cli

    cli.run_entry_point(main, "checkpoint", "out", "variants", "representative_samples", "batch_size", "overwrite")


if __name__ == "__main__":
    run()
