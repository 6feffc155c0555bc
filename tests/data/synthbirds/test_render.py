import collections
import dataclasses

import numpy as np
import pytest

from mimnet_tf.data.synthbirds import render as render_lib
from mimnet_tf.data.synthbirds.backgrounds import FAMILIES
from mimnet_tf.data.synthbirds.palette import (
    COLOUR_NAMES,
    COLOURABLE_PARTS,
    PALETTE,
    PARTS,
    dominant_colour,
    snap_indices,
)
from mimnet_tf.data.synthbirds.render import Rendering, render, sample_scene, with_colours
from mimnet_tf.data.synthbirds.species import SPECIES, class_name


def _centroid(mask):
    rows, cols = np.nonzero(mask)
    return cols.mean(), rows.mean()  # (x, y), y down


def test_same_key_gives_identical_scene_and_pixels():
    a, b = sample_scene(3, "train", 17), sample_scene(3, "train", 17)
    assert a == b and a.sample_key == "train-3-000017"
    assert a.key.startswith("train-3-000017-") and len(a.key) == len("train-3-000017-") + 6
    ra, rb = render(a, 64), render(b, 64)
    assert np.array_equal(ra.image, rb.image)
    assert np.array_equal(ra.coverage, rb.coverage)
    assert np.array_equal(ra.parts, rb.parts)
    other = render(sample_scene(3, "train", 18), 64)
    assert np.abs(ra.image.astype(int) - other.image.astype(int)).mean() > 10
    assert sample_scene(4, "train", 17) != a


def test_train_and_test_share_no_pose_or_background():
    train = [sample_scene(0, "train", i) for i in range(600)]
    test = [sample_scene(0, "test", i) for i in range(300)]
    train_keys = {s.pose_and_background for s in train}
    assert not any(s.pose_and_background in train_keys for s in test)
    # Stronger: neither the pose alone nor the background alone is ever shared.
    assert not {s.bird.pose for s in train} & {s.bird.pose for s in test}
    assert not {s.background for s in train} & {s.background for s in test}
    # Textures come from disjoint seed ranges.
    assert max(s.background.texture_seed for s in train) < 2**31 <= min(s.background.texture_seed for s in test)
    assert len(train_keys) == len(train)  # and scenes within a split differ too
    assert len({s.key for s in train + test}) == len(train) + len(test)


def test_sample_scene_rejects_bad_arguments():
    with pytest.raises(ValueError, match="split must be one of"):
        sample_scene(0, "val", 0)
    with pytest.raises(ValueError, match="index must be >= 0"):
        sample_scene(0, "train", -1)
    with pytest.raises(ValueError, match="size must be >= 8"):
        render(sample_scene(0, "train", 0), 4)


@pytest.mark.parametrize("size", [64, 128, 256])
def test_render_at_any_size(size):
    scene = sample_scene(0, "test", 5)
    r = render(scene, size)
    assert r.image.shape == (size, size, 3) and r.image.dtype == np.uint8
    assert r.parts.shape == (size, size) and r.parts.dtype == np.uint8
    assert r.coverage.shape == (size, size, len(PARTS)) and r.coverage.dtype == np.float32
    assert r.bird_mask.shape == (size, size) and r.bird_mask.dtype == bool
    assert r.coverage.min() >= 0 and r.coverage.sum(-1).max() <= 1.0 + 1e-5
    total = r.coverage.sum(-1)
    assert np.all(r.parts[total < 0.5] == 0)
    inside = total >= 0.5
    assert np.array_equal(r.parts[inside], np.argmax(r.coverage, -1)[inside] + 1)
    assert set(np.unique(r.parts)) == set(range(len(PARTS) + 1))  # every part is visible
    assert np.all(r.bird_mask[(r.coverage > 0.01).any(-1)]) and np.all(r.parts[~r.bird_mask] == 0)
    for part in COLOURABLE_PARTS:
        assert dominant_colour(r.image, r.part_mask(part)) == scene.bird.colour(part)


def test_part_areas_agree_across_sizes():
    scene = sample_scene(0, "test", 9)
    fractions = {s: render(scene, s).coverage.mean(axis=(0, 1)) for s in (64, 128, 256)}
    np.testing.assert_allclose(fractions[64], fractions[256], rtol=0.08, atol=2e-4)
    np.testing.assert_allclose(fractions[128], fractions[256], rtol=0.04, atol=1e-4)


def test_every_part_snaps_back_to_its_palette_colour(test_renders_64):
    wrong = [
        (scene.key, part)
        for scene, r in test_renders_64
        for part in COLOURABLE_PARTS
        if dominant_colour(r.image, r.part_mask(part)) != scene.bird.colour(part)
    ]
    assert wrong == []  # 100 % on 300 scenes x 6 parts


def test_beak_and_eye_are_visible(test_renders_64):
    beak = [int(r.part_mask("beak").sum()) for _, r in test_renders_64]
    eye = [int(r.part_mask("eye").sum()) for _, r in test_renders_64]
    assert min(beak) >= 8
    assert min(eye) >= 2
    for index in range(5):  # at 128 px the eye shows a dark pupil inside a light ring
        r = render(sample_scene(0, "test", index), 128)
        luminance = r.image.astype(float).mean(-1)[r.coverage[..., PARTS.index("eye")] > 0.9]
        assert luminance.min() < 70 and luminance.max() > 170


