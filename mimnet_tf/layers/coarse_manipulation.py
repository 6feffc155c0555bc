"""Initial Coarse Manipulation, ICM (Eq. 4-8)."""
from __future__ import annotations

import keras
from keras import layers, ops

from mimnet_tf.layers.attention import WordAttention
from mimnet_tf.layers.blocks import ResBlock, ToImage, UpBlock
from mimnet_tf.layers.localisation import TargetLocalisationUnit
from mimnet_tf.layers.resampling import upsample_map
from mimnet_tf.layers.text_encoder import masked_mean


@keras.saving.register_keras_serializable(package="mimnet_tf")
class CoarseManipulation(layers.Layer):
    """ICM: global texture, coarse manipulated features, TLU fusion, decoder to the S/2 image.

    Eq. 4: `t = W_g mean_j(t_j)` (mean over non-pad words).
    Eq. 5-6: `F_c = ResBlock([tile(t), E])` with boundary features E.
    Eq. 7: `F = A * F_c + (1 - A) * F_I`, A from the TLU (Eq. 9).
    Eq. 8: `U = up(F)` at S/2 and the coarse image `I_1 = G_1(U)`.

    With `image_skips`, each upsampling level also receives the image encoder's features of
    that level gated by `1 - A` (upsampled): outside the edited region the decoder sees the
    input's detail, inside it only the manipulated features. (The paper's decoders are in its
    supplementary material; this is a config switch.)

    Args:
        channels: width of F_I, E and F_c.
        upsample_levels: halvings between the feature map and S/2 (log2(feature_downsample) - 1).
        use_tlu, tlu_init_bias: see TargetLocalisationUnit.
        num_residual_blocks: residual blocks producing F_c.
        image_skips: gate and add the encoder's skip features while upsampling.
        word_attention: also give Eq. 5 a per-position word context (each position of E attends
            over the words and reads their texture features), so F_c can bind a colour to a
            part; the paper tiles only the global t (not in the paper; a config switch).

    Call: texture (batch, L, c), mask (batch, L), image_features list (finest first, from
        ImageEncoder), boundary_features (batch, h, w, c) -> dict(
        upsampled=U (batch, S/2, S/2, c_u), coarse=(batch, S/2, S/2, 3),
        localisation_map=A (batch, h, w, 1), texture_global=t (batch, c),
        manipulated_features=F_c, with the TLU enabled also localisation_logits (the logits of A, for
        the losses), with word_attention also its weights word_attention=(batch, h*w, L)).
    """

    def __init__(self, channels: int, upsample_levels: int, use_tlu: bool = True, tlu_init_bias: float = 0.0,
                 num_residual_blocks: int = 2, image_skips: bool = True, word_attention: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.upsample_levels = upsample_levels
        self.use_tlu = use_tlu
        self.tlu_init_bias = tlu_init_bias
        self.num_residual_blocks = num_residual_blocks
        self.image_skips = image_skips
        self.word_attention = WordAttention(channels, name="word_attention") if word_attention else None
        self.global_projection = layers.Dense(channels, name="global_projection")  # W_g
        self.residual_blocks = [ResBlock(channels, name=f"res{i}") for i in range(num_residual_blocks)]
        self.tlu = TargetLocalisationUnit(use_tlu, tlu_init_bias, name="tlu")
        self.ups = [UpBlock(max(channels // 2 ** (i + 1), 16), name=f"up{i}") for i in range(upsample_levels)]
        self.decoder = ToImage(name="decoder")

    @property
    def output_channels(self) -> int:
        return self.ups[-1].filters if self.ups else self.channels

    def localise(self, texture, mask, boundary_features, keys=None, query_features=None):
        """Eq. 4-6 and 9: global texture t, manipulated features F_c and the TLU map A.

        Needs no image colours, so the generator may compute A before encoding the image.
        `keys` (batch, L, d_k): what the optional word attention attends by (default: texture).
        `query_features` (batch, h, w, c_q): queried by the word attention together with the
        boundary features (default: the boundary features alone).
        """
        texture_global = self.global_projection(masked_mean(texture, mask))  # Eq. 4
        size = ops.shape(boundary_features)
        tiled = ops.broadcast_to(texture_global[:, None, None, :], (size[0], size[1], size[2], self.channels))
        parts = [tiled, boundary_features]
        if self.word_attention is not None:
            queries = boundary_features
            if query_features is not None:
                queries = ops.concatenate([boundary_features, ops.cast(query_features, boundary_features.dtype)], -1)
            context, weights = self.word_attention(queries, texture if keys is None else keys, mask, values=texture)
            parts.insert(1, context)
        manipulated = ops.concatenate(parts, axis=-1)
        for block in self.residual_blocks:  # Eq. 5-6
            manipulated = block(manipulated)
        localisation, logits = self.tlu(texture_global, manipulated, return_logits=True)  # Eq. 9
        result = {"texture_global": texture_global, "manipulated_features": manipulated,
                  "localisation_map": localisation}
        if logits is not None:
            result["localisation_logits"] = logits
        if self.word_attention is not None:
            result["word_attention"] = weights
        return result

    def decode(self, localised, image_features):
        """Eq. 7-8: fuse with the image features under A, upsample to S/2, decode."""
        localisation = localised["localisation_map"]
        fused = localisation * localised["manipulated_features"] + (1.0 - localisation) * image_features[-1]  # Eq. 7
        x = fused
        for i, up in enumerate(self.ups):  # Eq. 8
            x = up(x)
            if self.image_skips:
                skip = image_features[-2 - i]
                x = ops.concatenate([x, (1.0 - upsample_map(localisation, 2 ** (i + 1))) * skip], axis=-1)
        return {**localised, "upsampled": x, "coarse": self.decoder(x)}

    def call(self, texture, mask, image_features, boundary_features):
        return self.decode(self.localise(texture, mask, boundary_features), image_features)

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "upsample_levels": self.upsample_levels,
            "use_tlu": self.use_tlu,
            "tlu_init_bias": self.tlu_init_bias,
            "num_residual_blocks": self.num_residual_blocks,
            "image_skips": self.image_skips,
            "word_attention": self.word_attention is not None,
        }
