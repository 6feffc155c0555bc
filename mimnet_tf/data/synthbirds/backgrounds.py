"""SynthBirds backgrounds: six families of non-plain scenes and the branch the bird sits on.

Families: `sky` (gradient with clouds, sometimes a treeline), `grass` (meadow under a blurred
horizon, sometimes flowers), `foliage` (out-of-focus leaves, sometimes autumn colours), `water`
(ripples, sometimes a far shore), `bark` (a tree trunk), `bokeh` (smooth multi-colour blur with
light discs). Their colours overlap the palette on purpose (blue sky, green grass, orange
autumn leaves, brown bark), so an editor that recolours the background fails preservation.

A `Background` holds the knobs drawn at sampling time; the textures themselves come from the
stream `generator("texture", texture_seed, family)`, drawn on a lattice independent of the
image size, so the same scene looks the same at 64, 128 and 256 pixels.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from mimnet_tf.data.synthbirds import geometry
from mimnet_tf.data.synthbirds.seeding import generator

FAMILIES = ("sky", "grass", "foliage", "water", "bark", "bokeh")
PERCH_PROBABILITY = 0.85

_SKIES = {  # (top, horizon)
    "blue": ((35, 90, 215), (120, 170, 240)),
    "pale": ((90, 145, 225), (190, 215, 245)),
    "sunset": ((95, 85, 165), (250, 170, 110)),
    "overcast": ((140, 148, 160), (205, 208, 212)),
    "dusk": ((150, 110, 180), (245, 175, 190)),
}
_SKY_WEIGHTS = (0.4, 0.2, 0.15, 0.15, 0.1)
_GRASSES = ((60, 135, 45), (125, 155, 55), (35, 90, 40), (165, 145, 85))
_GREENS = ((40, 95, 40), (70, 130, 50), (110, 150, 60), (30, 70, 45), (90, 120, 40), (140, 170, 80))
_AUTUMN = ((215, 120, 30), (230, 190, 50), (180, 50, 30), (140, 90, 40), (200, 150, 60))
_WATERS = (  # (far, near)
    ((90, 140, 205), (25, 65, 160)),
    ((110, 170, 170), (30, 100, 110)),
    ((120, 150, 110), (40, 80, 55)),
    ((90, 110, 130), (20, 40, 60)),
)
_BARKS = ((110, 95, 80), (80, 60, 45), (130, 130, 125), (120, 80, 60))
_BOKEH = (
    (60, 120, 60), (30, 90, 150), (230, 140, 180), (130, 70, 160), (230, 140, 40), (220, 210, 80),
    (40, 140, 140), (140, 140, 140), (120, 85, 50), (180, 200, 120), (200, 80, 70), (20, 40, 30),
)
_FLOWERS = ((245, 220, 60), (245, 245, 240), (170, 90, 200), (240, 120, 170), (220, 60, 50))
_PERCHES = ((105, 75, 50), (120, 105, 90), (70, 55, 45), (150, 125, 95))


@dataclasses.dataclass(frozen=True)
class Background:
    """Everything behind the bird.

    Args:
        family: one of FAMILIES.
        texture_seed: names the texture stream (disjoint ranges for train and test).
        params: family knobs as (name, value) pairs; a value is a float or an RGB tuple.
        perch: whether a branch runs under the bird's feet (legs are drawn only then).
        perch_angle: branch direction in radians (image frame, y down).
        perch_thickness: branch diameter, in bird units (so a branch suits its bird).
        perch_side: -1 the branch enters from the left edge, +1 from the right, 0 spans the image.
        perch_reach: how far the branch goes past the feet, in image widths.
        perch_colour: RGB of the bark of the branch.
    """

    family: str
    texture_seed: int
    params: tuple[tuple[str, Any], ...]
    perch: bool
    perch_angle: float
    perch_thickness: float
    perch_side: int
    perch_reach: float
    perch_colour: tuple[int, int, int]

    def param(self, name: str):
        for key, value in self.params:
            if key == name:
                return value
        raise KeyError(f"Background family {self.family!r} has no parameter {name!r}")


def _jitter(rng: np.random.Generator, colour, amount: float = 0.1) -> tuple[int, int, int]:
    scaled = np.asarray(colour, np.float64) * rng.uniform(1 - amount, 1 + amount) + rng.normal(0, 8, 3)
    return tuple(int(c) for c in np.clip(np.round(scaled), 0, 255))


def _pick(rng: np.random.Generator, options, p=None):
    return options[int(rng.choice(len(options), p=p))]


def sample_background(rng: np.random.Generator, texture_seed: int) -> Background:
    """Draws a background family and its knobs from `rng`."""
    family = FAMILIES[int(rng.integers(len(FAMILIES)))]
    if family == "sky":
        top, horizon = _pick(rng, list(_SKIES.values()), p=_SKY_WEIGHTS)
        params = (
            ("top", _jitter(rng, top)), ("horizon", _jitter(rng, horizon)),
            ("clouds", float(rng.uniform(0.0, 0.6))), ("cloud", _jitter(rng, (245, 240, 235), 0.04)),
            ("treeline", float(rng.uniform(0.08, 0.25) if rng.random() < 0.35 else 0.0)),
            ("tree", _jitter(rng, _pick(rng, _GREENS[:4]))),
        )
    elif family == "grass":
        params = (
            ("horizon", float(rng.uniform(0.15, 0.5))), ("grass", _jitter(rng, _pick(rng, _GRASSES))),
            ("far", _jitter(rng, _pick(rng, _GREENS))), ("sky", _jitter(rng, _pick(rng, list(_SKIES.values()))[1])),
            ("flowers", float(rng.integers(8, 26) if rng.random() < 0.4 else 0)),
        )
    elif family == "foliage":
        autumn = rng.random() < 0.25
        params = (
            ("base", _jitter(rng, _pick(rng, _GREENS[:4]), 0.2)), ("leaves", float(rng.integers(14, 27))),
            ("autumn", float(autumn)), ("softness", float(rng.uniform(0.004, 0.03))),
        )
    elif family == "water":
        far, near = _pick(rng, _WATERS)
        params = (
            ("far", _jitter(rng, far)), ("near", _jitter(rng, near)),
            ("ripples", float(rng.uniform(5.0, 10.0))),
            ("shore", float(rng.uniform(0.08, 0.25) if rng.random() < 0.5 else 0.0)),
            ("shore_colour", _jitter(rng, _pick(rng, _GREENS[:4] + ((90, 75, 60),)))),
        )
    elif family == "bark":
        params = (
            ("bark", _jitter(rng, _pick(rng, _BARKS))), ("centre", float(rng.uniform(0.2, 0.8))),
            ("half_width", float(rng.uniform(0.15, 0.6))), ("far", _jitter(rng, _pick(rng, _GREENS))),
            ("sky", _jitter(rng, _pick(rng, list(_SKIES.values()))[1])),
        )
    else:  # bokeh
        chosen = rng.choice(len(_BOKEH), size=3, replace=False)
        params = tuple((f"colour{i}", _jitter(rng, _BOKEH[int(k)], 0.15)) for i, k in enumerate(chosen)) + (
            ("discs", float(rng.integers(6, 19))),
        )
    return Background(
        family=family,
        texture_seed=texture_seed,
        params=params,
        perch=bool(rng.random() < PERCH_PROBABILITY),
        perch_angle=float(rng.uniform(-0.3, 0.3)),
        perch_thickness=float(rng.uniform(0.14, 0.24)),
        perch_side=int(rng.integers(-1, 2)),
        perch_reach=float(rng.uniform(0.15, 0.35)),
        perch_colour=_jitter(rng, _pick(rng, _PERCHES)),
    )


@functools.lru_cache(maxsize=8)
def pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) float32 [size, size] of pixel centres in image units [0, 1] (y down)."""
    centres = ((np.arange(size, dtype=np.float32) + 0.5) / size).astype(np.float32)
    x, y = np.meshgrid(centres, centres)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def _rgb(colour) -> np.ndarray:
    return np.asarray(colour, np.float32)


