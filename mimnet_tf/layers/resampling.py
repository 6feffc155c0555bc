"""Integer-factor resampling of feature maps and images (builtin ops in XLA, TFLite and ONNX)."""
from __future__ import annotations

from keras import ops


def upsample_map(values, factor: int):
    """Nearest upsampling of a (batch, h, w, c) map by an integer factor."""
    if factor == 1:
        return values
    return ops.repeat(ops.repeat(values, factor, axis=1), factor, axis=2)


def area_downsample(values, size):
    """(batch, H, W, c) -> (batch, h, w, c) by the mean of each (H/h) x (W/w) block.

    The same numbers as area resizing when the factor is an integer (which every use here is),
    as an average pool, which XLA compiles (its `ResizeArea` kernel does not exist)."""
    size = tuple(int(s) for s in size)
    factor_h, factor_w = values.shape[1] // size[0], values.shape[2] // size[1]
    if (factor_h * size[0], factor_w * size[1]) != tuple(values.shape[1:3]):
        raise ValueError(f"area_downsample: {tuple(values.shape[1:3])} is not a multiple of {size}")
    if factor_h == factor_w == 1:
        return values
    return ops.average_pool(values, (factor_h, factor_w), (factor_h, factor_w), padding="valid")
