"""What a MirrorGAN's exports share: the inputs they are checked on, the Keras reference, metadata.

MIM-Net's exports have these in export/common.py (whose loading, grouping, PSNR and metadata
writing a MirrorGAN's share). The tensor contract differs (export/generate_signature.py):
`token_ids` int32 (B, L), `noise` float32 (B, noise_dim) and `condition_noise` float32
(B, condition_dim) -> `generated_image` float32 (B, S, S, 3) in [-1, 1]. The caller tokenizes the
caption with the vocab file beside the model, as for MIM-Net's TFLite and ONNX models, and draws
the two noises.

The exporters call the functions at the end (`file_stem`, `tensor_module`, `parity_examples`,
`model_metadata`) for either kind of model: they choose MIM-Net's or MirrorGAN's.
"""
from __future__ import annotations

import numpy as np

from mimnet_tf.data.text import VOCAB_FILENAME
from mimnet_tf.export import common, signatures
from mimnet_tf.export.generate_signature import (
    CONDITION_NOISE, GENERATED_IMAGE, NOISE, TOKEN_IDS, GenerateTensorsModule, run_generator)
from mimnet_tf.apps.generate_lib import generation_noise
from mimnet_tf.images import MODEL_SCALE

INPUTS = (TOKEN_IDS, NOISE, CONDITION_NOISE)


def is_mirrorgan(trained) -> bool:
    """Whether `trained` (from common.load_checkpoint) is a MirrorGAN (else a MIM-Net editor)."""
    return trained.config.model.model == "mirrorgan"


def generation_examples(trained, count: int, split: str = "test", seed: int = 0) -> list[dict]:
    """`count` single examples {token_ids (1, L), noise (1, noise_dim), condition_noise (1, condition_dim),
    caption}: the captions of `common.parity_batches` (the prepared data's `split`, or vocabulary
    words without prepared data), example i with the noise `generation_noise(seed, i)` (the same
    draws `python -m mimnet_tf.generate` makes)."""
    generator = trained.generator
    examples = []
    for index, batch in enumerate(common.parity_batches(trained, count, split, seed)):
        noise, condition_noise = generation_noise(seed, index, 1, generator.noise_dim, generator.condition_dim)
        examples.append({TOKEN_IDS: batch["token_ids"].astype(np.int32), NOISE: noise.numpy(),
                         CONDITION_NOISE: condition_noise.numpy(), "caption": batch["caption"]})
    return examples


def keras_outputs(trained, batch: dict) -> dict:
    """The reference: the Keras generator's {generated_image} as numpy."""
    outputs = run_generator(trained.generator, *(batch[name] for name in INPUTS))
    return {name: np.asarray(value) for name, value in outputs.items()}


def compare(trained, run, batches: list[dict]) -> dict:
    """Runs `run(token_ids=, noise=, condition_noise=) -> {generated_image}` on every batch against Keras.

    Returns dict(max_abs_diff, psnr of the generated images vs Keras in dB).
    """
    pairs = [(keras_outputs(trained, batch), run(**{name: batch[name] for name in INPUTS})) for batch in batches]
    return common.compare_outputs(pairs, GENERATED_IMAGE)


def metadata(trained, model_format: str, model_file: str, batch_size, variant: str = "") -> dict:
    """The contract an app needs beside a MirrorGAN model file: tensors, noise, value range, tokenizer."""
    model, generator = trained.config.model, trained.generator
    size, max_words = model.image_size, model.max_words

    def tensor(name, shape, dtype):
        return common.tensor_metadata(name, [batch_size] + list(shape), dtype)

    return {
        "format": model_format,
        "model": "mirrorgan",
        "variant": variant,
        "model_file": model_file,
        "vocab_file": VOCAB_FILENAME,
        "image_size": size,
        "max_words": max_words,
        "noise_dim": generator.noise_dim,
        "condition_dim": generator.condition_dim,
        "inputs": [tensor(TOKEN_IDS, (max_words,), "int32"), tensor(NOISE, (generator.noise_dim,), "float32"),
                   tensor(CONDITION_NOISE, (generator.condition_dim,), "float32")],
        "outputs": [tensor(GENERATED_IMAGE, (size, size, 3), "float32")],
        "noise": "noise and condition_noise: independent standard normal draws per row; "
                 "another draw for the same caption gives another bird",
        "normalisation": {"output": f"{GENERATED_IMAGE} {common.OUTPUT_PIXELS}", "scale": MODEL_SCALE,
                          "offset": -1.0},
        "tokenizer": common.tokenizer_metadata(max_words),
    }


# ---- MIM-Net's or MirrorGAN's, by the model ----


def file_stem(trained) -> str:
    """The exports' file names start with it: "mirrorgan" (mirrorgan_fp32.tflite) or "mimnet"."""
    return "mirrorgan" if is_mirrorgan(trained) else "mimnet"


def tensor_module(trained, batch_size=None):
    """What TFLite (static `batch_size`) and ONNX (None) convert: a GenerateTensorsModule or MIM-Net's
    TensorModule."""
    model = trained.config.model
    if is_mirrorgan(trained):
        return GenerateTensorsModule(trained.generator, model.max_words, batch_size)
    return signatures.TensorModule(trained.generator, model.image_size, model.max_words, batch_size)


def tensors_function(module):
    """The module's tensors tf.function and the image output among its outputs."""
    if isinstance(module, GenerateTensorsModule):
        return module.generate_tensors, GENERATED_IMAGE
    return module.edit_tensors, signatures.EDITED_IMAGE


def parity_examples(trained, count: int, split: str = "test") -> list[dict]:
    """The single examples a model's exports are calibrated and checked on: a MirrorGAN's captions
    with noise (above), a MIM-Net's images with captions (common.parity_batches)."""
    if is_mirrorgan(trained):
        return generation_examples(trained, count, split)
    return common.parity_batches(trained, count, split)


def model_metadata(trained, model_format: str, model_file: str, batch_size, variant: str = "") -> dict:
    """The metadata JSON beside a TFLite or ONNX file: `metadata` above or common.metadata."""
    return (metadata if is_mirrorgan(trained) else common.metadata)(trained, model_format, model_file, batch_size,
                                                                     variant)
