import numpy as np
import pytest

from mimnet_tf.data.synthbirds import palette
from mimnet_tf.data.synthbirds.palette import COLOUR_NAMES, PALETTE, dominant_colour, nearest_colour


def test_palette_parts_and_labels():
    assert COLOUR_NAMES == (
        "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "grey"
    )
    assert tuple(PALETTE) == COLOUR_NAMES
    assert palette.PARTS == ("crown", "head", "belly", "wings", "tail", "beak", "eye")
    assert palette.COLOURABLE_PARTS == palette.PARTS[:-1]
    assert [palette.part_label(p) for p in palette.PARTS] == [1, 2, 3, 4, 5, 6, 7]
    with pytest.raises(ValueError, match="Unknown part"):
        palette.part_label("leg")
    with pytest.raises(ValueError, match="Unknown colour"):
        palette.check_colour("teal")


def test_rgb_to_lab_matches_reference_values():
    lab = palette.rgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0], [128, 128, 128]]))
    np.testing.assert_allclose(lab[0], [100.0, 0.0, 0.0], atol=0.1)
    np.testing.assert_allclose(lab[1], [0.0, 0.0, 0.0], atol=0.1)
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.2)  # sRGB red, D65
    np.testing.assert_allclose(lab[3], [53.59, 0.0, 0.0], atol=0.1)


def test_palette_colours_are_far_apart_in_lab():
    lab = palette.rgb_to_lab(np.array(list(PALETTE.values())))
    distances = np.sqrt(((lab[:, None] - lab[None]) ** 2).sum(-1)) + np.eye(len(lab)) * 1e9
    assert distances.min() > 35.0


@pytest.mark.parametrize("factor", [0.75, 0.85, 1.0, 1.1, 1.15])
def test_nearest_colour_keeps_the_name_of_shaded_colours(factor):
    rng = np.random.default_rng(0)
    for name, rgb in PALETTE.items():
        shaded = np.clip(np.array(rgb) * factor + rng.normal(0, 3, 3), 0, 255)
        assert nearest_colour(shaded) == name, (name, factor, shaded)


def test_nearest_colour_of_plain_colours():
    assert nearest_colour((255, 0, 0)) == "red"
    assert nearest_colour((0, 0, 255)) == "blue"
    assert nearest_colour((0, 255, 0)) == "green"
    assert nearest_colour((255, 255, 255)) == "white"
    assert nearest_colour((0, 0, 0)) == "black"
    assert nearest_colour((128, 128, 128)) == "grey"
    assert nearest_colour((100, 60, 30)) == "brown"
    assert nearest_colour((255, 165, 0)) == "orange"
    assert nearest_colour((0, 0, 180)) == "blue"
    assert nearest_colour((148, 0, 211)) == "purple"
    assert nearest_colour((255, 182, 193)) == "pink"
    with pytest.raises(ValueError, match="one RGB triple"):
        nearest_colour((1, 2))


def test_dominant_colour_is_the_majority_vote():
    image = np.zeros((4, 4, 3), np.uint8)
    image[:2] = PALETTE["red"]
    image[2:] = (30, 90, 230)  # a shade of blue
    mask = np.zeros((4, 4), bool)
    mask[0, :3] = True  # 3 red
    mask[2:, :] = True  # 8 blue
    assert dominant_colour(image, mask) == "blue"
    mask[2:, 1:] = False  # 3 red, 2 blue
    assert dominant_colour(image, mask) == "red"
    assert dominant_colour(image, np.zeros((4, 4), bool)) is None
    with pytest.raises(ValueError, match="Expected image"):
        dominant_colour(image, np.zeros((3, 4), bool))
