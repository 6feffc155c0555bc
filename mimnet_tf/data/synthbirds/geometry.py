"""Signed distances, anti-aliased coverage and smooth noise: the drawing primitives of SynthBirds.

Shapes are signed-distance fields evaluated on whole coordinate grids (negative inside); a field
in pixel units becomes anti-aliased coverage by `coverage(sdf_px) = clip(0.5 - sdf_px, 0, 1)`,
the area of a pixel inside a straight edge. Everything works on numpy arrays of any shape, so a
rendering is a few dozen vectorised operations and never a loop over pixels.
"""
from __future__ import annotations

import functools
import math

import numpy as np

_EPS = 1e-6


def coverage(sdf_px: np.ndarray) -> np.ndarray:
    """Pixel coverage in [0, 1] of a shape from its signed distance in pixels."""
    return np.clip(0.5 - sdf_px, 0.0, 1.0)


def _scalar(value):
    """A Python float for a scalar (NumPy 2 keeps float32 arrays float32 only with Python
    scalars: an np.float64 scalar would promote every field to float64), arrays unchanged."""
    return float(value) if np.ndim(value) == 0 else value


def rotate(x: np.ndarray, y: np.ndarray, angle) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of points (x, y) in a frame rotated by `angle` (radians, counter-clockwise)."""
    c, s = _scalar(np.cos(angle)), _scalar(np.sin(angle))
    return c * x + s * y, -s * x + c * y


def disc(x, y, cx: float, cy: float, radius: float) -> np.ndarray:
    cx, cy, radius = _scalar(cx), _scalar(cy), _scalar(radius)
    return np.sqrt((x - cx) ** 2 + (y - cy) ** 2) - radius


def ellipse(x, y, cx: float, cy: float, a_front: float, a_back: float, b: float, angle: float) -> np.ndarray:
    """Approximate signed distance to an ellipse (exact on the boundary's normal direction).

    `a_front` is the semi-axis along +x of the ellipse frame and `a_back` along -x, so one call
    also draws egg and teardrop shapes (a wing whose tip is longer than its shoulder).
    """
    u, v = rotate(x - _scalar(cx), y - _scalar(cy), angle)
    a = np.where(u >= 0, np.float32(a_front), np.float32(a_back)).astype(u.dtype, copy=False)
    b = np.float32(b) if np.ndim(b) == 0 else b
    k0 = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    k1 = np.sqrt((u / (a * a)) ** 2 + (v / (b * b)) ** 2)
    return k0 * (k0 - 1.0) / (k1 + _EPS)


def convex_polygon(x, y, vertices) -> np.ndarray:
    """Exact signed distance to a convex polygon (sharp corners stay sharp, outlines round them).

    Args:
        vertices: [(x, y), ...] in counter-clockwise or clockwise order.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    orientation = float(np.sign(_signed_area(vertices))) or 1.0
    inside = outside = None
    for start, end in zip(vertices, np.roll(vertices, -1, axis=0)):
        sx, sy = float(start[0]), float(start[1])
        dx, dy = float(end[0]) - sx, float(end[1]) - sy
        length = math.hypot(dx, dy) + _EPS
        # Outward normal of a counter-clockwise polygon is (dy, -dx).
        nx, ny = orientation * dy / length, -orientation * dx / length
        px, py = x - sx, y - sy
        half_plane = px * nx + py * ny
        along = np.clip((px * dx + py * dy) / (length * length), 0.0, 1.0)
        to_edge = np.sqrt((px - along * dx) ** 2 + (py - along * dy) ** 2)
        inside = half_plane if inside is None else np.maximum(inside, half_plane)
        outside = to_edge if outside is None else np.minimum(outside, to_edge)
    # Inside, the nearest edge line is the nearest edge; outside, the nearest edge segment.
    return np.where(inside > 0, outside, inside)


def _signed_area(vertices: np.ndarray) -> float:
    x, y = vertices[:, 0], vertices[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def segment(x, y, start, end, radius_start: float, radius_end: float | None = None):
    """Signed distance to a capsule from `start` to `end` whose radius varies linearly.

    Returns:
        (sdf, along, across): the distance field, the position along the segment in [0, 1] and
        the signed offset across it (radius units, + on the left of start -> end).
    """
    radius_start = float(radius_start)
    radius_end = radius_start if radius_end is None else float(radius_end)
    sx, sy = float(start[0]), float(start[1])
    dx, dy = float(end[0]) - sx, float(end[1]) - sy
    length2 = dx * dx + dy * dy + _EPS
    along = np.clip(((x - sx) * dx + (y - sy) * dy) / length2, 0.0, 1.0)
    px, py = x - (sx + along * dx), y - (sy + along * dy)
    radius = radius_start + (radius_end - radius_start) * along
    across = (px * -dy + py * dx) / math.sqrt(length2) / np.maximum(radius, _EPS)
    return np.sqrt(px * px + py * py) - radius, along, across


@functools.lru_cache(maxsize=256)
def _interpolation_matrix(size: int, cells: int) -> np.ndarray:
    """[size, cells + 1] smoothstep interpolation weights from a lattice to pixel centres."""
    position = (np.arange(size, dtype=np.float64) + 0.5) / size * cells
    low = np.minimum(np.floor(position).astype(int), cells - 1)
    frac = position - low
    weight = frac * frac * (3.0 - 2.0 * frac)
    matrix = np.zeros((size, cells + 1), np.float32)
    matrix[np.arange(size), low] = 1.0 - weight
    matrix[np.arange(size), low + 1] = weight
    matrix.setflags(write=False)
    return matrix


def value_noise(rng: np.random.Generator, size: int, cells_y: int, cells_x: int) -> np.ndarray:
    """Smooth value noise in [0, 1], float32 [size, size], with cells_y x cells_x lattice cells.

    The lattice is drawn from `rng` independently of `size`, so the same stream gives the same
    picture at 64, 128 or 256 pixels. Interpolation is separable: two small matrix products.
    """
    lattice = rng.random((cells_y + 1, cells_x + 1), dtype=np.float32)
    return _interpolation_matrix(size, cells_y) @ lattice @ _interpolation_matrix(size, cells_x).T


def fractal_noise(rng: np.random.Generator, size: int, cells_y: int, cells_x: int, octaves: int = 3) -> np.ndarray:
    """Sum of `octaves` value noises, each twice as fine and half as strong; in [0, 1]."""
    total = np.zeros((size, size), np.float32)
    norm = 0.0
    for octave in range(octaves):
        weight = 0.5**octave
        total += weight * value_noise(rng, size, cells_y * 2**octave, cells_x * 2**octave)
        norm += weight
    return total / norm


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def visible_weights(alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How much of each of N stacked layers shows, the last layer in front.

    Args:
        alphas: float32 [N, H, W] layer opacities in [0, 1].

    Returns:
        (weights [N, H, W], clear [H, W]): weights[n] = alphas[n] times the transparency of
        every layer after n; clear = the transparency of the whole stack (what shows of the
        picture behind it).
    """
    weights = np.empty_like(alphas)
    clear = np.ones_like(alphas[0])
    for n in range(len(alphas) - 1, -1, -1):  # a loop over layers is far faster than cumprod on axis 0
        np.multiply(alphas[n], clear, out=weights[n])
        clear = clear * (1.0 - alphas[n])
    return weights, clear


def composite_layers(base: np.ndarray, alphas: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Paints layers over `base` in order (the last one in front), vectorised over pixels.

    Args:
        base: float32 [H, W, 3].
        alphas: float32 [N, H, W] layer opacities in [0, 1].
        colours: float32 [N, 3] layer colours.

    Returns:
        float32 [H, W, 3].
    """
    if not len(alphas):
        return base
    weights, clear = visible_weights(alphas)
    return base * clear[..., None] + np.tensordot(weights, np.asarray(colours, np.float32), axes=(0, 0))