def test_anatomy_crown_on_head_belly_below_beak_in_front_tail_behind(test_renders_64):
    for scene, r in test_renders_64:
        label = {p: r.parts == i + 1 for i, p in enumerate(PARTS)}
        crown, head, belly = _centroid(label["crown"]), _centroid(label["head"]), _centroid(label["belly"])
        beak, tail, wings = _centroid(label["beak"]), _centroid(label["tail"]), _centroid(label["wings"])
        facing = scene.bird.facing
        assert crown[1] < head[1] < belly[1], scene.key
        assert (beak[0] - head[0]) * facing > 0, scene.key  # beak on the facing side
        assert (tail[0] - belly[0]) * facing < 0 and tail[1] > head[1], scene.key  # tail behind and low
        body_rows, body_cols = np.nonzero(label["belly"] | label["wings"])
        assert body_cols.min() < wings[0] < body_cols.max() and wings[1] < belly[1], scene.key


def test_bird_fills_a_good_part_of_the_frame(test_renders_64):
    widths = np.array([r.bounding_box()[2] / 64 for _, r in test_renders_64])
    assert widths.min() >= 0.35 and widths.max() <= 0.7
    assert 0.45 <= widths.mean() <= 0.6


def test_backgrounds_vary_and_overlap_the_palette(test_renders_64):
    families = collections.Counter(scene.background.family for scene, _ in test_renders_64)
    assert set(families) == set(FAMILIES)
    perched = np.mean([scene.background.perch for scene, _ in test_renders_64])
    assert 0.75 <= perched <= 0.95
    votes = np.zeros(len(PALETTE))
    for _, r in test_renders_64:
        background = r.image[~r.bird_mask].astype(float)
        assert background.std(axis=0).max() > 6.0  # never a plain colour
        votes += np.bincount(snap_indices(background[::7]), minlength=len(PALETTE))
    share = dict(zip(PALETTE, votes / votes.sum()))
    for colour in ("green", "blue", "brown", "grey", "white", "black"):  # sky, water, grass, bark...
        assert share[colour] > 0.03, share
    for colour in ("orange", "yellow", "pink", "purple"):  # autumn leaves, sunsets, flowers, bokeh
        assert share[colour] > 0.005, share


def test_with_colours_changes_only_the_named_parts():
    scene = sample_scene(0, "test", 2)
    new = "red" if scene.bird.colour("wings") != "red" else "blue"
    recoloured = with_colours(scene, {"wings": new})
    assert recoloured.bird.colour("wings") == new
    assert all(recoloured.bird.colour(p) == scene.bird.colour(p) for p in COLOURABLE_PARTS if p != "wings")
    assert recoloured.bird.pose == scene.bird.pose and recoloured.background == scene.background
    assert recoloured.sample_key == scene.sample_key and recoloured.key != scene.key
    a, b = render(scene, 64), render(recoloured, 64)
    assert np.array_equal(a.coverage, b.coverage)
    changed = (a.image != b.image).any(-1)
    assert changed[a.part_mask("wings")].all()
    assert not changed[a.coverage[..., PARTS.index("wings")] == 0].any()
    with pytest.raises(ValueError, match="Cannot recolour"):
        with_colours(scene, {"eye": "red"})
    with pytest.raises(ValueError, match="Unknown colour"):
        with_colours(scene, {"wings": "teal"})


def test_bird_validates_its_colours():
    bird = sample_scene(0, "train", 0).bird
    assert list(bird.as_dict()) == list(COLOURABLE_PARTS)
    with pytest.raises(ValueError, match="must list"):
        dataclasses.replace(bird, colours=bird.colours[:-1])
    with pytest.raises(ValueError, match="Unknown colourable part"):
        bird.colour("eye")


def test_part_mask_and_bounding_box():
    coverage = np.zeros((6, 6, len(PARTS)), np.float32)
    coverage[1:3, 2:5, PARTS.index("beak")] = 0.7
    coverage[4, 1, PARTS.index("beak")] = 0.5
    r = Rendering(image=np.zeros((6, 6, 3), np.uint8), parts=np.zeros((6, 6), np.uint8), coverage=coverage,
                  bird_mask=render_lib.dilate(coverage.any(-1) > 0))
    assert r.part_mask("beak").sum() == 6
    assert r.bounding_box() == (1.0, 1.0, 4.0, 4.0)
    # One-pixel dilation, diagonals included: rows 0-3 x cols 1-5, plus rows 3-5 x cols 0-2.
    assert r.bird_mask.sum() == 20 + 9 - 2 and r.bird_mask[0:4, 1:6].all() and r.bird_mask[3:6, 0:3].all()
    with pytest.raises(ValueError, match="Unknown part"):
        r.part_mask("leg")


def test_species_vary_and_every_part_takes_every_colour():
    scenes = [sample_scene(1, "train", i) for i in range(1000)]
    species = collections.Counter(s.bird.species for s in scenes)
    assert len(SPECIES) == 20 and set(species) == set(range(20)) and min(species.values()) >= 25
    assert class_name(0) == "001.Scarlet_Tanager" and class_name(19).startswith("020.")
    for part in COLOURABLE_PARTS:
        colours = collections.Counter(s.bird.colour(part) for s in scenes)
        assert min(colours[c] for c in COLOUR_NAMES) >= 15, (part, colours)  # >= 1.5 % each
    # a species still means something: its base colour is the most common one for each part
    cardinal = [s for s in scenes if SPECIES[s.bird.species].name == "Northern_Cardinal"]
    for part in COLOURABLE_PARTS:
        top = collections.Counter(s.bird.colour(part) for s in cardinal).most_common(1)[0][0]
        assert top == dict(zip(COLOURABLE_PARTS, SPECIES[cardinal[0].bird.species].colours))[part]
