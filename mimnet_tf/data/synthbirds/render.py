"""SynthBirds scenes and their renderer: a CUB-like bird photo in miniature, with exact part masks.

A `Scene` is a bird (colours of its parts, species, pose and shape) on a background. It is drawn
from `(seed, split, index)` alone, and `render(scene, size)` turns it into an anti-aliased image
plus a per-part coverage map, at any size. `with_colours` recolours parts and leaves everything
else as it was, which is how an edit's ground truth is made.

The bird is built in its own frame (x forward, y up, units of about half a body length) from
signed-distance shapes: tail (back), body (the visible body is the belly), wings, head, crown
(the top cap of the head), beak and eye. Shapes are painted back to front; the coverage of each
part is what stays visible after the parts in front of it, so the label map is exact up to the
anti-aliasing of shared edges.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from mimnet_tf.data.synthbirds import geometry
from mimnet_tf.data.synthbirds.backgrounds import (
    Background,
    draw_perch,
    pixel_grid,
    render_background,
    sample_background,
)
from mimnet_tf.data.synthbirds.palette import COLOUR_NAMES, COLOURABLE_PARTS, PALETTE, PARTS, check_colour
from mimnet_tf.data.synthbirds.seeding import generator
from mimnet_tf.data.synthbirds.species import MUTATION_RATE, SPECIES

SPLITS = ("train", "test", "validation")  # validation: the benchmark's tuning cases, never written to disk
CORE_COVERAGE = 0.6  # part_mask threshold: pixels that are (almost) only this part
LABEL_COVERAGE = 0.5  # the label map is 0 where the bird covers less than this
MASK_COVERAGE = 0.01  # bird_mask: any part coverage above this, dilated by one pixel
_TEXTURE_SEED_RANGE = 2**31  # train textures in [0, 2^31), test in [2^31, 2^32), validation above
_EYE_RING = (236, 232, 214)
_PUPIL = (14, 12, 12)
_OUTLINE = (26, 22, 20)
_LEGS = (72, 60, 52)
_MIN_SCALE = 0.285  # image widths per bird unit
_GRAIN = 1.6  # standard deviation of the photo grain, in 0-255 units


@dataclasses.dataclass(frozen=True)
class Bird:
    """A bird: what it looks like and where it is.

    Args:
        colours: (part, colour name) for every colourable part, in COLOURABLE_PARTS order.
        species: index into SPECIES (the class).
        centre_x, centre_y: body centre in image units ([0, 1], y down).
        scale: image widths per bird unit (the body is about 1 unit long).
        facing: +1 faces right, -1 faces left.
        rotation: small in-plane rotation of the whole bird, radians.
        body_tilt: angle of the body axis above horizontal (perched birds lean back), radians.
        body_length: body ellipse length, units.
        bulk: body height / length.
        head_size: head radius multiplier.
        tail_length: tail length, units.
        tail_droop: extra downward angle of the tail, radians.
        beak_length: beak length beyond the head, in head radii.
        beak_angle: beak direction (0 horizontal, negative points down), radians.
        wing_length: wing tip reach multiplier.
    """

    colours: tuple[tuple[str, str], ...]
    species: int
    centre_x: float
    centre_y: float
    scale: float
    facing: int
    rotation: float
    body_tilt: float
    body_length: float
    bulk: float
    head_size: float
    tail_length: float
    tail_droop: float
    beak_length: float
    beak_angle: float
    wing_length: float

    def __post_init__(self):
        parts = tuple(p for p, _ in self.colours)
        if parts != COLOURABLE_PARTS:
            raise ValueError(f"Bird.colours must list {COLOURABLE_PARTS} in order; got {parts}")
        for _, colour in self.colours:
            check_colour(colour)

    def colour(self, part: str) -> str:
        for name, colour in self.colours:
            if name == part:
                return colour
        raise ValueError(f"Unknown colourable part {part!r}; expected one of {COLOURABLE_PARTS}")

    def as_dict(self) -> dict[str, str]:
        """{part: colour name} for every colourable part."""
        return dict(self.colours)

    @property
    def pose(self) -> tuple[float, ...]:
        """Every pose and shape parameter (all fields but colours and species)."""
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("colours", "species"))


@dataclasses.dataclass(frozen=True)
class Scene:
    """A bird on a background; `(seed, split, index)` is where it was drawn from."""

    bird: Bird
    background: Background
    split: str
    index: int
    seed: int

    @property
    def sample_key(self) -> str:
        """Name of the sampling point, `test-0-000017` (shared by a scene and its recolourings)."""
        return f"{self.split}-{self.seed}-{self.index:06d}"

    @property
    def key(self) -> str:
        """Unique name of the scene: sampling point plus colours, `test-0-000017-3a8149`.

        The colour code has one base-11 digit (index into COLOUR_NAMES) per colourable part, so
        an edit's ground truth never shares a key (or a cache entry) with its source.
        """
        code = "".join("0123456789a"[COLOUR_NAMES.index(c)] for _, c in self.bird.colours)
        return f"{self.sample_key}-{code}"

    @property
    def pose_and_background(self) -> tuple:
        """What train and test never share: the bird's pose/shape and the whole background."""
        return (self.bird.pose, self.background)


