"""What MIM-Net and MirrorGAN share as GANs trained by the shared loop (training/loop.py).

`GANModel` holds the configs, the step counter and global batch size the loop sets, the loss
trackers, both optimizers (built at compile time over the variable groups the subclass names),
and the per-step helpers: strategy-aware loss averaging, mixed-precision loss scaling, gradient
application and device-layout-independent random draws (`replica_rows`).
"""
from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf

from mimnet_tf.config import LossWeights, ModelConfig, TrainConfig


def replica_rows(draw, tail_shape, local_batch: int, global_batch: Optional[int], seed: int, stream: int, step):
    """Random values for this replica's examples that do not depend on the device layout.

    Every replica draws the global batch's values from the same stateless seed (seed, stream,
    step) and keeps its own rows, so a step under a strategy sees exactly the numbers a single
    device sees for the same global batch (the rows layout of `training.loop.distribute_batches`).

    Args:
        draw: `(shape, seed) -> tensor`, a stateless draw (e.g. tf.random.stateless_normal).
        tail_shape: the per-example shape.
        local_batch: examples on this replica.
        global_batch: examples over all replicas (None: local_batch).
        seed, stream: the run's seed and the purpose of the draw.
        step: the training step (a scalar int64 tensor or variable).
    """
    global_batch = global_batch or local_batch
    seed_pair = tf.stack([tf.cast(seed * 16 + stream, tf.int64), tf.cast(step, tf.int64)])
    seed_pair = tf.cast(seed_pair % (2**31 - 1), tf.int32)
    values = draw((global_batch,) + tuple(tail_shape), seed_pair)
    context = tf.distribute.get_replica_context()
    replica = context.replica_id_in_sync_group if context is not None else 0
    start = replica * local_batch
    return values[start:start + local_batch]


class GANModel(keras.Model):
    """Base of the project's GANs; subclasses define the networks and `train_step`.

    Subclasses set `TRACKED` (the loss names `train_step` reports) and implement `build_all`,
    `generator_variables()` (what the generator optimizer trains, built at compile time) and
    `discriminator_variables()`.
    """

    TRACKED: tuple = ()

    def __init__(self, model_config: ModelConfig, loss_weights: LossWeights = LossWeights(),
                 train_config: TrainConfig = TrainConfig(), **kwargs):
        super().__init__(**kwargs)
        self.model_config = model_config
        self.loss_weights = loss_weights
        self.train_config = train_config
        self.global_batch_size = None  # set by the training loop
        self.step_counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.trackers = {}

    def build_all(self, batch_size: int = 1):
        raise NotImplementedError

    def generator_variables(self):
        raise NotImplementedError

    def discriminator_variables(self):
        raise NotImplementedError

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        super().compile(**kwargs)
        if not self.built:
            self.build_all()
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.g_optimizer.build(self.generator_variables())
        self.d_optimizer.build(self.discriminator_variables())
        self.trackers = {n: keras.metrics.Mean(name=n) for n in self.TRACKED}

    @property
    def metrics(self):
        return list(self.trackers.values())

    # ------------------------------------------------------------------ step helpers
    def _average(self, per_example):
        return tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch_size)

    def _random(self, stream: int, tail_shape, local_batch: int, draw):
        """`replica_rows` with this run's seed, global batch and step."""
        return replica_rows(draw, tail_shape, local_batch, self.global_batch_size, self.train_config.seed, stream,
                            self.step_counter)

    @staticmethod
    def _scaled(optimizer, loss):
        """The loss to differentiate: scaled under mixed precision (call it inside the tape)."""
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return optimizer.scale_loss(loss)
        return loss

    @staticmethod
    def _apply(optimizer, tape, loss_for_gradients, variables):
        grads = tape.gradient(loss_for_gradients, variables)
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        if pairs:  # every weight of the loss can be 0 (e.g. all adversarial terms off)
            optimizer.apply_gradients(pairs)
