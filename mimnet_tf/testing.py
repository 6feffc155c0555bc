"""Small models, data and model directories for tests and benchmarks (never downloads).

`tiny_run_config` sizes everything for seconds-long tests; `write_tiny_prepared` writes a
prepared-data folder (TFRecords + vocab.txt + meta.json) of random images with colour captions;
`make_model_dir` writes a model directory in exactly the layout `mimnet_tf.train` writes
(config.json, vocab.txt, checkpoints/ from `training_checkpoint`), optionally after a few
training steps, so that export, serving and evaluation can be tested without a long run;
`tiny_generator` builds a seeded 32 px MIMNetGenerator for the layer and model tests.
"""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from mimnet_tf.config import DataConfig, LossWeights, ModelConfig, RunConfig, TrainConfig
from mimnet_tf.data import records, text
from mimnet_tf.images import encode_png
from mimnet_tf.models.model_dir import ModelDir, with_vocab
from mimnet_tf.apps.train_lib import MODEL_BUILDERS, learning_rate_schedules, make_optimizers

# A tiny MirrorGAN for make_model_dir (two stages; no pretrained DAMSM or STREAM to load).
MIRRORGAN_OVERRIDES = {"model": {"model": "mirrorgan", "mirrorgan_stages": 2, "noise_dim": 8, "condition_dim": 4,
                                 "num_residual_blocks": 1},
                       "loss": {"stream": 0.0}}
COLOURS = ("red", "blue", "green", "white", "black", "yellow")
PARTS = ("wings", "crown", "belly", "tail")


def tiny_run_config(prepared_dir: str, model_dir: str = "", image_size: int = 32, **overrides) -> RunConfig:
    data = DataConfig(dataset="manifest", prepared_dir=prepared_dir, image_size=image_size, batch_size=4,
                      random_crop=False, max_words=12, shuffle_buffer=64)
    model = ModelConfig(image_size=image_size, max_words=12, embed_dim=16, text_dim=16, memory_size=8,
                        base_channels=8, feature_downsample=4, disc_channels=8, image_skips=True)
    train = TrainConfig(model_dir=model_dir, max_steps=4, checkpoint_every=2, log_every=1, image_log_every=2,
                        progress=False, strategy="default")
    config = RunConfig(data=data, model=model, loss=LossWeights(), train=train)
    for section, values in overrides.items():
        config = dataclasses.replace(config, **{section: dataclasses.replace(getattr(config, section), **values)})
    return config


def random_caption(rng: np.random.Generator) -> str:
    parts = rng.choice(PARTS, size=2, replace=False)
    return f"this bird has {rng.choice(COLOURS)} {parts[0]} and a {rng.choice(COLOURS)} {parts[1]}"


def write_tiny_prepared(out_dir: str, num_train: int = 16, num_test: int = 8, size: int = 32, seed: int = 0) -> str:
    """Random-image prepared data with 3 captions per image; returns out_dir."""
    import tensorflow as tf

    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(seed)
    train_captions = []
    counts = {}
    for split, n in (("train", num_train), ("test", num_test)):
        with tf.io.TFRecordWriter(records.shard_path(out_dir, split, 0, 1)) as writer:
            for i in range(n):
                image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                captions = [random_caption(rng) for _ in range(3)]
                if split == "train":
                    train_captions += captions
                writer.write(records.serialize(f"{split}/{i:04d}", encode_png(image), captions, i % 3))
        counts[split] = {"images": n, "captions": 3 * n, "skipped_images": 0, "dropped_captions": 0}
    vocab = text.Vocabulary.build(train_captions)
    vocab.save(out_dir)
    with open(os.path.join(out_dir, records.META_FILENAME), "w", encoding="utf-8") as f:
        json.dump({"dataset": "tiny", "image_size": size, "counts": counts, "vocab_size": len(vocab)}, f)
    return out_dir


def make_model_dir(model_dir: str, prepared_dir: str, image_size: int = 32, train_steps: int = 0, **overrides):
    """Writes a model directory (config.json, vocab.txt, checkpoints/) of a tiny MIM-Net (or of the
    `--model` the overrides name: `model={"model": "mirrorgan", ...}`, see MIRRORGAN_OVERRIDES).

    With `train_steps`, the model first trains that many steps on the prepared data. Returns the
    (RunConfig, model).
    """
    import keras
    import tensorflow as tf

    from mimnet_tf.data import pipeline
    from mimnet_tf.models.checkpointing import training_checkpoint

    config = tiny_run_config(prepared_dir, model_dir, image_size, **overrides)
    keras.utils.set_random_seed(config.train.seed)  # the same weights whatever ran before in the process
    vocab = text.Vocabulary.load(prepared_dir)
    config = with_vocab(config, vocab)
    model = MODEL_BUILDERS[config.model.model].build(config, vocab, lambda *_: None)
    # The optimizers `mimnet_tf.train` builds, so that `train` can resume this directory.
    schedules = learning_rate_schedules(config.train, max(train_steps, 1))
    g_optimizer, d_optimizer = make_optimizers(config.train, schedules, model.step_counter)
    model.compile(g_optimizer=g_optimizer, d_optimizer=d_optimizer)
    if train_steps:
        step = tf.function(model.train_step)
        batches = iter(pipeline.make_dataset(config.data))
        for _ in range(train_steps):
            step(next(batches))
    ModelDir(model_dir).write(config, vocab)
    checkpoint = training_checkpoint(model, g_optimizer=model.g_optimizer, d_optimizer=model.d_optimizer)
    manager = tf.train.CheckpointManager(checkpoint, ModelDir(model_dir).checkpoint_dir, max_to_keep=1)
    manager.save(checkpoint_number=int(model.step_counter.numpy()))
    return config, model


def tiny_generator(seed: int = 0, **overrides):
    """A built MIMNetGenerator of 32 px (features at 8x8, 4 memories, 12 words, captions of 5),
    its weights drawn from `seed`; `overrides` replace fields of its ModelConfig."""
    import keras

    from mimnet_tf.models.generator import MIMNetGenerator

    config = ModelConfig(vocab_size=12, image_size=32, max_words=5, embed_dim=8, text_dim=8, memory_size=4,
                         base_channels=8, feature_downsample=4, image_skips=True, **overrides)
    keras.utils.set_random_seed(seed)
    generator = MIMNetGenerator(config, name="generator")
    generator.build()
    return generator
