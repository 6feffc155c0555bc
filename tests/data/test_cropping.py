import numpy as np
import pytest

from mimnet_tf.data import cropping


def _coordinates(height, width):
    """A test image whose pixel (y, x) holds (y, x, 0), so a crop shows where it came from."""
    ys, xs = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return np.stack([ys, xs, np.zeros_like(ys)], axis=-1)


def test_crop_to_bbox_matches_attngan_by_hand():
    image = _coordinates(80, 100)  # H=80, W=100
    # AttnGAN: ints (10, 20, 30, 20); r = int(30 * 0.75) = 22; centre (25, 30) -> rows 8..51, cols 3..46.
    crop = cropping.crop_to_bbox(image, (10.7, 20.2, 30.0, 20.0))
    assert crop.shape == (44, 44, 3)
    assert (crop[0, 0, 0], crop[0, 0, 1]) == (8, 3) and (crop[-1, -1, 0], crop[-1, -1, 1]) == (51, 46)


def test_crop_to_bbox_clips_to_the_image_and_training_crop_is_square():
    image = _coordinates(80, 100)
    # (60, 5, 30, 10): r = 22, centre (75, 10) -> rows 0..31 (clipped), cols 53..96.
    crop = cropping.crop_to_bbox(image, (60, 5, 30, 10))
    assert crop.shape == (32, 44, 3)
    assert (crop[0, 0, 0], crop[0, 0, 1]) == (0, 53)
    square = cropping.crop_for_training(image, (60, 5, 30, 10))
    assert square.shape == (32, 32, 3)
    assert (square[0, 0, 0], square[0, 0, 1]) == (0, 59)  # 6 columns off each side of the 44
    with pytest.raises(ValueError, match="outside"):
        cropping.crop_to_bbox(image, (200, 5, 10, 10))
    with pytest.raises(ValueError, match="positive width"):
        cropping.crop_to_bbox(image, (5, 5, 0, 10))


def test_centre_square_of_celeba_keeps_rows_20_to_197():
    image = _coordinates(218, 178)
    square = cropping.centre_square(image)
    assert square.shape == (178, 178, 3)
    assert square[0, 0, 0] == 20 and square[-1, 0, 0] == 197
    assert cropping.crop_for_training(image).shape == (178, 178, 3)
    wide = _coordinates(10, 15)
    assert cropping.centre_square(wide)[0, 0, 1] == 2 and cropping.centre_square(wide).shape == (10, 10, 3)
