"""Image encoder (colour path) and boundary encoder (structure path)."""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers, ops

from mimnet_tf.layers.blocks import LEAK, DownBlock

# ITU-R BT.601 luma, applied to images in [-1, 1].
_LUMA = (0.299, 0.587, 0.114)


def greyscale(images):
    """(batch, h, w, 3) in [-1, 1] -> the same images with every channel set to their luma."""
    luma = ops.sum(images * ops.convert_to_tensor(_LUMA, images.dtype), axis=-1, keepdims=True)
    return ops.repeat(luma, 3, axis=-1)


def boundary_image(images):
    """Sobel edge magnitude of the grey image: (batch, h, w, 3) in [-1, 1] -> (batch, h, w, 1).

    The structure of the input without its colours: what the boundary path of MIM-Net sees.
    Implemented with two fixed 3x3 convolutions (builtin in TFLite/ONNX).
    """
    luma = greyscale(images)[..., :1]
    gx = ops.convert_to_tensor([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], images.dtype) / 8.0
    kernels = ops.stack([gx, ops.transpose(gx)], axis=-1)[:, :, None, :]  # (3, 3, 1, 2)
    padded = tf.pad(luma, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
    gradients = ops.conv(padded, kernels, padding="valid")
    return ops.sqrt(ops.sum(ops.square(gradients), axis=-1, keepdims=True) + 1e-6)


@keras.saving.register_keras_serializable(package="mimnet_tf")
class ImageEncoder(layers.Layer):
    """A convolutional pyramid: S -> S / downsample, keeping every level for skip connections.

    Args:
        base_channels: channels at full resolution, doubled at every halving (capped at 8x).
        downsample: total reduction (a power of two, e.g. 8).

    Call: images (batch, S, S, c) -> list of features, finest first:
        [(batch, S, S, base), (batch, S/2, S/2, 2 base), ..., (batch, S/ds, S/ds, feature_dim)].

    Example:
        >>> levels = ImageEncoder(8, 8)(keras.ops.zeros((2, 32, 32, 3)))
        >>> [tuple(x.shape) for x in levels]
        [(2, 32, 32, 8), (2, 16, 16, 16), (2, 8, 8, 32), (2, 4, 4, 64)]
    """

    def __init__(self, base_channels: int = 32, downsample: int = 8, **kwargs):
        super().__init__(**kwargs)
        if downsample < 2 or downsample & (downsample - 1):
            raise ValueError(f"downsample={downsample}: expected a power of two >= 2")
        self.base_channels = base_channels
        self.downsample = downsample
        self.num_levels = downsample.bit_length() - 1
        self.stem = layers.Conv2D(base_channels, 3, padding="same", name="stem")
        self.downs = [DownBlock(self.channels(level + 1), name=f"down{level + 1}") for level in range(self.num_levels)]

    def channels(self, level: int) -> int:
        return self.base_channels * min(2**level, 8)

    @property
    def feature_dim(self) -> int:
        return self.channels(self.num_levels)

    def build(self, input_shape):
        self.stem.build(input_shape)
        shape = (input_shape[0], None, None, self.base_channels)
        for level, block in enumerate(self.downs):
            block.build(shape)
            shape = (input_shape[0], None, None, self.channels(level + 1))

    def call(self, images):
        x = ops.leaky_relu(self.stem(images), LEAK)
        levels = [x]
        for block in self.downs:
            x = block(x)
            levels.append(x)
        return levels

    def get_config(self):
        return {**super().get_config(), "base_channels": self.base_channels, "downsample": self.downsample}
