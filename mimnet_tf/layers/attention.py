"""Masked attention over words, shared by FIR (MIM-Net) and GLAM (MirrorGAN)."""
from __future__ import annotations

import keras
from keras import layers, ops

NEG_INF = -1e9


def masked_softmax(logits, mask, axis=-1):
    """Softmax over `axis` that gives exactly 0 weight where `mask` is 0.

    Rows with no valid entry return all zeros rather than a uniform distribution over pads.
    `mask` broadcasts against `logits`.
    """
    mask = ops.cast(mask, logits.dtype)
    logits = ops.where(mask > 0, logits, ops.cast(NEG_INF, logits.dtype))
    logits = logits - ops.stop_gradient(ops.max(logits, axis=axis, keepdims=True))
    weights = ops.exp(logits) * mask
    return weights / ops.maximum(ops.sum(weights, axis=axis, keepdims=True), 1e-12)


@keras.saving.register_keras_serializable(package="mimnet_tf")
class WordAttention(layers.Layer):
    """Each spatial position attends over the non-pad words (AttnGAN / MIM-Net Eq. 10-11).

    `beta[h, w, j] = softmax_j(features[h, w] . key_j)` with keys `P word_j`, and the context
    `c[h, w] = sum_j beta[h, w, j] value_j` with values `V word_j`.

    Args:
        channels: width of the context (and of the keys, to match the features).

    Call: features (batch, h, w, c_f), words (batch, L, d), mask (batch, L), optional values
        (batch, L, d_v) (default: the words themselves) -> (context (batch, h, w, channels),
        weights (batch, h*w, L)).
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.query = layers.Dense(channels, use_bias=False, name="query")
        self.key = layers.Dense(channels, use_bias=False, name="key")
        self.value = layers.Dense(channels, use_bias=False, name="value")

    def build(self, features_shape, words_shape=None, mask_shape=None, values_shape=None):
        self.query.build(features_shape)
        if words_shape is not None:
            self.key.build(words_shape)
            self.value.build(values_shape or words_shape)

    def call(self, features, words, mask, values=None):
        shape = ops.shape(features)
        queries = ops.reshape(self.query(features), (shape[0], -1, self.channels))
        keys = self.key(words)
        scores = ops.einsum("bpc,blc->bpl", queries, keys) / float(self.channels) ** 0.5
        weights = masked_softmax(scores, mask[:, None, :])
        context = ops.einsum("bpl,blc->bpc", weights, self.value(words if values is None else values))
        return ops.reshape(context, (shape[0], shape[1], shape[2], self.channels)), weights

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}
