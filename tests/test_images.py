"""The value-range conversions of mimnet_tf/images.py: each is the formula it replaced in the
modules that now call it (bit for bit), the tensor versions agree with the numpy ones, and the
round trips through uint8 are exact."""
import subprocess
import sys

import numpy as np
import tensorflow as tf

from mimnet_tf import images

PIXELS = np.arange(256, dtype=np.uint8)
MODEL = np.random.default_rng(0).uniform(-1.2, 1.2, (4, 5, 3)).astype(np.float32)  # out of range too
UNIT = np.random.default_rng(1).uniform(0.0, 1.0, (4, 5, 3)).astype(np.float32)


def test_each_conversion_is_the_formula_it_replaced_bit_for_bit():
    np.testing.assert_array_equal(images.to_model_range(PIXELS), PIXELS.astype(np.float32) / 127.5 - 1.0)
    floats = PIXELS.astype(np.float32)  # colour_names' palette and the pipeline give float pixels
    np.testing.assert_array_equal(images.to_model_range(floats), floats / 127.5 - 1.0)
    np.testing.assert_array_equal(images.to_pixel_range(MODEL), (MODEL + 1.0) * 127.5)
    np.testing.assert_array_equal(images.to_uint8(MODEL),
                                  np.clip(np.round((MODEL + 1.0) * 127.5), 0, 255).astype(np.uint8))
    np.testing.assert_array_equal(images.to_unit_range(MODEL), (MODEL + 1.0) / 2.0)
    np.testing.assert_array_equal(images.unit_to_model_range(UNIT), UNIT * 2.0 - 1.0)
    np.testing.assert_array_equal(images.pixels_to_unit_range(PIXELS), np.asarray(PIXELS, np.float32) / 255.0)
    for unit in (UNIT, UNIT.astype(np.float64), UNIT.astype(np.float16)):  # the editor's float arrays
        np.testing.assert_array_equal(images.unit_to_uint8(unit), np.round(unit * 255.0).astype(np.uint8))


def test_tensor_versions_agree_with_numpy():
    np.testing.assert_array_equal(images.to_uint8_tf(tf.constant(MODEL)).numpy(), images.to_uint8(MODEL))
    np.testing.assert_array_equal(images.to_model_range_tf(tf.constant(PIXELS)).numpy(),
                                  images.to_model_range(PIXELS))
    assert images.to_model_range_tf(tf.constant([0, 255], tf.uint8)).numpy().tolist() == [-1.0, 1.0]
    for convert, values in ((images.to_pixel_range, MODEL), (images.to_unit_range, MODEL),
                            (images.unit_to_model_range, UNIT)):
        np.testing.assert_array_equal(convert(tf.constant(values)).numpy(), convert(values))


def test_round_trips_through_uint8_are_exact():
    np.testing.assert_array_equal(images.to_uint8(images.to_model_range(PIXELS)), PIXELS)
    np.testing.assert_array_equal(images.unit_to_uint8(images.pixels_to_unit_range(PIXELS)), PIXELS)
    np.testing.assert_allclose(images.to_unit_range(images.unit_to_model_range(UNIT)), UNIT, atol=1e-7)
    assert images.to_uint8(np.float32([-3.0, 3.0])).tolist() == [0, 255]  # clipped, not wrapped


def test_importing_images_does_not_load_tensorflow():
    """The tensor versions import TensorFlow when called: the LiteRT runner and `edit --help` use
    this module without it."""
    code = "import sys, mimnet_tf.images; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "False"
