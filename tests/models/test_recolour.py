"""Colour swap: mask-free repainting of colour regions for the reconstruction phase."""
import numpy as np
import pytest
import tensorflow as tf

from mimnet_tf.models.recolour import DRAWS_PER_REGION, draws_per_region, recolour_regions


def _two_colour_image(size=16):
    """Left half red, right half blue, in [-1, 1]."""
    image = np.zeros((1, size, size, 3), np.float32)
    image[0, :, : size // 2] = [0.8, -0.8, -0.8]
    image[0, :, size // 2:] = [-0.8, -0.8, 0.8]
    return image


def _draws(row, col, colour, applied=0.0):
    d = np.zeros((1, 1, DRAWS_PER_REGION), np.float32)
    d[0, 0] = [row, col, *colour, applied]
    return d


def test_repaints_the_seed_colour_and_nothing_else():
    image = _two_colour_image()
    # centre=1 so the draws are plain image coordinates; the seed (row 0.5, col 0.1) is red.
    out, fraction = recolour_regions(image, _draws(0.5, 0.1, (0.5, 1.0, 0.5)), centre=1.0)
    out = out.numpy()
    np.testing.assert_allclose(out[0, :, :8], np.broadcast_to([0.0, 1.0, 0.0], (16, 8, 3)), atol=1e-3)
    np.testing.assert_allclose(out[0, :, 8:], image[0, :, 8:], atol=1e-6)  # blue half untouched
    assert abs(float(tf.reduce_mean(fraction[0])) - 0.5) < 1e-3


def test_shading_is_kept_and_values_stay_in_range():
    image = _two_colour_image()
    image[0, :4, :8] += 0.1  # a lighter band of the red region (within the threshold)
    out, _ = recolour_regions(image, _draws(0.5, 0.1, (0.5, 0.2, 0.9)), centre=1.0)
    out = out.numpy()
    assert out.min() >= -1.0 and out.max() <= 1.0
    np.testing.assert_allclose(out[0, :4, :8] - out[0, 12:, :8], 0.1, atol=1e-3)


def test_a_later_region_applies_only_below_its_probability():
    image = _two_colour_image()
    # The first region (seeded on red) always applies; the second (seeded on blue) only when its
    # draw is below 1/2, and 0.9 is not.
    draws = np.concatenate([_draws(0.5, 0.1, (1, 1, 1), applied=0.99), _draws(0.5, 0.9, (1, 1, 1), applied=0.9)],
                           axis=1)
    out, fraction = recolour_regions(image, draws, centre=1.0)
    np.testing.assert_allclose(out.numpy()[0, :, 8:], image[0, :, 8:], atol=1e-6)
    assert not np.allclose(out.numpy()[0, :, :8], image[0, :, :8])
    assert abs(float(tf.reduce_mean(fraction[0])) - 0.5) < 1e-3


def test_deterministic_for_the_same_draws():
    image = tf.random.stateless_uniform((4, 32, 32, 3), (1, 2), -1, 1)
    draws = tf.random.stateless_uniform((4, 2, DRAWS_PER_REGION), (3, 4))
    a, _ = recolour_regions(image, draws)
    b, _ = recolour_regions(image, draws)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.allclose(a.numpy(), image.numpy())


def test_batch_colours_come_from_the_next_example():
    """colours="batch": a region takes the seed colour of the same region of the next example
    (the last example's comes from the first), shading kept."""
    red, green, blue = [0.8, -0.8, -0.8], [-0.8, 0.8, -0.8], [-0.8, -0.8, 0.8]
    images = np.zeros((2, 16, 16, 3), np.float32)
    images[0] = red
    images[1, :, :8] = green
    images[1, :, 8:] = blue
    draws = np.zeros((2, 1, DRAWS_PER_REGION), np.float32)
    draws[0, 0] = [0.5, 0.5, 0.0, 0.0, 0.0, 0.0]  # image 0's red region takes image 1's seed colour
    draws[1, 0] = [0.5, 0.1, 0.0, 0.0, 0.0, 0.0]  # image 1's seed: green (left half); gets red
    out, repainted = recolour_regions(images, draws, centre=1.0, colours="batch")
    out = out.numpy()
    np.testing.assert_allclose(out[0], np.broadcast_to(green, (16, 16, 3)), atol=1e-5)
    np.testing.assert_allclose(out[1, :, :8], np.broadcast_to(red, (16, 8, 3)), atol=1e-5)
    np.testing.assert_allclose(out[1, :, 8:], images[1, :, 8:], atol=1e-6)
    assert abs(float(tf.reduce_mean(repainted[1])) - 0.5) < 1e-3


def test_candidates_repaint_the_smallest_region_and_max_area_skips_large_ones():
    """Of several candidate seeds the smallest region above min_area after a 3x3 erosion is
    repainted (an object part rather than the background or a lone pixel); a region above
    max_area is not repainted at all."""
    image = np.zeros((1, 16, 16, 3), np.float32)
    image[0] = [-0.8, -0.8, 0.8]  # blue background
    image[0, 6:10, 6:10] = [0.8, -0.8, -0.8]  # a red 4x4 part: 1/16 of the image
    image[0, 0, 0] = [0.8, 0.8, 0.8]  # one white pixel: below min_area
    draws = np.zeros((1, 1, draws_per_region(3)), np.float32)
    # candidates: background (row 0.1, col 0.1), white pixel (0, 0), red part (0.5, 0.5)
    draws[0, 0] = [0.1, 0.1, 0.5, 1.0, 0.5, 0.0, 0.0, 0.0, 0.5, 0.5]
    out, repainted = recolour_regions(image, draws, centre=1.0, candidates=3, min_area=0.01)
    out, repainted = out.numpy(), repainted.numpy()
    assert abs(repainted.mean() - 1 / 16) < 1e-3 and repainted[0, 6:10, 6:10].min() == 1.0
    np.testing.assert_allclose(out[0, 6:10, 6:10], np.broadcast_to([0.0, 1.0, 0.0], (4, 4, 3)), atol=1e-3)
    # The part's eroded area is 2x2 of 16x16 pixels (1/64): above this max_area.
    skipped, none = recolour_regions(image, draws, centre=1.0, candidates=3, min_area=0.005, max_area=0.01)
    np.testing.assert_array_equal(skipped.numpy(), image)
    assert float(tf.reduce_max(none)) == 0.0
    with np.testing.assert_raises_regex(ValueError, "expected 10 for 3 candidate seeds"):
        recolour_regions(image, draws[..., :6], candidates=3)


def test_unknown_colour_source_is_named():
    with np.testing.assert_raises_regex(ValueError, "colours='palette'"):
        recolour_regions(_two_colour_image(), _draws(0.5, 0.1, (1, 1, 1)), colours="palette")


def test_a_thin_outline_is_never_the_chosen_region():
    """A one-pixel-wide line of its own colour erodes to nothing: the other candidate is taken."""
    image = np.zeros((1, 16, 16, 3), np.float32)
    image[0] = [-0.8, -0.8, 0.8]
    image[0, 4:12, 4:12] = [0.8, -0.8, -0.8]  # a red 8x8 part
    image[0, 2, :] = [0.8, 0.8, 0.8]  # a white line, 16 pixels: smaller than the part
    draws = np.zeros((1, 1, draws_per_region(2)), np.float32)
    draws[0, 0] = [2.5 / 16, 0.5, 0.5, 1.0, 0.5, 0.0, 0.5, 0.5]  # candidates: the line, the part
    _, repainted = recolour_regions(image, draws, centre=1.0, candidates=2, min_area=0.01)
    repainted = repainted.numpy()
    assert repainted[0, 2].max() == 0.0 and repainted[0, 4:12, 4:12].min() == 1.0


def test_area_reference_scales_small_regions_up_to_the_reference_area():
    """With area_reference, a region of 1/16 of the image weighs (1/4) / (1/16) = 4 per pixel, so
    its weights sum like a region of a quarter of the image; larger regions keep weight 1."""
    image = np.zeros((1, 16, 16, 3), np.float32)
    image[0] = [-0.8, -0.8, 0.8]
    image[0, 6:10, 6:10] = [0.8, -0.8, -0.8]  # a red 4x4 part: 1/16 of the image
    draws = np.zeros((1, 1, draws_per_region(1)), np.float32)
    draws[0, 0] = [0.5, 0.5, 0.5, 1.0, 0.5, 0.0]
    plain_out, plain = recolour_regions(image, draws, centre=1.0)
    out, weighted = recolour_regions(image, draws, centre=1.0, area_reference=0.25)
    np.testing.assert_array_equal(out.numpy(), plain_out.numpy())  # the image is repainted the same
    np.testing.assert_allclose(weighted.numpy(), 4.0 * plain.numpy(), rtol=1e-5)
    _, large = recolour_regions(image, draws, centre=1.0, area_reference=0.01)
    np.testing.assert_allclose(large.numpy(), plain.numpy())


def _red_square_with_mixed_edge():
    """A red 6x6 square on blue whose right edge column is an anti-aliased 50/50 mix, in [-1, 1]."""
    red, blue = np.array([0.8, -0.8, -0.8], np.float32), np.array([-0.8, -0.8, 0.8], np.float32)
    image = np.broadcast_to(blue, (1, 16, 16, 3)).copy()
    image[0, 5:11, 5:11] = red
    image[0, 5:11, 11] = 0.5 * red + 0.5 * blue
    return image, red, blue


def test_unmix_edges_repaints_an_anti_aliased_edge_by_its_share_of_the_colour():
    image, red, blue = _red_square_with_mixed_edge()
    green = np.array([-0.8, 0.8, -0.8], np.float32)
    draws = _draws(8 / 16, 8 / 16, (green + 1) / 2)
    plain, _ = recolour_regions(image, draws, centre=1.0)
    unmixed, weight = recolour_regions(image, draws, centre=1.0, unmix_edges=True)
    plain, unmixed, weight = plain.numpy()[0], unmixed.numpy()[0], weight.numpy()[0]
    np.testing.assert_allclose(plain[5:11, 11], image[0, 5:11, 11], atol=1e-6)  # the old colour's ring stays
    np.testing.assert_allclose(unmixed[5:11, 11], np.broadcast_to(0.5 * green + 0.5 * blue, (6, 3)), atol=1e-5)
    np.testing.assert_allclose(weight[5:11, 11], 0.5, atol=1e-5)
    np.testing.assert_allclose(unmixed[5:11, 5:11], np.broadcast_to(green, (6, 6, 3)), atol=1e-5)
    outside = np.ones((16, 16), bool)
    outside[5:11, 5:12] = False
    np.testing.assert_array_equal(unmixed[outside], image[0][outside])  # pure blue pixels are untouched


def test_multiplicative_shading_keeps_a_darker_rim_in_the_region_and_darker():
    """A part drawn as colour x light: its rim at 0.8x brightness joins the region (an additive
    distance leaves it out) and becomes 0.8x the new colour (up to the ratio's offset)."""
    def to_unit(c):
        return np.asarray(c, np.float32) / 255.0 * 2.0 - 1.0

    image = np.broadcast_to(to_unit([30, 40, 200]), (1, 16, 16, 3)).copy()
    image[0, 5:11, 5:11] = to_unit([200, 150, 40])
    image[0, 5:11, 5] = to_unit([160, 120, 32])  # the rim: 0.8x the part's colour
    new = np.array([40, 200, 120], np.float32) / 255.0
    draws = _draws(8 / 16, 8 / 16, new)
    additive, _ = recolour_regions(image, draws, centre=1.0)
    assert np.abs(additive.numpy()[0, 5:11, 5] - image[0, 5:11, 5]).max() < 1e-6
    out, weight = recolour_regions(image, draws, centre=1.0, shading="multiplicative")
    out, weight = (out.numpy()[0] + 1.0) / 2.0, weight.numpy()[0]
    np.testing.assert_allclose(out[8, 8], new, atol=1e-5)  # the seed colour becomes the new one
    assert weight[5:11, 5].min() == 1.0
    rim = out[8, 5]
    assert np.all(rim < out[8, 8]) and np.abs(rim / out[8, 8] - 0.8).max() < 0.1
    np.testing.assert_array_equal(out[0, 0], (image[0, 0, 0] + 1.0) / 2.0)  # the background is untouched
    with np.testing.assert_raises_regex(ValueError, "shading='gamma'"):
        recolour_regions(image, draws, shading="gamma")


def _three_colour_image(size=16):
    """Red left third, blue middle third, green right third, in [-1, 1]."""
    image = np.zeros((1, size, size, 3), np.float32)
    image[0, :, :5] = [0.8, -0.8, -0.8]
    image[0, :, 5:11] = [-0.8, -0.8, 0.8]
    image[0, :, 11:] = [-0.8, 0.4, -0.8]
    return image


# palette rows: red, blue, green (what colour_names.vocabulary_colours returns for those words)
_PALETTE = np.array([[0.8, -0.8, -0.8], [-0.8, -0.8, 0.8], [-0.8, 0.4, -0.8]], np.float32)


def _candidates(*columns, colour=(1.0, 1.0, 1.0)):
    """One region whose candidate seeds sit on row 0.5 at `columns` (centre=1 coordinates)."""
    d = np.zeros((1, 1, draws_per_region(len(columns))), np.float32)
    d[0, 0, :DRAWS_PER_REGION] = [0.5, columns[0], *colour, 0.0]
    for k, column in enumerate(columns[1:]):
        d[0, 0, DRAWS_PER_REGION + 2 * k:DRAWS_PER_REGION + 2 * k + 2] = [0.5, column]
    return d


def test_described_repaints_only_a_region_whose_colour_the_caption_names():
    image = _three_colour_image()
    # Seeds on red (smallest region), blue and green; the caption names only blue.
    draws = _candidates(0.1, 0.5, 0.9)
    plain, _ = recolour_regions(image, draws, centre=1.0, candidates=3, min_area=0.0)
    assert not np.allclose(plain.numpy()[0, :, :5], image[0, :, :5])  # without: the smallest, red
    out, weight = recolour_regions(image, draws, centre=1.0, candidates=3, min_area=0.0,
                                   palette=_PALETTE, described=np.array([[0.0, 1.0, 0.0]], np.float32))
    out = out.numpy()
    np.testing.assert_allclose(out[0, :, :5], image[0, :, :5], atol=1e-6)
    np.testing.assert_allclose(out[0, :, 11:], image[0, :, 11:], atol=1e-6)
    assert not np.allclose(out[0, :, 5:11], image[0, :, 5:11])
    assert float(tf.reduce_max(weight[0, :, 5:11])) == 1.0


def test_described_with_no_named_colour_repaints_nothing():
    image = _three_colour_image()
    out, weight = recolour_regions(image, _candidates(0.1, 0.5), centre=1.0, candidates=2, min_area=0.0,
                                   palette=_PALETTE, described=np.array([[0.0, 0.0, 1.0]], np.float32))
    np.testing.assert_array_equal(out.numpy(), image)
    assert float(tf.reduce_max(weight)) == 0.0


@pytest.mark.parametrize("table", ["xkcd"])
def test_a_shaded_synthbirds_part_keeps_its_colour_name(table):
    """The generic colour-name table names every SynthBirds colour, shaded as the renderer shades
    it, by the word its captions use (the table knows nothing of SynthBirds)."""
    from mimnet_tf.data.synthbirds.palette import PALETTE
    from mimnet_tf.models.colour_names import vocabulary_colours
    from mimnet_tf.models.recolour import named_colour

    words = ["<pad>", "the", *PALETTE, "gray"]
    palette, colour_of_word = vocabulary_colours(table, words)
    assert colour_of_word[words.index("gray")] == colour_of_word[words.index("grey")]
    assert colour_of_word[1] == -1 and len(palette) == len(PALETTE)
    for name, rgb in PALETTE.items():
        for shade in (0.75, 1.0, 1.12):  # the renderer's shading range
            colour = np.clip(np.array(rgb) * shade, 0, 255) / 127.5 - 1.0
            index = int(named_colour(tf.constant(colour, tf.float32), palette))
            assert index == colour_of_word[words.index(name)], (name, shade)
