"""DAMSM pretraining: the text encoder MIM-Net starts from, and the encoders of Sim/R-precision.

Writes `<damsm_dir>/{config.json, vocab.txt, checkpoints/, damsm_log.jsonl}`; `models.damsm.damsm_from_dir`
reads it back. Settings follow AttnGAN: Adam lr 2e-3 decayed x0.98 per epoch, RNN gradients
clipped at 0.25, gammas (4, 5, 10). It trains through the one loop (training/pretraining.py).
"""
from __future__ import annotations

import os
import time

import keras
import numpy as np
import tensorflow as tf

from mimnet_tf import files
from mimnet_tf.config import RunConfig
from mimnet_tf.data import pipeline
from mimnet_tf.data.text import Vocabulary
from mimnet_tf.metrics.similarity import r_precision
from mimnet_tf.models.checkpointing import layer_variables, optimizer_variables
from mimnet_tf.models.damsm import DAMSM
from mimnet_tf.models.model_dir import with_vocab
from mimnet_tf.training import pretraining

LOG_FILENAME = "damsm_log.jsonl"
SUMMARY_FILENAME = "damsm_summary.json"


def build_damsm(config: RunConfig, vocab_size: int) -> DAMSM:
    m = config.model
    damsm = DAMSM(vocab_size, m.embed_dim, m.text_dim, m.base_channels, m.feature_downsample, name="damsm")
    size = config.data.image_size
    damsm({"image": tf.zeros((1, size, size, 3)), "token_ids": tf.ones((1, config.data.max_words), tf.int32)})
    return damsm


def damsm_checkpoint(damsm: DAMSM, optimizer=None) -> tf.train.Checkpoint:
    children = {"text_encoder": layer_variables(damsm.text_encoder),
                "image_encoder": layer_variables(damsm.image_encoder)}
    if optimizer is not None:
        children["optimizer"] = optimizer_variables(optimizer)
    return tf.train.Checkpoint(**children)


def evaluate_damsm(damsm: DAMSM, config: RunConfig, max_batches: int = 20, seed: int = 0) -> dict:
    """R-precision (1 true caption among 99 others, or fewer on small sets) on the test split."""
    images, texts = [], []
    for i, batch in enumerate(pipeline.make_dataset(config.data, "test", training=False)):
        if i >= max_batches:
            break
        images.append(damsm.image_encoder(batch["image"])["global"].numpy())
        texts.append(damsm.text_encoder(batch["token_ids"])["sentence"].numpy())
    image_features, text_features = np.concatenate(images), np.concatenate(texts)
    candidates = min(100, len(image_features))
    return {"r_precision": r_precision(image_features, text_features, num_candidates=candidates, seed=seed),
            "r_precision_candidates": candidates, "test_images": len(image_features)}


def pretrain_damsm(config: RunConfig, log=print) -> dict:
    """Pretrains the DAMSM on the prepared data of `config` into `config.model.damsm_dir` (resumable).

    Returns:
        The summary written to damsm_summary.json: the last logged losses, the test
        R-precision, steps and seconds.

    Raises:
        ValueError: no --damsm_dir, or no steps to train.
        training.hooks.NonFiniteLossError: the loss became NaN/Inf (the last checkpoint is kept).
        training.loop.TrainingInterrupted: SIGINT/SIGTERM (the step reached was saved first).
    """
    out_dir = config.model.damsm_dir
    if not out_dir:
        raise ValueError("--damsm_dir is empty: name the directory the pretrained DAMSM is written to")
    began = time.time()
    vocab = Vocabulary.load(pipeline.vocab_path(config.data))
    config = with_vocab(config, vocab)
    keras.utils.set_random_seed(config.train.seed)
    damsm = build_damsm(config, len(vocab))
    steps_per_epoch = pipeline.steps_per_epoch(config.data)
    total_steps = config.train.damsm_steps or config.train.damsm_epochs * steps_per_epoch
    if total_steps < 1:
        raise ValueError(f"--damsm_steps={config.train.damsm_steps}, --damsm_epochs={config.train.damsm_epochs} "
                         f"({steps_per_epoch} steps per epoch): nothing to train; give --damsm_steps > 0")
    schedule = keras.optimizers.schedules.ExponentialDecay(
        config.train.damsm_learning_rate, steps_per_epoch, config.train.damsm_decay_per_epoch, staircase=True)
    optimizer = keras.optimizers.Adam(schedule, beta_1=0.5, beta_2=0.999)
    damsm.compile(optimizer=optimizer)
    optimizer.build(damsm.trainable_variables)

    trained = pretraining.pretrain(
        damsm, damsm_checkpoint(damsm, optimizer), config, vocab, out_dir, total_steps, LOG_FILENAME,
        "damsm step {step}/{total} loss {loss:.3f} (word {word_loss:.3f}, sentence {sentence_loss:.3f})", log)
    evaluation = evaluate_damsm(damsm, config)
    summary = {**trained["losses"], **evaluation, "steps": total_steps, "seconds": round(time.time() - began, 1)}
    files.write_json(os.path.join(out_dir, SUMMARY_FILENAME), summary, indent=2)
    log(f"DAMSM written to {out_dir}: R-precision {evaluation['r_precision']:.3f} "
        f"(1 of {evaluation['r_precision_candidates']})")
    return summary
