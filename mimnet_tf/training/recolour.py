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
(shading is kept). No part masks, palettes or rendering parameters are used.
"""
from __future__ import annotations

import tensorflow as tf

# Per region: seed row, seed column, new colour (3), keep-region draw.
DRAWS_PER_REGION = 6


def recolour_regions(images, draws, threshold: float = 0.25, centre: float = 0.6, softness: float = 0.05,
                     colours: str = "random"):
    """Repaints colour regions of `images` ([-1, 1], (batch, S, S, 3)).

    Args:
        draws: (batch, regions, DRAWS_PER_REGION) uniform [0, 1) numbers (from a stateless
            generator, so every replica repaints its rows exactly as one device would).
            Region r of an example is applied when its last draw is below 1 / (r + 1), so the
            first region always is, the second half of the time, and so on.
        threshold: colour distance (Euclidean, [-1, 1] units) of a pixel to the seed colour
            below which it is repainted.
        centre: seeds are drawn in the central `centre` fraction of each side.
        softness: width of the linear edge of the region, in the same units.
        colours: where the new colour comes from. "random": uniform in the RGB cube (draws 2-4).
            "batch": the colour of a pixel of the next example in the batch, drawn in its
            central region like a seed (draws 2-3): a colour birds really have, so a repainted
            region cannot be told from an untouched one by its colour alone.

    Returns:
        (recoloured images, the repainted weight of each pixel (batch, S, S) in [0, 1]).
    """
    images = tf.convert_to_tensor(images, tf.float32)
    draws = tf.convert_to_tensor(draws, tf.float32)
    size = tf.shape(images)[1]
    size_f = tf.cast(size, tf.float32)
    margin = (1.0 - centre) / 2.0
    batch_index = tf.range(tf.shape(images)[0])
    out = images
    repainted = tf.zeros(tf.shape(images)[:3])
    for region in range(draws.shape[1]):
        d = draws[:, region]
        rows = tf.cast(tf.floor((margin + centre * d[:, 0]) * size_f), tf.int32)
        cols = tf.cast(tf.floor((margin + centre * d[:, 1]) * size_f), tf.int32)
        seed_colour = tf.gather_nd(images, tf.stack([batch_index, rows, cols], axis=1))  # (batch, 3)
        if colours == "batch":
            donor_rows = tf.cast(tf.floor((margin + centre * d[:, 2]) * size_f), tf.int32)
            donor_cols = tf.cast(tf.floor((margin + centre * d[:, 3]) * size_f), tf.int32)
            donors = tf.roll(images, shift=-1, axis=0)
            new_colour = tf.gather_nd(donors, tf.stack([batch_index, donor_rows, donor_cols], axis=1))
        elif colours == "random":
            new_colour = d[:, 2:5] * 2.0 - 1.0
        else:
            raise ValueError(f"colours={colours!r}: expected 'random' or 'batch'")
        applied = tf.cast(d[:, 5] < 1.0 / (region + 1), tf.float32)
        distance = tf.norm(images - seed_colour[:, None, None, :], axis=-1)
        weight = tf.clip_by_value((threshold - distance) / softness + 0.5, 0.0, 1.0) * applied[:, None, None]
        shifted = tf.clip_by_value(out + (new_colour - seed_colour)[:, None, None, :], -1.0, 1.0)
        out = out + weight[..., None] * (shifted - out)
        repainted = tf.maximum(repainted, weight)
    return out, repainted
