"""ImageEncoder: the pyramid of features the generator encodes an image into."""
import numpy as np

from mimnet_tf.layers.image_encoder import ImageEncoder
from tests.layers import harness


def test_layer_behaviours(tmp_path):
    """Forward pass (finest level first, widths doubling), config round trip, .keras save/reload
    and LiteRT (the encoder is exported)."""
    image = np.random.default_rng(6).uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")
    harness.run_layer_test(ImageEncoder, {"base_channels": 8, "downsample": 4}, {"images": image},
                           [(2, 32, 32, 8), (2, 16, 16, 16), (2, 8, 8, 32)], tmp_path)
