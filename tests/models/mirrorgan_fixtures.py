"""Tiny MirrorGAN set-ups for the tests: prepared data, a DAMSM and a STREAM directory, a RunConfig.

The prepared data are two-colour images (crown colour above, wing colour below) whose captions
name those colours, so a STREAM pretrained on them for a few dozen steps really reads colours
from pixels, and a generator can lower its redescription loss by painting them. The DAMSM
directory is written untrained in exactly the layout `pretrain_damsm` writes, which is all
MirrorGAN needs to load and freeze its text encoder.
"""
from __future__ import annotations

import json
import os

import keras
import numpy as np
import tensorflow as tf

from mimnet_tf import testing
from mimnet_tf.data import records
from mimnet_tf.data.text import Vocabulary
from mimnet_tf.images import encode_png
from mimnet_tf.models.model_dir import CHECKPOINT_SUBDIR, CONFIG_FILENAME, with_vocab
from mimnet_tf.apps.pretrain_damsm_lib import build_damsm, damsm_checkpoint
from mimnet_tf.apps.pretrain_stream_lib import StreamPretrainConfig, pretrain_stream

MODEL_OVERRIDES = {"model": "mirrorgan", "mirrorgan_stages": 2, "noise_dim": 8, "condition_dim": 4,
                   "stream_embed_dim": 16, "stream_hidden_dim": 32, "num_residual_blocks": 1}


COLOURS = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (40, 160, 50), "yellow": (240, 220, 40)}
_TEMPLATES = ("this bird has a {crown} crown and {wings} wings", "a bird with {wings} wings and a {crown} crown",
              "the bird has {wings} wings")


def write_colour_prepared(out_dir: str, num_train: int = 16, num_test: int = 8, size: int = 32, seed: int = 0) -> str:
    """Prepared data of two-colour images with captions naming the colours; returns out_dir."""
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = list(COLOURS)
    captions_seen = []
    for split, count in (("train", num_train), ("test", num_test)):
        with tf.io.TFRecordWriter(records.shard_path(out_dir, split, 0, 1)) as writer:
            for index in range(count):
                crown, wings = rng.choice(names, size=2, replace=False)
                image = np.empty((size, size, 3), np.float32)
                image[: size // 2] = COLOURS[crown]
                image[size // 2:] = COLOURS[wings]
                image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
                captions = [t.format(crown=crown, wings=wings) for t in _TEMPLATES]
                captions_seen += captions if split == "train" else []
                writer.write(records.serialize(f"{split}/{index:04d}", encode_png(image), captions, index % 2))
    Vocabulary.build(captions_seen).save(out_dir)
    with open(os.path.join(out_dir, records.META_FILENAME), "w", encoding="utf-8") as f:
        json.dump({"dataset": "colours", "image_size": size,
                   "splits": {"train": {"images": num_train}, "test": {"images": num_test}}}, f)
    return out_dir


def _save(checkpoint: tf.train.Checkpoint, directory: str, config, vocab) -> None:
    os.makedirs(directory, exist_ok=True)
    config.save(os.path.join(directory, CONFIG_FILENAME))
    vocab.save(directory)
    tf.train.CheckpointManager(checkpoint, os.path.join(directory, CHECKPOINT_SUBDIR), max_to_keep=1).save(1)


def write_setup(root: str, **model_overrides):
    """Prepared data + DAMSM + STREAM dirs under `root`.

    Returns:
        (RunConfig with vocab_size, vocab, the STREAM pretraining summary).
    """
    prepared = write_colour_prepared(os.path.join(root, "prepared"), num_train=16, num_test=4, size=32)
    model = {**MODEL_OVERRIDES, "damsm_dir": os.path.join(root, "damsm"), "stream_dir": os.path.join(root, "stream"),
             **model_overrides}
    vocab = Vocabulary.load(prepared)
    config = with_vocab(testing.tiny_run_config(prepared, os.path.join(root, "run"), model=model), vocab)
    keras.utils.set_random_seed(0)  # the same DAMSM whatever ran before
    damsm = build_damsm(config, len(vocab))
    _save(damsm_checkpoint(damsm), config.model.damsm_dir, config, vocab)
    summary = pretrain_stream(config, StreamPretrainConfig(steps=80, learning_rate=1e-2, eval_batches=1,
                                                           sample_captions=2), log=lambda *_: None)
    return config, vocab, summary