def _mix(c0, c1, t: np.ndarray) -> np.ndarray:
    """Per-pixel blend of two colours (or colour fields) by t [H, W] -> [H, W, 3]."""
    c0 = _rgb(c0) if np.ndim(c0) == 1 else c0
    c1 = _rgb(c1) if np.ndim(c1) == 1 else c1
    return c0 + (c1 - c0) * t[..., None]


def _soft_alpha(sdf: np.ndarray, softness: float, size: int) -> np.ndarray:
    """Coverage of a shape (sdf in image units) blurred over `softness` image units (>= 1 px)."""
    return geometry.coverage(sdf * size / max(1.0, softness * size))


def _edge_line(rng, size: int, level: float, wobble: float, y: np.ndarray, softness: float) -> np.ndarray:
    """Mask of the part of the image below a wobbly horizontal line at height `level`."""
    edge = level + wobble * (geometry.value_noise(rng, size, 1, 10)[0] - 0.5)
    return _soft_alpha(edge[None, :] - y, softness, size)


def _sky(bg: Background, rng, size: int) -> np.ndarray:
    x, y = pixel_grid(size)
    image = _mix(bg.param("top"), bg.param("horizon"), np.clip(y**0.8 + 0.15 * (x - 0.5) * (rng.random() - 0.5), 0, 1))
    cover = bg.param("clouds")
    if cover > 0.02:
        clouds = geometry.fractal_noise(rng, size, 3, 2, octaves=4)
        mask = geometry.smoothstep(1.0 - cover - 0.05, 1.0 - cover + 0.25, clouds)
        shade = 1.0 - 0.18 * geometry.value_noise(rng, size, 4, 3)
        image = _mix(image, _rgb(bg.param("cloud")) * shade[..., None], 0.92 * mask)
    if bg.param("treeline") > 0:
        below = _edge_line(rng, size, 1.0 - bg.param("treeline"), 0.12, y, 0.01)
        texture = 0.7 + 0.5 * geometry.fractal_noise(rng, size, 6, 10, octaves=2)
        image = _mix(image, _rgb(bg.param("tree")) * texture[..., None], below)
    return image


