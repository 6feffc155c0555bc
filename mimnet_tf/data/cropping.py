"""The crops `prepare` applies before resizing, decided once per record.

- CUB (with `use_bbox`): `crop_to_bbox`, AttnGAN's crop: a square of side 2 * int(0.75 *
  max(w, h)) (about 1.5 * max(w, h)) centred on the box, clipped to the image. Clipping can leave
  it non-square; AttnGAN then resizes its short side and random-crops a square, so the pixels
  that would only appear in some of those crops are dropped here by `centre_square`, and the
  image is never stretched.
- CelebA: the aligned images are 178 x 218 (width x height); `centre_square` keeps rows 20..197,
  a 178 x 178 square with the face in the middle.
- Every other image (Oxford-102, DeepFashion, manifest, CUB without boxes): `centre_square`,
  a no-op for square images.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


def crop_to_bbox(image: np.ndarray, bbox: Sequence[float]) -> np.ndarray:
    """Crops around a bounding box exactly as AttnGAN's `get_imgs` does for CUB.

    AttnGAN reads bounding_boxes.txt as integers, then takes r = int(0.75 * max(w, h)) and the
    centre (int((2x + w) / 2), int((2y + h) / 2)), and crops [centre - r, centre + r) clipped to
    the image.

    Args:
        image: uint8 [H, W, C].
        bbox: (x, y, width, height) in pixels, as in CUB's bounding_boxes.txt.

    Returns:
        The crop, uint8 [h, w, C] with h, w <= 2r.
    """
    if len(bbox) != 4:
        raise ValueError(f"bbox={bbox!r}: expected (x, y, width, height)")
    x, y, w, h = (int(v) for v in bbox)  # pandas .astype(int) in AttnGAN: truncation
    if w <= 0 or h <= 0:
        raise ValueError(f"bbox={bbox!r}: expected a positive width and height")
    height, width = image.shape[:2]
    radius = int(max(w, h) * 0.75)
    centre_x = int((2 * x + w) / 2)
    centre_y = int((2 * y + h) / 2)
    y1, y2 = max(0, centre_y - radius), min(height, centre_y + radius)
    x1, x2 = max(0, centre_x - radius), min(width, centre_x + radius)
    if y2 <= y1 or x2 <= x1:
        raise ValueError(f"bbox={bbox!r} lies outside the {width}x{height} image")
    return image[y1:y2, x1:x2]


def centre_square(image: np.ndarray) -> np.ndarray:
    """The largest centred square of uint8 [H, W, C]; extra rows/columns go to the bottom/right half."""
    height, width = image.shape[:2]
    side = min(height, width)
    top = (height - side) // 2
    left = (width - side) // 2
    return image[top : top + side, left : left + side]


def crop_for_training(image: np.ndarray, bbox: Optional[Sequence[float]] = None) -> np.ndarray:
    """What `prepare` stores: the bbox crop when there is a box, then the centred square."""
    if bbox is not None:
        image = crop_to_bbox(image, bbox)
    return centre_square(image)
