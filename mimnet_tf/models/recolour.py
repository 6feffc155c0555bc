"""Colour-swap self-supervision for the reconstruction phase (not in the paper; a config switch).

The paper's reconstruction (Eq. 14) asks the generator to rebuild an image from itself and its
own caption, which the generator can do by copying the input and ignoring the text. Colour
swap breaks that tie without labels: before the generator sees the image, one or two colour
regions are repainted with random colours, and the target stays the untouched image. To rebuild
it the generator must read the repainted parts' colours from the caption - exactly what an edit
asks of it ("the wings are blue" while the input's wings are red).

The regions come from the image alone, as they would on CUB: a seed pixel is drawn in the
central part of the image (bird datasets are cropped around the bird), and every pixel whose
colour lies within `threshold` of the seed's is repainted by shifting it towards the new colour
(shading is kept). With several candidate seeds the smallest region is taken: parts of an object
are small regions of one colour, backgrounds large or spread out (measured on SynthBirds: one
seed repaints the background in about half of the images, four seeds and a 10 % area cap
mostly a part). The new colour is random, or (`colours="batch"`) another image's seed colour.
No part masks, palettes or rendering parameters are used.
"""
from __future__ import annotations

import tensorflow as tf

from mimnet_tf.config import COLOUR_SWAP_COLOURS, COLOUR_SWAP_SHADINGS
from mimnet_tf.images import to_unit_range, unit_to_model_range

# Per region: seed row, seed column, new colour (3), keep-region draw; then a row and a column
# for each further candidate seed.
DRAWS_PER_REGION = 6


def draws_per_region(candidates: int = 1) -> int:
    """Uniform draws a region needs with `candidates` candidate seeds."""
    return DRAWS_PER_REGION + 2 * (candidates - 1)


def _seed_pixels(images, d_rows, d_cols, centre: float):
    """Seed positions (central fraction `centre` of each side) and their colours, (batch, 3)."""
    size_f = tf.cast(tf.shape(images)[1], tf.float32)
    margin = (1.0 - centre) / 2.0
    rows = tf.cast(tf.floor((margin + centre * d_rows) * size_f), tf.int32)
    cols = tf.cast(tf.floor((margin + centre * d_cols) * size_f), tf.int32)
    return tf.gather_nd(images, tf.stack([tf.range(tf.shape(images)[0]), rows, cols], axis=1))


# Multiplicative shading: a pixel may be this much darker or brighter than its part's seed colour.
SHADE_TOLERANCE = 0.3
# Offset (in [0, 1] units) that keeps the ratio of dark colours finite in `_scale_colour`.
RATIO_OFFSET = 0.1


def _shaded_distance(images, seeds):
    """(batch, K, S, S) distance of each pixel to k x seed colour, k the brightness scale in
    1 +- SHADE_TOLERANCE that fits it best ([-1, 1] units, as the additive distance)."""
    pixels = to_unit_range(images[:, None])  # (batch, 1, S, S, 3) in [0, 1]
    seeds = to_unit_range(seeds)[:, :, None, None, :]  # (batch, K, 1, 1, 3)
    norm = tf.maximum(tf.reduce_sum(seeds * seeds, -1, keepdims=True), 1e-6)
    scale = tf.reduce_sum(pixels * seeds, -1, keepdims=True) / norm
    scale = tf.clip_by_value(scale, 1.0 - SHADE_TOLERANCE, 1.0 + SHADE_TOLERANCE)
    return 2.0 * tf.norm(pixels - scale * seeds, axis=-1)


def _scale_colour(images, seed_colour, new_colour):
    """Every pixel's colour times new / seed per channel (offset by RATIO_OFFSET): the seed colour
    becomes the new one, and its shaded versions the new one equally shaded."""
    ratio = (to_unit_range(new_colour) + RATIO_OFFSET) / (to_unit_range(seed_colour) + RATIO_OFFSET)
    scaled = (to_unit_range(images) + RATIO_OFFSET) * ratio[:, None, None, :] - RATIO_OFFSET
    return tf.clip_by_value(unit_to_model_range(scaled), -1.0, 1.0)


