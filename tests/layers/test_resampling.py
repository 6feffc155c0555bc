import numpy as np
import pytest
from keras import ops

from mimnet_tf.layers.resampling import area_downsample, upsample_map


@pytest.mark.parametrize("factor", [1, 2, 4])
def test_area_downsample_equals_area_resizing(factor):
    values = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype("float32")
    size = (16 // factor, 16 // factor)
    expected = ops.image.resize(values, size, interpolation="area")
    np.testing.assert_allclose(np.asarray(area_downsample(values, size)), np.asarray(expected), atol=1e-6)


def test_area_downsample_refuses_a_size_that_does_not_divide():
    with pytest.raises(ValueError, match="not a multiple"):
        area_downsample(np.zeros((1, 10, 10, 1), "float32"), (4, 4))


def test_upsample_map_repeats_each_cell():
    values = np.arange(4, dtype="float32").reshape(1, 2, 2, 1)
    up = np.asarray(upsample_map(values, 2))[0, ..., 0]
    np.testing.assert_array_equal(up, [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])
