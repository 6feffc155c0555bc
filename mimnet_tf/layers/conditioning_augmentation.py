"""Conditioning augmentation (StackGAN, used by STEM in MirrorGAN): a sentence -> a random condition."""
from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="mimnet_tf")
class ConditioningAugmentation(layers.Layer):
    """Maps a sentence feature to a Gaussian `N(mu, exp(logvar))` and draws the condition from it.

    `(mu, logvar) = GLU(W s + b)` and `c = mu + exp(logvar / 2) * eps`. Smoothing the condition
    this way gives the generator more text-image pairs to learn from; `losses.kl_loss(mu,
    logvar)` keeps the Gaussian close to N(0, I). The layer draws no random numbers itself:
    `eps` comes from the caller (stateless draws keyed by the training step), so a step is
    reproducible and independent of the device layout. Without `eps` the condition is `mu`.

    Args:
        condition_dim: width of the condition (100 in StackGAN / AttnGAN / MirrorGAN).

    Call: sentence (batch, d), eps (batch, condition_dim) or None -> dict(
        condition=(batch, condition_dim), mu=(batch, condition_dim), logvar=(batch, condition_dim)).

    Example:
        >>> ca = ConditioningAugmentation(4)
        >>> ca(keras.ops.ones((2, 8)))["condition"].shape
        (2, 4)
    """

    def __init__(self, condition_dim: int = 100, **kwargs):
        super().__init__(**kwargs)
        if condition_dim < 1:
            raise ValueError(f"condition_dim={condition_dim}: expected >= 1")
        self.condition_dim = condition_dim
        # Four halves: (mu, logvar) values and their GLU gates.
        self.projection = layers.Dense(4 * condition_dim, name="projection")

    def build(self, sentence_shape, eps_shape=None):
        self.projection.build(sentence_shape)

    def call(self, sentence, eps=None):
        values, gates = ops.split(self.projection(sentence), 2, axis=-1)
        statistics = values * ops.sigmoid(gates)  # GLU
        mu, logvar = ops.split(statistics, 2, axis=-1)
        if eps is None:
            condition = mu
        else:
            condition = mu + ops.exp(0.5 * logvar) * ops.cast(eps, mu.dtype)
        return {"condition": condition, "mu": mu, "logvar": logvar}

    def get_config(self):
        return {**super().get_config(), "condition_dim": self.condition_dim}