def _grass(bg: Background, rng, size: int) -> np.ndarray:
    x, y = pixel_grid(size)
    horizon = bg.param("horizon")
    blur = geometry.fractal_noise(rng, size, 2, 3, octaves=2)
    far = _mix(bg.param("sky"), bg.param("far"), np.clip(0.35 + 1.2 * (blur - 0.5) + 0.6 * y, 0, 1))
    streaks = geometry.value_noise(rng, size, 4, 40)
    patches = geometry.fractal_noise(rng, size, 3, 3, octaves=2)
    depth = np.clip((y - horizon) / (1.0 - horizon + 1e-3), 0, 1)  # 0 at the horizon, 1 in front
    brightness = (0.8 + 0.35 * patches) * (1.0 + (0.45 * streaks - 0.2) * depth) * (1.12 - 0.2 * depth)
    grass = _rgb(bg.param("grass")) * brightness[..., None]
    image = _mix(far, grass, _edge_line(rng, size, horizon, 0.08, y, 0.02))
    flowers = int(bg.param("flowers"))
    if flowers:
        cx = rng.uniform(0, 1, flowers).astype(np.float32)
        cy = rng.uniform(horizon + 0.05, 1.0, flowers).astype(np.float32)
        radius = 0.006 + 0.012 * (cy - horizon) / (1.0 - horizon)
        colour = np.array(_FLOWERS, np.float32)[rng.integers(len(_FLOWERS), size=flowers)]
        sdf = np.sqrt((x - cx[:, None, None]) ** 2 + (y - cy[:, None, None]) ** 2) - radius[:, None, None]
        image = geometry.composite_layers(image, _soft_alpha(sdf, 0.006, size), colour)
    return image


def _foliage(bg: Background, rng, size: int) -> np.ndarray:
    x, y = pixel_grid(size)
    base = _rgb(bg.param("base"))
    image = base * (0.6 + 0.7 * geometry.fractal_noise(rng, size, 3, 3, octaves=3))[..., None]
    count = int(bg.param("leaves"))
    palette = np.array(_AUTUMN if bg.param("autumn") else _GREENS, np.float32)
    colours = palette[rng.integers(len(palette), size=count)] * rng.uniform(0.7, 1.2, (count, 1))
    cx, cy = rng.uniform(-0.1, 1.1, (2, count)).astype(np.float32)
    length = rng.uniform(0.06, 0.16, count).astype(np.float32)
    width = length * rng.uniform(0.35, 0.5, count).astype(np.float32)
    angle = rng.uniform(0, np.pi, count).astype(np.float32)
    sdf = geometry.ellipse(
        x[None], y[None], cx[:, None, None], cy[:, None, None], length[:, None, None],
        0.7 * length[:, None, None], width[:, None, None], angle[:, None, None],
    )
    return geometry.composite_layers(image, _soft_alpha(sdf, bg.param("softness"), size), np.clip(colours, 0, 255))


def _water(bg: Background, rng, size: int) -> np.ndarray:
    x, y = pixel_grid(size)
    depth = np.clip(y, 0, 1)
    image = _mix(bg.param("far"), bg.param("near"), depth**0.9)
    warp = geometry.fractal_noise(rng, size, 3, 2, octaves=2)
    phase = 2 * np.pi * bg.param("ripples") * (depth + 0.3) ** 1.6 + 6.0 * warp
    ripple = np.sin(phase) * (0.4 + 0.6 * geometry.value_noise(rng, size, 3, 5))
    image = image * (1.0 + 0.14 * ripple)[..., None]
    glints = geometry.smoothstep(0.55, 0.95, ripple) * geometry.value_noise(rng, size, 4, 6)
    image = _mix(image, np.array([235, 240, 245], np.float32), 0.55 * glints)
    if bg.param("shore") > 0:
        above = 1.0 - _edge_line(rng, size, bg.param("shore"), 0.1, y, 0.01)
        texture = 0.7 + 0.5 * geometry.fractal_noise(rng, size, 5, 10, octaves=2)
        image = _mix(image, _rgb(bg.param("shore_colour")) * texture[..., None], above)
    return image