def colours_tuple(colours: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """{part: colour} covering every colourable part -> Bird.colours (validated, ordered)."""
    missing = [p for p in COLOURABLE_PARTS if p not in colours]
    unknown = [p for p in colours if p not in COLOURABLE_PARTS]
    if missing or unknown:
        raise ValueError(f"Colours must name exactly {COLOURABLE_PARTS}; missing {missing}, unknown {unknown}")
    return tuple((p, check_colour(colours[p])) for p in COLOURABLE_PARTS)


def with_colours(scene: Scene, colours: dict[str, str]) -> Scene:
    """The same bird, pose and background with the parts in `colours` recoloured."""
    unknown = [p for p in colours if p not in COLOURABLE_PARTS]
    if unknown:
        raise ValueError(f"Cannot recolour {unknown}; colourable parts are {COLOURABLE_PARTS}")
    merged = {**scene.bird.as_dict(), **colours}
    return dataclasses.replace(scene, bird=dataclasses.replace(scene.bird, colours=colours_tuple(merged)))


class _Anatomy:
    """Key points and sizes of a bird in its own frame (x forward, y up), from its parameters."""

    def __init__(self, bird: Bird):
        self.a = 0.5 * bird.body_length
        self.b = self.a * bird.bulk
        t = bird.body_tilt
        self.tilt = t
        axis = np.array([math.cos(t), math.sin(t)])
        normal = np.array([-math.sin(t), math.cos(t)])
        self.head_radius = 0.3 * bird.head_size
        self.head = axis * 0.74 * self.a + normal * 0.62 * self.b
        self.crown_normal = np.array([math.cos(math.radians(100)), math.sin(math.radians(100))])
        self.crown_offset = 0.2 * self.head_radius
        rh = self.head_radius
        self.eye = self.head + rh * np.array([0.28, 0.06])
        self.eye_radius = 0.24 * rh
        tip_direction = np.array([math.cos(bird.beak_angle), math.sin(bird.beak_angle)])
        self.beak = (
            self.head + rh * np.array([0.55, 0.47]),
            self.head + rh * np.array([0.60, -0.43]),
            self.head + rh * (1.0 + bird.beak_length) * tip_direction,
        )
        self.wing_centre = axis * -0.1 * self.a + normal * 0.3 * self.b
        self.wing_axes = (0.55 * self.a, bird.wing_length * self.a, 0.62 * self.b)
        self.wing_angle = t + 0.1
        root = axis * -0.6 * self.a + normal * 0.05 * self.b
        tail_angle = math.pi + t + bird.tail_droop
        tail_direction = np.array([math.cos(tail_angle), math.sin(tail_angle)])
        across = np.array([-tail_direction[1], tail_direction[0]])
        tip = root + bird.tail_length * tail_direction
        w0, w1 = 0.2 * self.a, 0.28 * self.a
        self.tail = (root + w0 * across, tip + w1 * across, tip - w1 * across, root - w0 * across)
        # Legs hang from the lowest point of the tilted body ellipse down to the perch.
        norm = math.hypot(self.a * math.sin(t), self.b * math.cos(t))
        low = np.array([-(self.a**2 - self.b**2) * math.sin(t) * math.cos(t) / norm, -norm])
        self.legs = []
        for dx in (-0.06, 0.06):
            top = low + np.array([dx, 0.12])
            foot = low + np.array([dx - 0.02, -0.13])
            self.legs.append((top, foot, foot + np.array([0.09, 0.0])))
        self.feet = 0.5 * (self.legs[0][1] + self.legs[1][1])
        # Plain Python floats from here on, so the float32 pixel fields stay float32.
        for name in ("head", "crown_normal", "eye", "wing_centre", "feet"):
            setattr(self, name, _point(getattr(self, name)))
        self.beak = tuple(_point(p) for p in self.beak)
        self.tail = tuple(_point(p) for p in self.tail)
        self.legs = [tuple(_point(p) for p in leg) for leg in self.legs]
        self.wing_axes = tuple(float(v) for v in self.wing_axes)

    def extreme_points(self) -> np.ndarray:
        """Points on the silhouette (bird frame) whose bounding box is the bird's, [N, 2]."""
        angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        circle = np.stack([np.cos(angles), np.sin(angles)], axis=1)
        body = circle * [self.a, self.b] @ _rotation(self.tilt).T
        wing = np.where(circle[:, :1] >= 0, self.wing_axes[0], self.wing_axes[1]) * circle[:, :1]
        wing = np.concatenate([wing, circle[:, 1:] * self.wing_axes[2]], axis=1) @ _rotation(self.wing_angle).T
        head = np.asarray(self.head) + circle * self.head_radius
        wing = wing + np.asarray(self.wing_centre)
        return np.concatenate([body, wing, head, np.array(self.beak), np.array(self.tail)])


def _point(p) -> tuple[float, float]:
    return (float(p[0]), float(p[1]))


def _rotation(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def to_image(bird: Bird, points) -> np.ndarray:
    """Bird-frame points [N, 2] -> image points [N, 2] (image units, y down)."""
    points = np.atleast_2d(np.asarray(points, np.float64))
    flipped = np.stack([bird.facing * points[:, 0], -points[:, 1]], axis=1)
    return np.array([bird.centre_x, bird.centre_y]) + bird.scale * flipped @ _rotation(bird.rotation).T


def _to_bird_frame(bird: Bird, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image coordinates -> bird-frame coordinates (the inverse of `to_image`)."""
    dx, dy = geometry.rotate((x - bird.centre_x) / bird.scale, (y - bird.centre_y) / bird.scale, bird.rotation)
    return bird.facing * dx, -dy


def sample_scene(seed: int, split: str, index: int) -> Scene:
    """The scene at `(seed, split, index)`: deterministic, independent of every other index.

    Train and test draw from different streams (the split is part of the hashed key) and use
    disjoint texture-seed ranges, so no test scene shares a pose or a background with a train
    scene.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if index < 0:
        raise ValueError(f"index must be >= 0, got {index}")
    rng = generator(int(seed), split, int(index))
    species = int(rng.integers(len(SPECIES)))
    base = SPECIES[species]
    colours = tuple(
        (part, COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))] if rng.random() < MUTATION_RATE else colour)
        for part, colour in zip(COLOURABLE_PARTS, base.colours)
    )
    bird = Bird(
        colours=colours,
        species=species,
        centre_x=0.0,
        centre_y=0.0,
        scale=1.0,
        facing=int(rng.choice([-1, 1])),
        rotation=float(rng.uniform(-0.12, 0.12)),
        body_tilt=float(rng.uniform(0.3, 0.6)),
        body_length=float(rng.uniform(0.92, 1.08)),
        bulk=float(base.bulk * rng.uniform(0.93, 1.07)),
        head_size=float(rng.uniform(0.93, 1.07)),
        tail_length=float(base.tail * rng.uniform(0.85, 1.15)),
        tail_droop=float(rng.uniform(0.0, 0.35)),
        beak_length=float(base.beak * rng.uniform(0.85, 1.15)),
        beak_angle=float(rng.uniform(-0.25, 0.05)),
        wing_length=float(rng.uniform(0.85, 1.1)),
    )
    # Size the bird by the share of the frame width it fills, then place its bounding box.
    extent = to_image(bird, _Anatomy(bird).extreme_points())
    low, high = extent.min(axis=0), extent.max(axis=0)
    # A floor on the scale keeps the beak and eye legible at 64 px (long-tailed birds are wide).
    scale = max(float(rng.uniform(0.42, 0.64)) / (high[0] - low[0]), _MIN_SCALE)
    scale = min(scale, 0.66 / (high[0] - low[0]), 0.62 / (high[1] - low[1]))
    low, high = low * scale, high * scale
    target = np.array([0.5 + rng.uniform(-0.08, 0.08), 0.45 + rng.uniform(-0.06, 0.06)])
    centre = target - 0.5 * (low + high)
    margin = 0.04
    centre = np.clip(centre, margin - low, 1.0 - margin - high)
    bird = dataclasses.replace(bird, scale=float(scale), centre_x=float(centre[0]), centre_y=float(centre[1]))
    texture_seed = int(rng.integers(_TEXTURE_SEED_RANGE)) + SPLITS.index(split) * _TEXTURE_SEED_RANGE
    background = sample_background(rng, texture_seed)
    return Scene(bird=bird, background=background, split=split, index=int(index), seed=int(seed))


