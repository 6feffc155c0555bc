"""Exports a trained generator to TFLite (LiteRT): builtin ops only, static shapes, one signature.

    python -m mimnet_tf.export.tflite --checkpoint=runs/synthbirds --out=models/tflite \\
        --variants=fp32,fp16,dynamic,int8

Each variant is `mimnet_<variant>.tflite` with `mimnet_<variant>.json` beside it (tensors, input
size, normalisation, max words, vocab file name) and the shared `vocab.txt`. The signature
`serving_default` maps `image` float32 (B, S, S, 3) in [-1, 1] and `token_ids` int32 (B, L) to
`edited_image` and `localisation_map` (B = --batch_size, 1 by default).

Variants: fp32; fp16 (float16 weights); dynamic (int8 weights, float activations); int8 (per-channel
int8 weights and int8 activations calibrated on training examples, float input/output, the ops
measured to need it kept float: export/quantization.py). After writing, each file runs in the
LiteRT interpreter and is checked against the Keras model (export/verify.py): a variant below
--min_psnr or more than --max_accuracy_drop below Keras' attribute accuracy is written as
`mimnet_<variant>.rejected.tflite` instead and the command exits 2 (unless --keep_failing); the
figures are in each `mimnet_<variant>.json` ("checks").

The files are written and checked in a temporary folder and then moved in, so a killed export
leaves the previous files whole and a refused variant never replaces a good one; files of the
same name are replaced only with --overwrite.

A MirrorGAN model directory (text to image) gives `mirrorgan_<variant>.tflite` the same way: the
signature maps `token_ids` int32 (B, L), `noise` float32 (B, noise_dim) and `condition_noise`
float32 (B, condition_dim) to `generated_image` (B, S, S, 3) in [-1, 1], calibrated and checked
on training captions with fixed noise draws (export/generate_common.py; PSNR only: the edit
benchmark does not apply to it).
"""
from __future__ import annotations

import json
import os
from typing import Optional

import tensorflow as tf

from mimnet_tf import files
from mimnet_tf.config import ExportConfig
from mimnet_tf.export import cli, common, generate_common, quantization, signatures, verify
from mimnet_tf.inference.exported_model import IMAGE, TOKEN_IDS, LiteRTModel

VARIANTS = ("fp32", "fp16", "dynamic", "int8")
DEBUG_EXAMPLES = 12  # calibration examples the int8 sensitivity run measures each op on


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


def model_filename(variant: str, prefix: str = "mimnet") -> str:
    return f"{prefix}_{variant}.tflite"


def metadata_filename(variant: str, prefix: str = "mimnet") -> str:
    return f"{prefix}_{variant}.json"


def sensitivity_filename(prefix: str = "mimnet") -> str:
    return f"{prefix}_int8_sensitivity.csv"


def convert(module, variant: str, representative=None,
            int8_float_threshold: float = quantization.DEFAULT_THRESHOLD, report: dict | None = None) -> bytes:
    """Converts the module's static-shape tensors function to a TFLite flatbuffer.

    Args:
        module: a TensorModule (its `edit_tensors`) or GenerateTensorsModule (its `generate_tensors`)
            with a static batch size.
        variant: one of VARIANTS.
        representative: for int8, a list of numpy batches keyed by the function's input names
            ({image, token_ids}; a MirrorGAN's {token_ids, noise, condition_noise}) (calibration;
            the sensitivity run uses the first 12).
        int8_float_threshold: see quantization.quantize_int8.
        report: for int8, receives the QuantizationReport under "int8".
    """
    function, image_output = generate_common.tensors_function(module)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if variant == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "int8":
        if not representative:
            raise ValueError("The int8 variant needs representative training examples")
        examples = list(representative)
        content, int8_report = quantization.quantize_int8(converter, lambda: iter(examples),
                                                          examples[:DEBUG_EXAMPLES], int8_float_threshold,
                                                          image_output)
        if report is not None:
            report["int8"] = int8_report
        return content
    elif variant != "fp32":
        parse_variants([variant])
    return converter.convert()


def representative_batches(trained, count: int, batch_size: int) -> list[dict]:
    """`count` calibration batches from the training data (int8)."""
    try:
        examples = generate_common.parity_examples(trained, count * batch_size, split="train")
    except FileNotFoundError as error:
        raise FileNotFoundError(f"The int8 variant calibrates on the training data, which is missing: {error}") from None
    return common.group(examples, batch_size)


