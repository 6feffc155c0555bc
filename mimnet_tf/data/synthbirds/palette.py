"""The closed world of SynthBirds: named colours, bird parts, and colour snapping.

Colours are compared in CIE Lab (CIE76 distance), so that a shaded or slightly darkened part
(what the renderer draws, and what an editing model produces) still snaps to the colour it was
painted with. The palette is chosen so that every pair of colours is at least ~37 Lab units
apart and each keeps its name under the renderer's shading range (x0.75 to x1.12).
"""
from __future__ import annotations

import numpy as np

from mimnet_tf.images import pixels_to_unit_range

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (214, 32, 32),
    "orange": (244, 132, 22),
    "yellow": (248, 222, 40),
    "green": (46, 150, 52),
    "blue": (30, 80, 230),
    "purple": (140, 40, 160),
    "pink": (244, 140, 196),
    "brown": (120, 74, 36),
    "black": (22, 22, 24),
    "white": (244, 244, 240),
    "grey": (118, 118, 120),
}
COLOUR_NAMES: tuple[str, ...] = tuple(PALETTE)

# Label-map value of PARTS[i] is i + 1; 0 is background.
PARTS = ("crown", "head", "belly", "wings", "tail", "beak", "eye")
COLOURABLE_PARTS = ("crown", "head", "belly", "wings", "tail", "beak")  # the eye is fixed


def part_label(part: str) -> int:
    """The label-map value of `part` (1-based index in PARTS)."""
    if part not in PARTS:
        raise ValueError(f"Unknown part {part!r}; expected one of {PARTS}")
    return PARTS.index(part) + 1


def check_colour(name: str) -> str:
    if name not in PALETTE:
        raise ValueError(f"Unknown colour {name!r}; expected one of {COLOUR_NAMES}")
    return name


def rgb_to_lab(rgb) -> np.ndarray:
    """sRGB in [0, 255] [..., 3] -> CIE Lab (D65) float32 [..., 3]."""
    c = pixels_to_unit_range(rgb)
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array(
        [[0.4124, 0.2126, 0.0193], [0.3576, 0.7152, 0.1192], [0.1805, 0.0722, 0.9505]], np.float32
    )
    xyz = xyz / np.array([0.95047, 1.0, 1.08883], np.float32)
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1
    ).astype(np.float32)


_PALETTE_LAB = rgb_to_lab(np.array(list(PALETTE.values()), np.float32))  # [11, 3]


def snap_indices(rgb) -> np.ndarray:
    """Index into COLOUR_NAMES of the nearest palette colour of every RGB in [..., 3]."""
    lab = rgb_to_lab(rgb)
    distances = np.sum((lab[..., None, :] - _PALETTE_LAB) ** 2, axis=-1)
    return np.argmin(distances, axis=-1)


def nearest_colour(rgb) -> str:
    """The palette name nearest (in Lab) to one RGB triple in [0, 255]."""
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.shape != (3,):
        raise ValueError(f"nearest_colour takes one RGB triple, got shape {rgb.shape}")
    return COLOUR_NAMES[int(snap_indices(rgb))]


def dominant_colour(image: np.ndarray, mask: np.ndarray) -> str | None:
    """Majority vote of the snapped colours of the pixels of `image` inside `mask`.

    Args:
        image: uint8 [H, W, 3] (or float in [0, 255]).
        mask: bool [H, W].

    Returns:
        The palette name with most votes (ties go to the earlier palette colour), or None when
        the mask is empty.
    """
    image = np.asarray(image)
    mask = np.asarray(mask, dtype=bool)
    if image.ndim != 3 or image.shape[-1] != 3 or mask.shape != image.shape[:2]:
        raise ValueError(f"Expected image [H, W, 3] and mask [H, W]; got {image.shape} and {mask.shape}")
    pixels = image[mask]
    if not len(pixels):
        return None
    # Snap each distinct colour once: clean renders have few distinct values inside a part.
    unique, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)
    votes = np.bincount(snap_indices(unique), weights=counts, minlength=len(COLOUR_NAMES))
    return COLOUR_NAMES[int(np.argmax(votes))]
