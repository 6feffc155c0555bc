"""Memory-based texture feature generation, MTFG (Eq. 1-3)."""
from __future__ import annotations

import keras
from keras import layers, ops

from mimnet_tf.layers.attention import masked_softmax

MEMORY_VARIABLE_TAG = "memory_bank"


@keras.saving.register_keras_serializable(package="mimnet_tf")
class MemoryBank(layers.Layer):
    """A bank of N learned texture memories read by word attention.

    Eq. 1: memories `M = {m_1..m_N}`, `m_i in R^memory_dim`.
    Eq. 2: keys `k_i = W_k m_i` (text space); `alpha_ji = softmax_i(sim(w_j, k_i) / temperature)`.
        `similarity="dot"` is the paper's dot product. With word features of pretrained scale
        (norms ~7) and keys of unit-order entries it saturates the softmax from the start:
        measured on SynthBirds, every word read one memory, the same few for all colour words
        ("blue" and "this" the same one), and no gradient could separate them. "cosine" keeps
        the logits within +-1/temperature.
    Eq. 3: word-level texture features `t_j = sum_i alpha_ji m_i`; `t_j = 0` at pads.

    Its variables (`memories`, `key_projection`) have "memory_bank" in their path, so a training
    phase can update or freeze them by name (see `memory_variables`).

    Args:
        memory_size: N.
        memory_dim: width of a memory (the image-feature width).
        text_dim: width of the word features (the key space).
        temperature: softmax temperature of Eq. 2.
        similarity: "cosine" (default) or "dot" (the paper's).

    Call: words (batch, L, text_dim), mask (batch, L), optional `attention` (batch, L, N) to
        use instead of Eq. 2 (the random weights of Eq. 16) ->
        dict(texture=(batch, L, memory_dim), attention=(batch, L, N)).

    Example:
        >>> bank = MemoryBank(memory_size=4, memory_dim=8, text_dim=6)
        >>> bank(keras.ops.ones((2, 3, 6)), keras.ops.ones((2, 3)))["texture"].shape
        (2, 3, 8)
    """

    def __init__(self, memory_size: int, memory_dim: int, text_dim: int, temperature: float = 0.1,
                 similarity: str = "cosine", **kwargs):
        kwargs.setdefault("name", MEMORY_VARIABLE_TAG)
        super().__init__(**kwargs)
        self.memory_size = memory_size
        self.memory_dim = memory_dim
        self.text_dim = text_dim
        self.temperature = temperature
        if similarity not in ("cosine", "dot"):
            raise ValueError(f"similarity={similarity!r}: expected 'cosine' or 'dot'")
        self.similarity = similarity

    def build(self, words_shape=None, mask_shape=None, attention_shape=None):
        self.memories = self.add_weight(
            shape=(self.memory_size, self.memory_dim),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            name="memories",
        )
        # W_k maps a memory into text space; scaled so that keys start with unit-order norms.
        self.key_projection = self.add_weight(
            shape=(self.memory_dim, self.text_dim),
            initializer=keras.initializers.RandomNormal(stddev=self.memory_dim**-0.5),
            name="key_projection",
        )

    def keys(self):
        return ops.matmul(self.memories, self.key_projection)  # (N, text_dim)

    def attend(self, words, mask):
        """Eq. 2: (batch, L, N) attention weights; rows of pads are all zero."""
        keys = self.keys()
        if self.similarity == "cosine":
            keys = keys / (ops.norm(keys, axis=-1, keepdims=True) + 1e-6)
            words = words / (ops.norm(words, axis=-1, keepdims=True) + 1e-6)
        scores = ops.einsum("bld,nd->bln", words, ops.cast(keys, words.dtype)) / self.temperature
        weights = masked_softmax(scores, ops.ones_like(scores[:1, :1, :]))
        return weights * ops.cast(mask, weights.dtype)[:, :, None]

    def read(self, attention):
        """Eq. 3: texture features from attention weights (batch, L, N) -> (batch, L, memory_dim)."""
        return ops.einsum("bln,nd->bld", attention, ops.cast(self.memories, attention.dtype))

    def call(self, words, mask, attention=None):
        if attention is None:
            attention = self.attend(words, mask)
        else:
            attention = attention * ops.cast(mask, attention.dtype)[:, :, None]
        return {"texture": self.read(attention), "attention": attention}

    def get_config(self):
        return {
            **super().get_config(),
            "memory_size": self.memory_size,
            "memory_dim": self.memory_dim,
            "text_dim": self.text_dim,
            "temperature": self.temperature,
            "similarity": self.similarity,
        }


def memory_variables(model) -> list:
    """The variables of every MemoryBank inside `model` (found by name, as the phases need)."""
    return [v for v in model.trainable_variables if f"{MEMORY_VARIABLE_TAG}/" in v.path]