def named_colour(colours, palette):
    """Index (...) of the palette row (P, 3) nearest to each colour (..., 3), all in [-1, 1]: the
    distance of a colour to k x a palette colour, k in 1 +- SHADE_TOLERANCE fitted as in
    `_shaded_distance`, so a shaded part keeps its name."""
    pixels = ((colours + 1.0) / 2.0)[..., None, :]  # (..., 1, 3) in [0, 1]
    named = (tf.convert_to_tensor(palette, tf.float32) + 1.0) / 2.0  # (P, 3)
    norm = tf.maximum(tf.reduce_sum(named * named, -1), 1e-6)
    scale = tf.clip_by_value(tf.reduce_sum(pixels * named, -1) / norm, 1.0 - SHADE_TOLERANCE, 1.0 + SHADE_TOLERANCE)
    distance = tf.norm(pixels - scale[..., None] * named, axis=-1)  # (..., P)
    return tf.argmin(distance, axis=-1, output_type=tf.int32)


def _unmixed_edges(weight, distance):
    """Extends a region (batch, S, S) to the pixels around it that mix its colour with a neighbour's.

    An anti-aliased edge pixel p = a * seed + (1 - a) * other is too far from the seed colour to
    join the region, so a plain repaint leaves a ring of the old colour around the part, which
    tells the generator the old colour without the caption. Here such a pixel (next to the
    region) is repainted by a = 1 - |p - seed| / |other - seed|, `other` taken as the colour
    farthest from the seed in its 5x5 neighbourhood: a linear unmixing, as a re-render would be.
    """
    far = tf.nn.max_pool2d(distance[..., None], 5, 1, "SAME")[..., 0]
    share = tf.clip_by_value(1.0 - distance / tf.maximum(far, 1e-6), 0.0, 1.0)
    near = tf.nn.max_pool2d(weight[..., None], 3, 1, "SAME")[..., 0]
    return tf.maximum(weight, share * near)


