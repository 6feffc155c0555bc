"""STEM-like text encoder shared by MIM-Net, DAMSM and MirrorGAN."""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers, ops

from mimnet_tf.data.text import PAD_ID


def token_mask(token_ids):
    """float32 (batch, words): 1 for real tokens, 0 for `<pad>`."""
    return ops.cast(ops.not_equal(token_ids, PAD_ID), "float32")


def masked_mean(values, mask):
    """Mean over axis 1 of (batch, words, dim) ignoring pads; all-pad rows give 0."""
    mask = ops.cast(mask, values.dtype)
    total = ops.sum(values * mask[:, :, None], axis=1)
    count = ops.maximum(ops.sum(mask, axis=1, keepdims=True), 1.0)
    return total / count


@keras.saving.register_keras_serializable(package="mimnet_tf")
class TextEncoder(layers.Layer):
    """Embedding -> bidirectional LSTM -> word features and a sentence feature.

    The backward direction reads each caption's real words in reverse (`tf.reverse_sequence`
    over its length), so pads never leak into a word feature, without Keras masks: the layer
    converts to TFLite builtin ops and to ONNX unchanged. Word features at pads are exactly 0.

    Args:
        vocab_size: vocabulary size (ids 0 = `<pad>`, 1 = `<unk>`).
        embed_dim: word embedding width.
        text_dim: word feature width (both directions concatenated), even.
        dropout: dropout on embeddings during training.

    Call: token_ids int32 (batch, words) -> dict(
        words=(batch, words, text_dim), sentence=(batch, text_dim), mask=(batch, words)).

    Example:
        >>> out = TextEncoder(20, 8, 16)(keras.ops.array([[3, 4, 0]], "int32"))
        >>> out["words"].shape, out["sentence"].shape
        ((1, 3, 16), (1, 16))
    """

    def __init__(self, vocab_size: int, embed_dim: int = 300, text_dim: int = 256, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if text_dim % 2:
            raise ValueError(f"text_dim={text_dim}: expected an even width (two LSTM directions)")
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.text_dim = text_dim
        self.dropout = dropout
        self.embedding = layers.Embedding(
            vocab_size, embed_dim, embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0), name="embedding"
        )
        self.embedding_dropout = layers.Dropout(dropout)
        self.forward_lstm = layers.LSTM(text_dim // 2, return_sequences=True, unroll=True, name="forward")
        self.backward_lstm = layers.LSTM(text_dim // 2, return_sequences=True, unroll=True, name="backward")

    def build(self, input_shape):
        self.embedding.build(input_shape)
        sequence_shape = (input_shape[0], input_shape[1], self.embed_dim)
        self.forward_lstm.build(sequence_shape)
        self.backward_lstm.build(sequence_shape)

    def call(self, token_ids, training=False):
        token_ids = ops.cast(token_ids, "int32")
        mask = token_mask(token_ids)
        lengths = ops.cast(ops.sum(mask, axis=1), "int32")
        embedded = self.embedding_dropout(self.embedding(token_ids), training=training)
        forward = self.forward_lstm(embedded)
        reversed_input = tf.reverse_sequence(embedded, lengths, seq_axis=1, batch_axis=0)
        backward = tf.reverse_sequence(self.backward_lstm(reversed_input), lengths, seq_axis=1, batch_axis=0)
        words = ops.concatenate([forward, backward], axis=-1) * ops.cast(mask, forward.dtype)[:, :, None]
        return {"words": words, "sentence": masked_mean(words, mask), "mask": mask}

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embed_dim": self.embed_dim,
            "text_dim": self.text_dim,
            "dropout": self.dropout,
        }
