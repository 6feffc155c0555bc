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


def recolour_regions(images, draws, threshold: float = 0.25, centre: float = 0.6, softness: float = 0.05,
                     colours: str = "random", candidates: int = 1, min_area: float = 0.002, max_area: float = 1.0):
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

    Returns:
        (recoloured images, the repainted weight of each pixel (batch, S, S) in [0, 1]).
    """
    if colours not in ("random", "batch"):
        raise ValueError(f"colours={colours!r}: expected 'random' or 'batch'")
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
        distance = tf.norm(images[:, None] - seeds[:, :, None, None, :], axis=-1)  # (batch, K, S, S)
        weights = tf.clip_by_value((threshold - distance) / softness + 0.5, 0.0, 1.0)
        # Size of a region = its area after a 3x3 erosion: thin structures (outlines, edges of
        # one colour running through the image) erode away and are never the part chosen.
        flat = tf.reshape(weights, tf.concat([[-1], tf.shape(weights)[2:4], [1]], axis=0))
        eroded = -tf.nn.max_pool2d(-flat, 3, 1, "SAME")
        areas = tf.reshape(tf.reduce_mean(eroded, axis=[1, 2, 3]), tf.shape(weights)[:2])  # (batch, K)
        chosen = tf.argmin(tf.where(areas >= min_area, areas, areas + 2.0), axis=1, output_type=tf.int32)
        seed_colour = tf.gather(seeds, chosen, batch_dims=1)
        weight = tf.gather(weights, chosen, batch_dims=1)
        area = tf.gather(areas, chosen, batch_dims=1)
        if colours == "batch":
            new_colour = tf.roll(seed_colour, shift=-1, axis=0)
        else:
            new_colour = d[:, 2:5] * 2.0 - 1.0
        applied = tf.cast(d[:, 5] < 1.0 / (region + 1), tf.float32) * tf.cast(area <= max_area, tf.float32)
        weight = weight * applied[:, None, None]
        shifted = tf.clip_by_value(out + (new_colour - seed_colour)[:, None, None, :], -1.0, 1.0)
        out = out + weight[..., None] * (shifted - out)
        repainted = tf.maximum(repainted, weight)
    return out, repainted
