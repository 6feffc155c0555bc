"""The TF image conversions of export/signatures.py agree with mimnet_tf.images (no model needed)."""
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from mimnet_tf.export import signatures
from mimnet_tf import images


def _encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def _smooth_image(height=90, width=120):
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([(2 * xx) % 256, (3 * yy) % 256, (xx + yy) % 256], -1).astype(np.uint8)


def test_heat_map_matches_images_heat_map_including_out_of_range():
    values = np.linspace(-0.3, 1.3, 171, dtype=np.float32).reshape(9, 19)
    np.testing.assert_array_equal(signatures.heat_map_tf(tf.constant(values)).numpy(), images.heat_map(values))
    corners = signatures.heat_map_tf(tf.constant([0.0, 1.0])).numpy()
    assert corners.tolist() == [[0, 0, 0], [255, 255, 255]]


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "LA", "P", "GIF", "BMP"])
def test_decode_rgb_matches_images_decode_exactly_for_lossless_formats(mode):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (37, 53, 1), dtype=np.uint8)
    if mode == "RGBA":
        data = _encode(Image.fromarray(np.concatenate([rgb, alpha], -1), "RGBA"))
    elif mode == "LA":
        data = _encode(Image.fromarray(np.concatenate([rgb[..., :1], alpha], -1), "LA"))
    elif mode == "GIF":
        data = _encode(Image.fromarray(rgb).convert("P"), "GIF")
    elif mode == "BMP":
        data = _encode(Image.fromarray(rgb), "BMP")
    else:
        data = _encode(Image.fromarray(rgb).convert(mode))
    expected = images.decode_image(data)
    decoded = signatures.decode_rgb_tf(tf.constant(data)).numpy()
    assert decoded.shape == expected.shape == (37, 53, 3)
    # Transparency composited on white and grey expanded to RGB exactly as images.decode_image.
    np.testing.assert_array_equal(np.round(decoded).astype(np.uint8), expected)


def test_decode_rgb_of_grey_jpeg_is_three_equal_channels():
    grey = _smooth_image()[..., 0]
    decoded = signatures.decode_rgb_tf(tf.constant(_encode(Image.fromarray(grey), "JPEG"))).numpy()
    assert decoded.shape == (90, 120, 3)
    np.testing.assert_array_equal(decoded[..., 0], decoded[..., 2])
    # Two JPEG decoders (libjpeg-turbo in TF, Pillow's) agree within a few levels.
    assert np.abs(decoded[..., 0] - images.decode_image(_encode(Image.fromarray(grey), "JPEG"))[..., 0]).max() <= 4


def test_decode_rejects_bytes_that_are_no_image():
    with pytest.raises(tf.errors.InvalidArgumentError, match="Unknown image file format"):
        signatures.decode_rgb_tf(tf.constant(b"definitely not an image"))


@pytest.mark.parametrize("size", [(32, 32), (200, 150)])
def test_resize_matches_pil_bicubic_within_one_level(size):
    image = _smooth_image()
    expected = images.resize(image, size)
    resized = signatures.resize_pixels_tf(tf.constant(image, tf.float32), size[1], size[0]).numpy()
    assert resized.shape == (size[1], size[0], 3)
    assert np.abs(resized - expected.astype(np.float32)).max() <= 1.0


def test_resize_to_the_same_size_is_the_identity():
    image = np.random.default_rng(2).integers(0, 256, (17, 23, 3)).astype(np.float32)
    np.testing.assert_array_equal(signatures.resize_pixels_tf(tf.constant(image), 17, 23).numpy(), image)


def test_tensor_specs_name_the_contract():
    image, token_ids = signatures.tensor_specs(64, 18, batch_size=1)
    assert (image.name, image.shape.as_list(), image.dtype) == ("image", [1, 64, 64, 3], tf.float32)
    assert (token_ids.name, token_ids.shape.as_list(), token_ids.dtype) == ("token_ids", [1, 18], tf.int32)
    assert signatures.tensor_specs(64, 18)[0].shape.as_list() == [None, 64, 64, 3]
