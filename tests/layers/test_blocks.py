"""The convolutional blocks: ResBlock, DownBlock, UpBlock, ToImage."""
import numpy as np
import pytest

from mimnet_tf.layers.blocks import DownBlock, ResBlock, ToImage, UpBlock
from tests.layers import harness

FEATURES = np.random.default_rng(8).normal(size=(2, 4, 4, 8)).astype("float32")


@pytest.mark.parametrize("cls, init_kwargs, expected_shape", [
    (ResBlock, {"filters": 6}, (2, 4, 4, 6)),
    (DownBlock, {"filters": 6}, (2, 2, 2, 6)),
    (UpBlock, {"filters": 6, "residual": False}, (2, 8, 8, 6)),
    (ToImage, {}, (2, 4, 4, 3)),
], ids=["ResBlock", "DownBlock", "UpBlock", "ToImage"])
def test_layer_behaviours(cls, init_kwargs, expected_shape, tmp_path):
    """Forward pass, config round trip, .keras save/reload and LiteRT (every block is in the
    exported generator)."""
    harness.run_layer_test(cls, init_kwargs, {"x": FEATURES}, expected_shape, tmp_path)