@dataclasses.dataclass
class Rendering:
    """A rendered scene.

    Attributes:
        image: uint8 [S, S, 3].
        parts: uint8 [S, S] label map: PARTS[i] is i + 1, 0 where the bird covers < 50 %.
        coverage: float32 [S, S, len(PARTS)] visible coverage of each part, in [0, 1].
        bird_mask: bool [S, S]; any part coverage > 0.01, dilated by one pixel. Pixels outside
            the bird are `~bird_mask`.
    """

    image: np.ndarray
    parts: np.ndarray
    coverage: np.ndarray
    bird_mask: np.ndarray

    def part_mask(self, part: str) -> np.ndarray:
        """bool [S, S]: the core pixels of `part` (coverage >= 0.6), used by attribute accuracy."""
        if part not in PARTS:
            raise ValueError(f"Unknown part {part!r}; expected one of {PARTS}")
        return self.coverage[..., PARTS.index(part)] >= CORE_COVERAGE

    def bounding_box(self) -> tuple[float, float, float, float]:
        """(x, y, width, height) in pixels of the bird (any part coverage > 0.01), CUB style."""
        rows = np.flatnonzero((self.coverage > MASK_COVERAGE).any(axis=(1, 2)))
        cols = np.flatnonzero((self.coverage > MASK_COVERAGE).any(axis=(0, 2)))
        if not len(rows):
            return (0.0, 0.0, 0.0, 0.0)
        return (float(cols[0]), float(rows[0]), float(cols[-1] - cols[0] + 1), float(rows[-1] - rows[0] + 1))


