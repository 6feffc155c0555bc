"""What every export shares: loading a model directory, parity data and numbers, metadata files.

Every exporter (SavedModel, TFLite, ONNX) loads the generator with `load_checkpoint`, wraps
`mimnet_tf.export.signatures.run_generator`, writes a metadata JSON with `write_metadata` (TFLite and ONNX:
the SavedModel carries its signatures), and checks itself against the Keras model on
`parity_batches` with `max_abs_diff` / `unit_psnr`. A MirrorGAN's exports have their inputs,
reference and metadata in export/generate_common.py, and share the rest of this module.
"""
from __future__ import annotations

import json
import os

import numpy as np

from mimnet_tf.data import pipeline, text
from mimnet_tf.export import signatures
from mimnet_tf.images import MODEL_SCALE, to_model_range
from mimnet_tf.models.builder import load_generator
from mimnet_tf.models.mirrorgan import load_mirrorgan
from mimnet_tf.models.model_dir import ModelDir

# How an app turns a model's output image into pixels (written into every export's metadata).
OUTPUT_PIXELS = "x in [-1, 1] -> round((x + 1) * 127.5) clipped to [0, 255]"


def load_checkpoint(model_dir: str):
    """A TrainedGenerator (MIM-Net) or TrainedMirrorGAN from a model directory written by training
    (one-line errors)."""
    if not model_dir:
        raise ValueError("--checkpoint is required: a model directory written by `python -m mimnet_tf.train`")
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"--checkpoint={model_dir}: no such directory (expected a model directory "
                                "written by `python -m mimnet_tf.train`, holding config.json, vocab.txt, checkpoints/)")
    if model_kind(model_dir) == "mirrorgan":
        return load_mirrorgan(model_dir)
    return load_generator(model_dir)


def model_kind(model_dir: str) -> str:
    """"mimnet" or "mirrorgan", from the model directory's config.json ("mimnet" if unreadable)."""
    directory = ModelDir(model_dir or "")
    return directory.config().model.model if directory.has_config() else "mimnet"


def map_size(trained) -> int:
    return trained.config.model.image_size // trained.config.model.feature_downsample


def keras_outputs(trained, image: np.ndarray, token_ids: np.ndarray) -> dict:
    """The reference: the Keras generator's served outputs as numpy."""
    outputs = signatures.run_generator(trained.generator, image, token_ids)
    return {name: np.asarray(value) for name, value in outputs.items()}


