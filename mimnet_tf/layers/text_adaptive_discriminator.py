"""Text-adaptive discriminator (Eq. 12-13), TAGAN style."""
from __future__ import annotations

import keras
from keras import layers, ops

from mimnet_tf.layers.attention import masked_softmax
from mimnet_tf.layers.blocks import LEAK, DownBlock
from mimnet_tf.layers.text_encoder import masked_mean

NUM_LEVELS = 3


@keras.saving.register_keras_serializable(package="mimnet_tf")
class TextAdaptiveDiscriminator(layers.Layer):
    """Reality and word-level text-conformity logits of an image.

    A CNN trunk `f` downsamples the image; its last three levels give pooled features g_l.
    - Reality (Eq. 12): `D_r(I) = sigmoid(W_r f(I) + b_r)`; returned as the logit.
    - Conformity (Eq. 13): for word j and level l a word-conditioned linear classifier
      `s_lj = sigmoid(W_l(w_j) . g_l(I) + b_l(w_j))`; levels mixed by a word-dependent softmax
      `a_j = softmax(V w_j)` (TAGAN); word importance `gamma_j = softmax_j(w_j . mean(w) / sqrt(d))`
      over non-pad words; `D_t = prod_j (sum_l a_jl s_lj) ^ gamma_j`. Everything is computed in log
      space: `log D_t = sum_j gamma_j logsumexp_l(log a_jl + log_sigmoid(logit_lj))`.

    Args:
        channels: trunk width at the first level (doubled at each halving, capped at 8x).
        num_downsamples: trunk halvings (>= 3; the last three levels feed conformity).

    Call: images (batch, s, s, 3), words (batch, L, d), mask (batch, L) -> dict(
        reality_logit=(batch,), log_conformity=(batch,) (log D_t <= 0),
        word_scores=(batch, L) (log of each word's score), word_importance=(batch, L)).
    """

    def __init__(self, channels: int = 32, num_downsamples: int = 4, **kwargs):
        super().__init__(**kwargs)
        if num_downsamples < NUM_LEVELS:
            raise ValueError(f"num_downsamples={num_downsamples}: expected >= {NUM_LEVELS}")
        self.channels = channels
        self.num_downsamples = num_downsamples
        self.stem = layers.Conv2D(channels, 3, padding="same", name="stem")
        widths = [channels * min(2 ** (i + 1), 8) for i in range(num_downsamples)]
        self.downs = [DownBlock(w, name=f"down{i}") for i, w in enumerate(widths)]
        self.level_widths = widths[-NUM_LEVELS:]
        self.reality = layers.Dense(1, name="reality")
        self.word_weights = [layers.Dense(w, name=f"word_weight{l}") for l, w in enumerate(self.level_widths)]
        self.word_bias = [layers.Dense(1, name=f"word_bias{l}") for l in range(NUM_LEVELS)]
        self.level_mix = layers.Dense(NUM_LEVELS, name="level_mix")

    def image_features(self, images):
        """Pooled trunk features g_l(I) of the last three levels: list of (batch, c_l)."""
        x = ops.leaky_relu(self.stem(images), LEAK)
        levels = []
        for block in self.downs:
            x = block(x)
            levels.append(x)
        return [ops.mean(level, axis=(1, 2)) for level in levels[-NUM_LEVELS:]]

    def reality_logit(self, pooled):
        """Eq. 12 as a logit: (batch,)."""
        return self.reality(pooled[-1])[:, 0]

    def conformity(self, pooled, words, mask):
        """Eq. 13 in log space: dict(log_conformity (batch,), word_scores, word_importance)."""
        words = ops.cast(words, pooled[0].dtype)
        logits = ops.stack(
            [ops.einsum("blc,bc->bl", self.word_weights[l](words), pooled[l]) + self.word_bias[l](words)[..., 0]
             for l in range(NUM_LEVELS)],
            axis=-1,
        )  # (batch, L, levels)
        log_mix = ops.log_softmax(self.level_mix(words), axis=-1)
        word_scores = ops.logsumexp(log_mix + ops.log_sigmoid(logits), axis=-1)  # log s_j
        mask = ops.cast(mask, word_scores.dtype)
        similarity = ops.einsum("bld,bd->bl", words, masked_mean(words, mask)) / float(words.shape[-1]) ** 0.5
        importance = masked_softmax(similarity, mask)
        return {
            "log_conformity": ops.cast(ops.sum(importance * word_scores, axis=-1), "float32"),
            "word_scores": word_scores,
            "word_importance": importance,
        }

    def call(self, images, words, mask):
        pooled = self.image_features(images)
        return {"reality_logit": ops.cast(self.reality_logit(pooled), "float32"),
                **self.conformity(pooled, words, mask)}

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "num_downsamples": self.num_downsamples}