def recolour_regions(images, draws, threshold: float = 0.25, centre: float = 0.6, softness: float = 0.05,
                     colours: str = "random", candidates: int = 1, min_area: float = 0.002, max_area: float = 1.0,
                     area_reference: float = 0.0, unmix_edges: bool = False, shading: str = "additive",
                     palette=None, described=None):
    """Repaints colour regions of `images` ([-1, 1], (batch, S, S, 3)).

    Args:
        draws: (batch, regions, draws_per_region(candidates)) uniform [0, 1) numbers (from a
            stateless generator, so every replica repaints its rows exactly as one device would).
            Region r of an example is applied when draw 5 is below 1 / (r + 1), so the first
            region always is, the second half of the time, and so on.
        threshold: colour distance (Euclidean, [-1, 1] units) of a pixel to the seed colour
            below which it is repainted.
        centre: seeds are drawn in the central `centre` fraction of each side.
        softness: width of the linear edge of the region, in the same units.
        colours: where the new colour comes from. "random": uniform in the RGB cube (draws 2-4).
            "batch": the seed colour of the same region of the next example in the batch: a
            colour birds really have, so a repainted region cannot be told from an untouched one
            by its colour alone.
        candidates: seeds tried per region; the region kept is the smallest one covering at
            least `min_area` of the image after a 3x3 erosion (so not a thin outline). An
            object's parts are small regions of one colour, a background is large or spread over
            the image, so this prefers parts without knowing where they are.
        min_area, max_area: fractions of the image (eroded region); a region larger than
            `max_area` is not repainted.
        area_reference: when > 0, a region smaller than this fraction of the image has its
            returned weight scaled by `area_reference / area` (area: the region's own, at least
            `min_area`), so that every repainted region counts in a loss like one of this area,
            and a beak weighs as much as a wing.
        shading: how a region's shading is kept. "additive": every pixel is shifted by
            new - seed, and a pixel joins the region by its distance to the seed colour.
            "multiplicative": pixels are taken as albedo x light, as a renderer or a camera makes
            them; a pixel joins by its distance to the seed colour scaled by up to
            +-`SHADE_TOLERANCE` (so shaded and rim-darkened pixels of a part join it) and is
            repainted by the ratio of new to seed colour (`_scale_colour`).
        unmix_edges: repaint the anti-aliased pixels around a region by the share of its colour
            they hold (see `_unmixed_edges`), so no ring of the old colour is left.
        palette, described: only repaint regions whose colour the caption names. palette (P, 3)
            in [-1, 1] are the colours the vocabulary's words name (`colour_names.py`) and
            described (batch, P) is 1 where an example's caption names that colour; a candidate
            seed counts only when its nearest palette colour (`named_colour`) is described, and a
            region with no such candidate is not repainted.

    Returns:
        (recoloured images, the repainted weight of each pixel (batch, S, S): in [0, 1], or up to
        `area_reference / min_area` with `area_reference`).
    """
    if shading not in COLOUR_SWAP_SHADINGS:
        raise ValueError(f"shading={shading!r}: expected one of {COLOUR_SWAP_SHADINGS}")
    if colours not in COLOUR_SWAP_COLOURS:
        raise ValueError(f"colours={colours!r}: expected one of {COLOUR_SWAP_COLOURS}")
    images = tf.convert_to_tensor(images, tf.float32)
    draws = tf.convert_to_tensor(draws, tf.float32)
    if draws.shape[-1] != draws_per_region(candidates):
        raise ValueError(f"draws: {draws.shape[-1]} per region, expected {draws_per_region(candidates)} "
                         f"for {candidates} candidate seeds")
    out = images
    repainted = tf.zeros(tf.shape(images)[:3])
    for region in range(draws.shape[1]):
        d = draws[:, region]
        seed_draws = [(d[:, 0], d[:, 1])] + [(d[:, DRAWS_PER_REGION + 2 * k], d[:, DRAWS_PER_REGION + 2 * k + 1])
                                             for k in range(candidates - 1)]
        seeds = tf.stack([_seed_pixels(images, r, c, centre) for r, c in seed_draws], axis=1)  # (batch, K, 3)
        if shading == "multiplicative":
            distance = _shaded_distance(images, seeds)
        else:
            distance = tf.norm(images[:, None] - seeds[:, :, None, None, :], axis=-1)  # (batch, K, S, S)
        weights = tf.clip_by_value((threshold - distance) / softness + 0.5, 0.0, 1.0)
        # Size of a region = its area after a 3x3 erosion: thin structures (outlines, edges of
        # one colour running through the image) erode away and are never the part chosen.
        flat = tf.reshape(weights, tf.concat([[-1], tf.shape(weights)[2:4], [1]], axis=0))
        eroded = -tf.nn.max_pool2d(-flat, 3, 1, "SAME")
        areas = tf.reshape(tf.reduce_mean(eroded, axis=[1, 2, 3]), tf.shape(weights)[:2])  # (batch, K)
        eligible = areas >= min_area
        if described is not None:
            names = named_colour(seeds, palette)  # (batch, K)
            eligible &= tf.gather(tf.convert_to_tensor(described, tf.float32), names, batch_dims=1) > 0
        chosen = tf.argmin(tf.where(eligible, areas, areas + 2.0), axis=1, output_type=tf.int32)
        seed_colour = tf.gather(seeds, chosen, batch_dims=1)
        weight = tf.gather(weights, chosen, batch_dims=1)
        area = tf.gather(areas, chosen, batch_dims=1)
        if unmix_edges:
            weight = _unmixed_edges(weight, tf.gather(distance, chosen, batch_dims=1))
        if colours == "batch":
            new_colour = tf.roll(seed_colour, shift=-1, axis=0)
        else:
            new_colour = unit_to_model_range(d[:, 2:5])
        applied = tf.cast(d[:, 5] < 1.0 / (region + 1), tf.float32) * tf.cast(area <= max_area, tf.float32)
        if described is not None:
            applied *= tf.cast(tf.reduce_any(eligible, axis=1), tf.float32)
        weight = weight * applied[:, None, None]
        if shading == "multiplicative":
            scaled = _scale_colour(out, seed_colour, new_colour)
            out = out + weight[..., None] * (scaled - out)
        else:  # shifted by the region's share of each pixel (an edge pixel mixing two colours by half)
            out = tf.clip_by_value(out + weight[..., None] * (new_colour - seed_colour)[:, None, None, :], -1.0, 1.0)
        if area_reference > 0:
            own_area = tf.maximum(tf.reduce_mean(weight, axis=[1, 2]), min_area)
            weight = weight * tf.maximum(1.0, area_reference / own_area)[:, None, None]
        repainted = tf.maximum(repainted, weight)
    return out, repainted
