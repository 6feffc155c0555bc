"""Text-to-image with a trained MirrorGAN: captions in, PNG files out.

`generate_images` is the one generation call (token ids + noise -> uint8 images); `write_images`
loads a model directory and writes `<out>/<text index>_<slug>_<sample>.png` plus `index.json`
(file -> caption, seed), so a set of images can be traced back to what made it. Noise is a
stateless draw keyed by (seed, caption index): the same command writes the same images.
"""
from __future__ import annotations

import json
import os
import re
from typing import Sequence

import numpy as np
import tensorflow as tf

from mimnet_tf.images import encode_png, to_uint8
from mimnet_tf.models.mirrorgan import load_mirrorgan

INDEX_FILENAME = "index.json"
_SLUG_WORDS = 6


def slug(caption: str) -> str:
    """A short file-name-safe form of a caption: 'a red bird, blue wings' -> 'a_red_bird_blue_wings'."""
    words = re.findall(r"[a-z0-9]+", caption.lower())[:_SLUG_WORDS]
    return "_".join(words) or "caption"


def generation_noise(seed: int, stream: int, count: int, noise_dim: int, condition_dim: int):
    """(z (count, noise_dim), eps (count, condition_dim)): stateless normal draws keyed by (seed, stream)."""
    z = tf.random.stateless_normal((count, noise_dim), tf.constant([seed, 2 * stream], tf.int32))
    eps = tf.random.stateless_normal((count, condition_dim), tf.constant([seed, 2 * stream + 1], tf.int32))
    return z, eps


def generate_images(generator, token_ids: np.ndarray, seed: int = 0, stream: int = 0) -> np.ndarray:
    """Images of a batch of captions, one noise draw per row.

    Args:
        generator: a built MirrorGANGenerator.
        token_ids: int32 (count, max_words).
        seed, stream: the noise key (see `generation_noise`).

    Returns:
        uint8 (count, S, S, 3): the finest stage.
    """
    token_ids = np.asarray(token_ids, np.int32)
    z, eps = generation_noise(seed, stream, token_ids.shape[0], generator.noise_dim, generator.condition_dim)
    outputs = generator({"token_ids": tf.constant(token_ids), "noise": z, "condition_noise": eps}, training=False)
    return to_uint8(outputs["image"].numpy())


def write_images(model_dir: str, texts: Sequence[str], num: int, out_dir: str, seed: int = 0,
                 checkpoint: str = "") -> list[str]:
    """Writes `num` images per caption of `texts` into `out_dir`; returns the paths.

    Raises:
        FileNotFoundError: no model directory or checkpoint.
        ValueError: not a MirrorGAN directory, `num` < 1, no caption.
        mimnet_tf.data.text.CaptionError: a caption with no known word.
    """
    if num < 1:
        raise ValueError(f"--num={num}: expected at least one image per caption")
    if not texts:
        raise ValueError("No --text given: pass the caption(s) to draw, e.g. --text='a red bird with black wings'")
    trained = load_mirrorgan(model_dir, checkpoint)
    max_words = trained.config.model.max_words
    ids = [trained.vocab.encode_checked(caption, max_words) for caption in texts]  # all checked before drawing
    os.makedirs(out_dir, exist_ok=True)
    paths, index = [], []
    for text_index, (caption, caption_ids) in enumerate(zip(texts, ids)):
        images = generate_images(trained.generator, np.repeat(caption_ids[None], num, axis=0), seed, text_index)
        for sample, image in enumerate(images):
            name = f"{text_index:02d}_{slug(caption)}_{sample:02d}.png"
            with open(os.path.join(out_dir, name), "wb") as f:
                f.write(encode_png(image))
            paths.append(os.path.join(out_dir, name))
            index.append({"file": name, "caption": caption, "sample": sample, "seed": seed})
    with open(os.path.join(out_dir, INDEX_FILENAME), "w", encoding="utf-8") as f:
        json.dump({"model_dir": model_dir, "checkpoint": trained.checkpoint_path, "images": index}, f, indent=2)
    return paths