def export_tflite(trained, out_dir: str, variants=VARIANTS, representative_samples: int = ExportConfig.representative_samples,
                  batch_size: int = 1, overwrite: bool = False,
                  int8_float_threshold: float = quantization.DEFAULT_THRESHOLD,
                  checker: Optional[verify.Checker] = None) -> dict[str, str]:
    """Writes each variant, its metadata JSON and vocab.txt into out_dir; returns {variant: path}.

    The int8 variant's JSON also records its quantization ("quantization": the ops kept float
    and why), and `sensitivity_filename()` beside it holds the error of every quantized op.

    Every file is written first into a temporary folder and then moved in (files.write_files):
    a killed export leaves the previous files whole; files of the same name are replaced only
    with `overwrite`. With `checker`, the variants are checked in that folder (figures in
    checker.results[variant]); a refused one moves in under its rejected name only.
    """
    variants = parse_variants(variants)
    if batch_size < 1:
        raise ValueError(f"--batch_size={batch_size}: a TFLite model has a static batch size >= 1")
    prefix = generate_common.file_stem(trained)
    names = [name for variant in variants
             for name in (model_filename(variant, prefix), metadata_filename(variant, prefix))]
    if "int8" in variants:
        names.append(sensitivity_filename(prefix))

    def write(folder):
        module = generate_common.tensor_module(trained, batch_size)
        representative = None
        if "int8" in variants:
            representative = representative_batches(trained, representative_samples, batch_size)
        trained.vocab.save(folder)
        for variant in variants:
            report = {}
            with open(os.path.join(folder, model_filename(variant, prefix)), "wb") as f:
                f.write(convert(module, variant, representative, int8_float_threshold, report))
            values = generate_common.model_metadata(trained, "tflite", model_filename(variant, prefix), batch_size,
                                                    variant)
            if "int8" in report:
                values["quantization"] = {**report["int8"].summary(), "calibration_examples": len(representative),
                                          "sensitivity_file": sensitivity_filename(prefix)}
                with open(os.path.join(folder, sensitivity_filename(prefix)), "w", encoding="utf-8") as f:
                    f.write(report["int8"].to_csv())
            common.write_metadata(os.path.join(folder, metadata_filename(variant, prefix)), values)
        if checker is None:
            return None
        staged = {variant: os.path.join(folder, model_filename(variant, prefix)) for variant in variants}
        replaced = checker.check_staged_files(written(staged, batch_size), out_dir)
        if "int8" in variants and checker.refused("int8"):
            replaced.append(_reject_sensitivity(folder, prefix))
        return replaced

    files.write_files(out_dir, names, overwrite, "--out", write)
    return {variant: os.path.join(out_dir, model_filename(variant, prefix)) for variant in variants}


def _reject_sensitivity(folder: str, prefix: str) -> str:
    """A refused int8 variant's sensitivity CSV goes aside with it (a good int8 file's CSV stays)."""
    rejected = verify.rejected_path(sensitivity_filename(prefix))
    os.replace(os.path.join(folder, sensitivity_filename(prefix)), os.path.join(folder, rejected))
    json_path = os.path.join(folder, verify.rejected_path(metadata_filename("int8", prefix)))
    with open(json_path, encoding="utf-8") as f:
        values = json.load(f)
    values["quantization"]["sensitivity_file"] = rejected
    common.write_metadata(json_path, values)
    return rejected


def tflite_runner(path: str):
    """(image, token_ids) -> outputs with the LiteRT interpreter (the one the apps use); a
    MirrorGAN's file: (token_ids=, noise=, condition_noise=) -> {generated_image}."""
    model = LiteRTModel(path)
    return model.run if model.input_names == [IMAGE, TOKEN_IDS] else model.run_inputs


def written(paths: dict[str, str], batch_size: int = 1) -> dict[str, verify.Written]:
    """What export/verify.py checks: each variant with its JSON and a LiteRT runner."""
    return {variant: verify.Written(path, os.path.splitext(path)[0] + ".json", tflite_runner(path), batch_size)
            for variant, path in paths.items()}


def evaluate(trained, paths: dict[str, str], batches: list[dict]) -> dict[str, dict]:
    """{variant: dict(max_abs_diff, psnr vs Keras, megabytes)} on the given examples."""
    return {variant: {**common.compare(trained, tflite_runner(path), batches),
                      "megabytes": common.file_megabytes(path)}
            for variant, path in paths.items()}


def main(config: ExportConfig) -> None:
    variants = parse_variants(config.variants)
    if not config.out:
        raise ValueError("--out is required: the directory to write the .tflite files into")
    checks = cli.check_config(config, skip_examples=config.representative_samples * config.batch_size)
    trained = common.load_checkpoint(config.checkpoint)
    checker = verify.Checker(trained, checks)
    export_tflite(trained, config.out, variants, config.representative_samples, config.batch_size,
                  overwrite=config.overwrite, int8_float_threshold=config.int8_float_threshold, checker=checker)
    print(verify.format_results(checker.results))
    verify.raise_if_failed(checker.results, checks)


def run() -> None:
    cli.run_entry_point(main, "checkpoint", "out", "variants", "representative_samples", "batch_size",
                        "int8_float_threshold", "overwrite", *cli.CHECK_FLAGS)


if __name__ == "__main__":
    run()
