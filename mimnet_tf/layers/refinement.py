"""Fine-grain Image Refinement, FIR (Eq. 10-11)."""
from __future__ import annotations

import keras
from keras import layers, ops

from mimnet_tf.layers.attention import WordAttention
from mimnet_tf.layers.blocks import LEAK, ResBlock, ToImage, UpBlock
from mimnet_tf.layers.resampling import upsample_map


@keras.saving.register_keras_serializable(package="mimnet_tf")
class FineRefinement(layers.Layer):
    """FIR: word-level texture attention on the S/2 features, then the S image.

    Eq. 10: `beta[hw, j] = softmax_j(U[hw] . P t_j)` over non-pad words, `c[hw] = sum_j beta t_j`.
    Eq. 11: `I_2 = G_2(up([U, c]))`.

    Args:
        channels: width of the attention context and of the refined features.
        map_upsample: S / (the localisation map's size), i.e. the feature downsampling.
        image_skips: also feed the full-resolution encoder features gated by `1 - A`.
        gate_context: multiply the word context by A (text only inside the localisation map).
        full_attention: after the upsampling (and the skip) the positions of S attend over the words
            a second time and a residual block reads that context before the decoder, so a part a
            few pixels wide (a beak, a few cells of S/2 shared with the head and the background) is
            queried by its own pixels' features (not in the paper).

    Call: upsampled U (batch, S/2, S/2, c_u), texture (batch, L, d), mask (batch, L),
        localisation_map (batch, h, w, 1), full-resolution image features (batch, S, S, c0),
        optional keys (batch, L, d_k) to attend by instead of the textures ->
        dict(fine=(batch, S, S, 3), word_attention=(batch, (S/2)^2, L)), with `full_attention` also
        full_word_attention=(batch, S^2, L).
    """

    def __init__(self, channels: int, map_upsample: int, image_skips: bool = True, gate_context: bool = False,
                 full_attention: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.map_upsample = map_upsample
        self.image_skips = image_skips
        self.gate_context = gate_context
        self.full_attention = full_attention
        width = max(channels // 2, 16)  # of the features at S
        self.attention = WordAttention(channels, name="word_attention")
        self.res = ResBlock(channels, name="res")
        self.up = UpBlock(width, residual=False, name="up")
        self.merge = layers.Conv2D(width, 3, padding="same", name="merge") if image_skips else None
        self.decoder = ToImage(name="decoder")
        if full_attention:
            self.full_word_attention = WordAttention(width, name="full_word_attention")
            self.full_res = ResBlock(width, name="full_res")

    def call(self, upsampled, texture, mask, localisation_map, full_resolution_features, keys=None):
        # Eq. 10: positions attend over words by their texture features (or by `keys`, e.g. the
        # contextual word features), and read the texture features.
        context, weights = self.attention(upsampled, texture if keys is None else keys, mask, values=texture)
        if self.gate_context:  # text detail only where the TLU says to edit
            context = context * upsample_map(localisation_map, self.map_upsample // 2)
        x = self.res(ops.concatenate([upsampled, context], axis=-1))
        x = self.up(x)  # Eq. 11
        if self.image_skips:
            keep = 1.0 - upsample_map(localisation_map, self.map_upsample)
            x = ops.leaky_relu(self.merge(ops.concatenate([x, keep * full_resolution_features], axis=-1)), LEAK)
        result = {"word_attention": weights}
        if self.full_attention:
            full_context, result["full_word_attention"] = self.full_word_attention(
                x, texture if keys is None else keys, mask, values=texture)
            if self.gate_context:
                full_context = full_context * upsample_map(localisation_map, self.map_upsample)
            x = self.full_res(ops.concatenate([x, full_context], axis=-1))
        return {**result, "fine": self.decoder(x)}

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "map_upsample": self.map_upsample,
                "image_skips": self.image_skips, "gate_context": self.gate_context,
                "full_attention": self.full_attention}
