"""Pretraining a Keras-style model (the DAMSM, STREAM) into its model directory through `loop.fit`.

The directory is the one `models/model_dir.py` describes (config.json, vocab.txt, checkpoints/),
plus the pretraining's own JSON-lines log. Its checkpoints hold what they always held (the
caller's `tf.train.Checkpoint`, the optimizer's `iterations` as the step), so directories written
before the one loop resume and load as they did. A rerun of the same command resumes exactly; one
process at a time trains into a directory (training/model_dir_lock.py).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable

import tensorflow as tf

from mimnet_tf.config import RunConfig
from mimnet_tf.data import pipeline
from mimnet_tf.models.model_dir import ModelDir
from mimnet_tf.training import hooks, loop
from mimnet_tf.training.model_dir_lock import lock_model_dir

KEEP_CHECKPOINTS = 2  # what the pretraining directories always kept


def pretrain(model, checkpoint: tf.train.Checkpoint, config: RunConfig, vocab, out_dir: str, total_steps: int,
             log_filename: str, line: str, log: Callable[[str], None] = print) -> dict:
    """Trains the compiled `model` (`model.optimizer` built) on the training split to `total_steps`.

    Args:
        model: a Keras model whose `train_step` returns the running means of `model.metrics`.
        checkpoint: what its checkpoints hold (weights and `model.optimizer`).
        config: the run (data, `train.seed`, `train.log_every`, `train.checkpoint_every`);
            written as `<out_dir>/config.json` with `vocab`.
        out_dir: the model directory.
        total_steps: the step to train to (a rerun past it trains nothing).
        log_filename: the JSON-lines log in `out_dir` (hooks.PretrainLog).
        line: the printed line of each logged step, e.g. "damsm step {step}/{total} loss {loss:.3f}".
        log: where one-line messages go.

    Returns:
        `loop.fit`'s summary ("losses": the means of the last logged window).
    """
    lock_model_dir(out_dir)
    ModelDir(out_dir).write(config, vocab)

    def make_dataset(start_step: int) -> tf.data.Dataset:
        return pipeline.make_dataset(config.data, "train", training=True, start_step=start_step)

    trainee = loop.Trainee(model, checkpoint, model.optimizer.iterations, make_dataset, config.data.batch_size,
                           pipeline.steps_per_epoch(config.data), running_metrics=True)
    train = dataclasses.replace(config.train, model_dir=out_dir, max_steps=total_steps,
                                keep_checkpoints=KEEP_CHECKPOINTS, image_log_every=0, progress=False)
    return loop.fit(trainee, train, [hooks.PretrainLog(os.path.join(out_dir, log_filename), line),
                                     hooks.NonFiniteGuard(), hooks.PeriodicCheckpoint(train.checkpoint_every)], log)