def _bark(bg: Background, rng, size: int) -> np.ndarray:
    x, y = pixel_grid(size)
    blur = geometry.fractal_noise(rng, size, 2, 2, octaves=2)
    image = _mix(bg.param("sky"), bg.param("far"), np.clip(0.5 + 1.4 * (blur - 0.5), 0, 1))
    furrows = geometry.value_noise(rng, size, 3, 14)
    fine = geometry.value_noise(rng, size, 8, 36)
    across = (x - bg.param("centre")) / bg.param("half_width")
    shade = (1.05 - 0.45 * np.clip(across, -1, 1) ** 2) * (0.85 + 0.3 * fine)
    shade = shade * (1.0 - 0.45 * geometry.smoothstep(0.35, 0.15, furrows))
    trunk = _rgb(bg.param("bark")) * shade[..., None]
    return _mix(image, trunk, _soft_alpha(np.abs(x - bg.param("centre")) - bg.param("half_width"), 0.01, size))


def _bokeh(bg: Background, rng, size: int) -> np.ndarray:
    x, y = pixel_grid(size)
    c0, c1, c2 = (bg.param(f"colour{i}") for i in range(3))
    image = _mix(c0, c1, geometry.smoothstep(0.3, 0.7, geometry.fractal_noise(rng, size, 2, 2, octaves=2)))
    patches = geometry.fractal_noise(rng, size, 2, 3, octaves=2)
    image = _mix(image, _rgb(c2), 0.8 * geometry.smoothstep(0.55, 0.8, patches))
    count = int(bg.param("discs"))
    cx, cy = rng.uniform(0, 1, (2, count)).astype(np.float32)
    radius = rng.uniform(0.03, 0.1, count).astype(np.float32)
    base = np.array([c0, c1, c2], np.float32)[rng.integers(3, size=count)]
    colours = base + (255.0 - base) * rng.uniform(0.3, 0.7, (count, 1))
    sdf = np.sqrt((x - cx[:, None, None]) ** 2 + (y - cy[:, None, None]) ** 2) - radius[:, None, None]
    alphas = _soft_alpha(sdf, 0.012, size) * rng.uniform(0.25, 0.6, count).astype(np.float32)[:, None, None]
    return geometry.composite_layers(image, alphas, colours)


_RENDERERS = {"sky": _sky, "grass": _grass, "foliage": _foliage, "water": _water, "bark": _bark, "bokeh": _bokeh}


def render_background(background: Background, size: int) -> np.ndarray:
    """The background alone: float32 [size, size, 3] in [0, 255] (unclipped)."""
    if background.family not in _RENDERERS:
        raise ValueError(f"Unknown background family {background.family!r}; expected one of {FAMILIES}")
    rng = generator("texture", background.texture_seed, background.family)
    return _RENDERERS[background.family](background, rng, size).astype(np.float32)


def draw_perch(
    image: np.ndarray, background: Background, feet: tuple[float, float], bird_scale: float, size: int
) -> np.ndarray:
    """Paints the branch whose top edge passes through `feet` (image units) over `image`."""
    x, y = pixel_grid(size)
    radius = 0.5 * background.perch_thickness * bird_scale
    direction = np.array([np.cos(background.perch_angle), np.sin(background.perch_angle)])
    down = np.array([-direction[1], direction[0]])  # image y points down
    through = np.asarray(feet) + down * radius
    far = 1.5  # beyond the image from any feet position: the branch leaves the frame
    if background.perch_side == 0:
        start, end = through - far * direction, through + far * direction
        base_radius = tip_radius = radius
    else:
        toward = -background.perch_side  # the branch grows from its edge toward the other side
        start = through - toward * far * direction
        end = through + toward * background.perch_reach * direction
        # Tapers toward its free end while keeping exactly `radius` under the feet.
        tip_radius = 0.9 * radius
        base_radius = (radius * (far + background.perch_reach) - tip_radius * far) / background.perch_reach
    sdf, along, across = geometry.segment(x, y, tuple(start), tuple(end), base_radius, tip_radius)
    rng = generator("perch", background.texture_seed)
    grain = geometry.value_noise(rng, size, 4, 30)
    # Light from above: the top of the cylinder is lit, its underside in shadow.
    side = np.clip(across * float(np.sign(end[0] - start[0])), -1, 1)  # +1 at the underside
    shade = (1.12 - 0.38 * ((1 + side) / 2) ** 1.5) * (0.88 + 0.24 * grain)
    colour = _rgb(background.perch_colour) * shade[..., None]
    alpha = geometry.coverage(sdf * size)
    return image + (colour - image) * alpha[..., None]