def dilate(mask: np.ndarray) -> np.ndarray:
    """3x3 binary dilation (one pixel, diagonals included)."""
    padded = np.pad(mask, 1)
    rows = padded[:-2] | padded[1:-1] | padded[2:]
    return rows[:, :-2] | rows[:, 1:-1] | rows[:, 2:]


def _window(bird: Bird, body: "_Anatomy", size: int, margin_px: float) -> tuple[slice, slice]:
    """Rows and columns of the pixels the bird (legs included) can touch: only they are drawn."""
    points = np.concatenate([body.extreme_points(), np.array([p for leg in body.legs for p in leg])])
    extent = to_image(bird, points) * size
    low = np.floor(extent.min(axis=0) - margin_px).astype(int).clip(0, size)
    high = np.ceil(extent.max(axis=0) + margin_px).astype(int).clip(0, size)
    return slice(low[1], high[1]), slice(low[0], high[0])


def render(scene: Scene, size: int) -> Rendering:
    """Renders `scene` at `size` x `size` pixels (any size; 64, 128 and 256 are tested)."""
    if size < 8:
        raise ValueError(f"size must be >= 8 pixels, got {size}")
    bird = scene.bird
    body = _Anatomy(bird)
    px = bird.scale * size  # pixels per bird unit
    line = max(0.8, size / 150.0)  # outline width in pixels: thin at every size
    image = render_background(scene.background, size)
    if scene.background.perch:
        image = draw_perch(image, scene.background, tuple(to_image(bird, body.feet)[0]), bird.scale, size)

    # Everything below happens in the window around the bird (a fraction of the image).
    rows, cols = _window(bird, body, size, margin_px=line + 3.0)
    x_img, y_img = pixel_grid(size)
    x, y = _to_bird_frame(bird, x_img[rows, cols], y_img[rows, cols])
    canvas = image[rows, cols]  # a view: painting it paints the image

    def paint(alpha, colour):
        canvas[...] += (colour - canvas) * alpha[..., None]

    if scene.background.perch:
        leg_radius = max(0.022 * px, 0.55)
        leg = None
        for top, foot, toe in body.legs:
            for start, end in ((top, foot), (foot, toe)):
                distance = geometry.segment(x, y, start, end, 0.0)[0]
                leg = distance if leg is None else np.minimum(leg, distance)
        paint(geometry.coverage(leg * px - leg_radius), _rgb(_LEGS))

    tail = geometry.convex_polygon(x, y, body.tail) * px
    belly = geometry.ellipse(x, y, 0.0, 0.0, body.a, body.a, body.b, body.tilt) * px
    wing = geometry.ellipse(x, y, *body.wing_centre, *body.wing_axes, body.wing_angle) * px
    head = geometry.disc(x, y, *body.head, body.head_radius) * px
    hx, hy = body.head
    crown_cut = (body.crown_offset - ((x - hx) * body.crown_normal[0] + (y - hy) * body.crown_normal[1])) * px
    crown = np.maximum(head, crown_cut)
    beak = geometry.convex_polygon(x, y, body.beak) * px
    ex, ey = body.eye
    eye = geometry.disc(x, y, ex, ey, body.eye_radius) * px
    pupil = geometry.disc(x, y, ex, ey, 0.62 * body.eye_radius) * px
    glint = geometry.disc(x, y, ex + 0.25 * body.eye_radius, ey + 0.25 * body.eye_radius, 0.18 * body.eye_radius) * px

    # A dark rim just outside the silhouette: the outline, identical whatever the colours.
    silhouette = np.minimum(np.minimum(np.minimum(tail, belly), np.minimum(wing, head)), beak)
    paint(0.85 * geometry.coverage(silhouette - line), _rgb(_OUTLINE))

    # Light from above: up to +-8 % from the top to the bottom of the bird.
    light = 1.0 + 0.08 * np.clip((y - 0.1) / 0.45, -1.0, 1.0)
    wing_u, wing_v = geometry.rotate(x - body.wing_centre[0], y - body.wing_centre[1], body.wing_angle)
    # Feather lines along the wing, fading in from the shoulder toward the tip.
    lines = geometry.smoothstep(0.55, 1.0, np.cos(wing_v * (2 * math.pi / (0.42 * body.wing_axes[2]))))
    feathers = 1.0 - 0.1 * lines * geometry.smoothstep(0.0, -0.4 * body.a, wing_u)
    tail_lines = 1.0 - 0.08 * geometry.smoothstep(0.6, 1.0, np.cos(_tail_across(x, y, body) * (3.0 * math.pi)))
    beak_shade = 1.0 + 0.05 * np.clip((y - hy) / (0.3 * body.head_radius), -1.0, 1.0)
    layers = (  # (part, signed distance in px, shading, darkening of the rim inside the edge), back to front
        ("tail", tail, light * tail_lines, 0.22),
        ("belly", belly, light, 0.22),
        ("wings", wing, light * feathers, 0.22),
        ("head", head, light, 0.22),
        ("crown", crown, light, 0.18),
        ("beak", beak, beak_shade, 0.08),
    )
    alphas, owners = [], []
    for part, sdf, shade, rim in layers:
        edge = np.clip(1.0 + sdf / line, 0.0, 1.0)  # 1 on the boundary, 0 one line width inside
        alpha = geometry.coverage(sdf)
        paint(alpha, _rgb(PALETTE[bird.colour(part)]) * (shade * (1.0 - rim * edge))[..., None])
        alphas.append(alpha)
        owners.append(PARTS.index(part))
    for sdf, colour, opacity in ((eye, _EYE_RING, 1.0), (pupil, _PUPIL, 1.0), (glint, (250, 250, 250), 0.8)):
        alpha = opacity * geometry.coverage(sdf)
        paint(alpha, _rgb(colour))
        alphas.append(alpha)
        owners.append(PARTS.index("eye"))

    # Visible coverage of a layer: its alpha times the transparency of every layer in front.
    visible, _ = geometry.visible_weights(np.stack(alphas))
    coverage = np.zeros((size, size, len(PARTS)), np.float32)
    owner_matrix = np.eye(len(PARTS), dtype=np.float32)[owners]  # [layers, parts]
    coverage[rows, cols] = np.clip(np.tensordot(visible, owner_matrix, axes=(0, 0)), 0.0, 1.0)

    grain = generator("grain", scene.background.texture_seed, size).standard_normal((size, size, 1), dtype=np.float32)
    image = np.clip(np.round(image + _GRAIN * grain), 0, 255).astype(np.uint8)
    total = coverage.sum(axis=-1)
    parts = np.where(total >= LABEL_COVERAGE, np.argmax(coverage, axis=-1) + 1, 0).astype(np.uint8)
    bird_mask = dilate((coverage > MASK_COVERAGE).any(axis=-1))
    return Rendering(image=image, parts=parts, coverage=coverage, bird_mask=bird_mask)


def _rgb(colour) -> np.ndarray:
    return np.asarray(colour, np.float32)


def _tail_across(x: np.ndarray, y: np.ndarray, body: "_Anatomy") -> np.ndarray:
    """Offset across the tail in units of its root half-width (for the feather lines)."""
    (ax, ay), (dx, dy) = body.tail[0], body.tail[3]
    root_x, root_y = 0.5 * (ax + dx), 0.5 * (ay + dy)
    across_x, across_y = ax - root_x, ay - root_y
    width2 = across_x * across_x + across_y * across_y
    return ((x - root_x) * across_x + (y - root_y) * across_y) / width2