def parity_batches(trained, count: int, split: str = "test", seed: int = 0) -> list[dict]:
    """`count` single examples {image (1, S, S, 3), token_ids (1, L), caption} for parity checks.

    Taken from the prepared data's `split` (the training data for int8 calibration); without
    prepared data, deterministic random images with captions made of vocabulary words.
    """
    config = trained.config
    try:
        return _prepared_batches(trained, split, count)
    except FileNotFoundError:
        if split == "train":
            raise
    rng = np.random.default_rng(seed)
    size, max_words = config.model.image_size, config.model.max_words
    words = trained.vocab.words[2:]
    batches = []
    for _ in range(count):
        caption = " ".join(rng.choice(words, size=min(len(words), max(1, max_words // 2))))
        image = to_model_range(rng.integers(0, 256, (1, size, size, 3), dtype=np.uint8))
        batches.append({"image": image, "token_ids": trained.vocab.encode(caption, max_words)[0][None],
                        "caption": caption})
    return batches


def _prepared_batches(trained, split: str, count: int) -> list[dict]:
    """The prepared data's captions are encoded again with the model's own vocabulary: the data
    folder's vocab.txt can be another one (data rendered again since the model was trained), and
    its ids would index past the model's word embedding."""
    config = trained.config
    dataset = pipeline.make_dataset(config.data, split, training=False, batch_size=1, splitter="core")
    batches = []
    for batch in dataset.take(count):
        caption = batch["caption"].numpy()[0].decode("utf-8")
        batches.append({"image": batch["image"].numpy(), "caption": caption,
                        "token_ids": trained.vocab.encode(caption, config.model.max_words)[0][None]})
    if not batches:
        raise FileNotFoundError(f"The {split} split of {config.data.resolved_prepared_dir} is empty")
    return batches


def group(examples: list[dict], batch_size: int) -> list[dict]:
    """Stacks single examples into batches of `batch_size` (a static-batch model's input): every
    array of the examples (image and token_ids, or MirrorGAN's token_ids and noises), not the caption."""
    names = [name for name, value in examples[0].items() if isinstance(value, np.ndarray)] if examples else []
    batches = []
    for start in range(0, len(examples) - batch_size + 1, batch_size):
        chunk = examples[start:start + batch_size]
        batches.append({name: np.concatenate([b[name] for b in chunk]) for name in names})
    return batches


def max_abs_diff(reference: dict, candidate: dict) -> float:
    """Largest absolute difference over both served outputs."""
    return max(float(np.max(np.abs(np.asarray(reference[k]) - np.asarray(candidate[k]))))
               for k in (signatures.EDITED_IMAGE, signatures.LOCALISATION_MAP))


def unit_psnr(reference: np.ndarray, candidate: np.ndarray) -> float:
    """PSNR in dB of two [-1, 1] image batches measured in [0, 1] (peak 1); inf when equal."""
    reference = np.asarray(reference, np.float64)
    candidate = np.asarray(candidate, np.float64)
    error = np.mean(np.square((reference - candidate) / 2.0))
    return float("inf") if error == 0 else float(10.0 * np.log10(1.0 / error))


def compare(trained, run, batches: list[dict]) -> dict:
    """Runs `run(image, token_ids) -> outputs` on every batch against Keras.

    Returns dict(max_abs_diff over both outputs, psnr of the edited images vs Keras in dB).
    """
    pairs = [(keras_outputs(trained, batch["image"], batch["token_ids"]), run(batch["image"], batch["token_ids"]))
             for batch in batches]
    return compare_outputs(pairs, signatures.EDITED_IMAGE)


def compare_outputs(pairs: list[tuple[dict, dict]], image_name: str) -> dict:
    """dict(max_abs_diff over every output of the references, psnr of the `image_name` outputs in dB)
    of (reference outputs, candidate outputs) pairs."""
    worst = max(float(np.max(np.abs(np.asarray(reference[name]) - np.asarray(candidate[name]))))
                for reference, candidate in pairs for name in reference)
    psnr = unit_psnr(np.concatenate([reference[image_name] for reference, _ in pairs]),
                     np.concatenate([np.asarray(candidate[image_name]) for _, candidate in pairs]))
    return {"max_abs_diff": worst, "psnr": psnr}


def metadata(trained, model_format: str, model_file: str, batch_size, variant: str = "") -> dict:
    """The contract an app needs beside a model file: tensors, value ranges, tokenizer."""
    model = trained.config.model
    size, max_words, small = model.image_size, model.max_words, map_size(trained)

    def tensor(name, shape, dtype):
        return tensor_metadata(name, [batch_size] + list(shape), dtype)

    return {
        "format": model_format,
        "variant": variant,
        "model_file": model_file,
        "vocab_file": text.VOCAB_FILENAME,
        "image_size": size,
        "map_size": small,
        "max_words": max_words,
        "inputs": [tensor(signatures.IMAGE, (size, size, 3), "float32"),
                   tensor(signatures.TOKEN_IDS, (max_words,), "int32")],
        "outputs": [tensor(signatures.EDITED_IMAGE, (size, size, 3), "float32"),
                    tensor(signatures.LOCALISATION_MAP, (small, small, 1), "float32")],
        "normalisation": {
            "input": "RGB pixels p in [0, 255] -> p / 127.5 - 1 (image resized to image_size first)",
            "output": f"{signatures.EDITED_IMAGE} {OUTPUT_PIXELS}; localisation_map in [0, 1]",
            "scale": MODEL_SCALE,
            "offset": -1.0,
        },
        "tokenizer": tokenizer_metadata(max_words),
    }


def tensor_metadata(name: str, shape, dtype: str) -> dict:
    return {"name": name, "shape": list(shape), "dtype": dtype}


def tokenizer_metadata(max_words: int) -> dict:
    """How an app turns a caption into token_ids (mimnet_tf.data.text; the vocab file beside the model)."""
    return {
        "lowercase": "ascii",
        "separator_pattern": text.SEPARATOR_PATTERN,
        "pad_id": text.PAD_ID,
        "unk_id": text.UNK_ID,
        "max_words": max_words,
        "vocab": "one word per line; line number = id",
    }


def write_metadata(path: str, values: dict) -> str:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(values, f, indent=2)
        f.write("\n")
    return path


def file_megabytes(path: str) -> float:
    """Size of a file, or of a directory's files (a SavedModel), in MB."""
    if os.path.isdir(path):
        total = sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)
    else:
        total = os.path.getsize(path)
    return total / 1e6
