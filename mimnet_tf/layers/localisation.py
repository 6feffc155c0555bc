"""Target Localisation Unit, TLU (Eq. 9)."""
from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="mimnet_tf")
class TargetLocalisationUnit(layers.Layer):
    """Where to edit: `A[h, w] = sigmoid(q(t) . F_c[h, w] / sqrt(c) + b)` (Eq. 9).

    The global texture feature `t` is the key and the coarse manipulated feature patches
    `F_c[h, w]` the values. `A` fuses manipulated and original image features (Eq. 7) and is
    returned by the model as its localisation map.

    Args:
        enabled: False gives A = 1 everywhere (the "w/o TLU" ablation: every position is
            rebuilt from the manipulated features).
        init_bias: initial bias b (0 -> A starts near 0.5).

    Call: texture_global (batch, c), coarse_features (batch, h, w, c) -> A (batch, h, w, 1); with
        `return_logits=True`, (A, logits of A) so that a loss on A can work on the logits (the
        disabled TLU has no logits: None).

    Example:
        >>> TargetLocalisationUnit()(keras.ops.ones((2, 4)), keras.ops.ones((2, 3, 3, 4))).shape
        (2, 3, 3, 1)
    """

    def __init__(self, enabled: bool = True, init_bias: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.enabled = enabled
        self.init_bias = init_bias

    def build(self, texture_global_shape, coarse_features_shape=None):
        channels = texture_global_shape[-1]
        self.query = layers.Dense(channels, use_bias=False, name="query")
        self.query.build(texture_global_shape)
        self.bias = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(self.init_bias), name="bias"
        )

    def call(self, texture_global, coarse_features, return_logits=False):
        if not self.enabled:
            ones = ops.ones_like(coarse_features[..., :1])
            return (ones, None) if return_logits else ones
        query = self.query(texture_global)[:, None, None, :]
        channels = float(coarse_features.shape[-1])
        logits = ops.sum(query * coarse_features, axis=-1, keepdims=True) / channels**0.5
        logits = logits + ops.cast(self.bias, logits.dtype)
        localisation = ops.sigmoid(logits)
        return (localisation, logits) if return_logits else localisation

    def get_config(self):
        return {**super().get_config(), "enabled": self.enabled, "init_bias": self.init_bias}
