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

    Call: upsampled U (batch, S/2, S/2, c_u), texture (batch, L, d), mask (batch, L),
        localisation_map (batch, h, w, 1), full-resolution image features (batch, S, S, c0),
        optional keys (batch, L, d_k) to attend by instead of the textures ->
        dict(fine=(batch, S, S, 3), word_attention=(batch, (S/2)^2, L)).
    """

    def __init__(self, channels: int, map_upsample: int, image_skips: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.map_upsample = map_upsample
        self.image_skips = image_skips
        width = max(channels // 2, 16)  # of the features at S
        self.attention = WordAttention(channels, name="word_attention")
        self.res = ResBlock(channels, name="res")
        self.up = UpBlock(width, residual=False, name="up")
        self.merge = layers.Conv2D(width, 3, padding="same", name="merge") if image_skips else None
        self.decoder = ToImage(name="decoder")

    def call(self, upsampled, texture, mask, localisation_map, full_resolution_features, keys=None):
        # Eq. 10: positions attend over words by their texture features (or by `keys`, e.g. the
        # contextual word features), and read the texture features.
        context, weights = self.attention(upsampled, texture if keys is None else keys, mask, values=texture)
        x = self.res(ops.concatenate([upsampled, context], axis=-1))
        x = self.up(x)  # Eq. 11
        if self.image_skips:
            keep = 1.0 - upsample_map(localisation_map, self.map_upsample)
            x = ops.leaky_relu(self.merge(ops.concatenate([x, keep * full_resolution_features], axis=-1)), LEAK)
        return {"word_attention": weights, "fine": self.decoder(x)}

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "map_upsample": self.map_upsample,
                "image_skips": self.image_skips}
