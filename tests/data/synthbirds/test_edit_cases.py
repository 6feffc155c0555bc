import collections

import numpy as np
import pytest

from mimnet_tf.data.synthbirds.captions import named_parts, template_captions_for
from mimnet_tf.data.synthbirds.edit_cases import edit_cases, identity_cases
from mimnet_tf.data.synthbirds.palette import COLOUR_NAMES, COLOURABLE_PARTS, PARTS, dominant_colour
from mimnet_tf.data.synthbirds.render import render, sample_scene


@pytest.fixture(scope="module")
def cases():
    return edit_cases(seed=0, num=120)


def test_edit_cases_are_deterministic():
    assert edit_cases(0, 15) == edit_cases(0, 15)
    assert edit_cases(0, 15) != edit_cases(1, 15)
    assert edit_cases(0, 30)[:15] == edit_cases(0, 15)  # a case does not depend on how many are drawn


def test_case_structure(cases):
    assert len({c.case_id for c in cases}) == len(cases)
    for case in cases:
        source, target = case.source.bird.as_dict(), case.target.bird.as_dict()
        assert case.source == sample_scene(0, "test", case.source.index)  # the test split only
        assert 1 <= len(case.changed) <= 3 and len(case.kept) <= 2
        assert not set(case.changed) & set(case.kept)
        assert set(case.named_dict) == set(case.changed) | set(case.kept)
        assert all(target[p] != source[p] for p in case.changed)
        assert all(target[p] == source[p] for p in case.kept + case.unnamed)
        assert case.named_dict == {p: target[p] for p in case.named_dict}
        assert named_parts(case.caption, target) == case.named_dict, case.caption
        assert case.target.bird.pose == case.source.bird.pose and case.target.background == case.source.background
        assert case.target.sample_key == case.source.sample_key and case.target.key != case.source.key


def test_case_statistics():
    many = edit_cases(seed=5, num=600)
    changed = collections.Counter(p for c in many for p in c.changed)
    assert changed["wings"] == max(changed.values())
    assert max(changed["beak"], changed["tail"]) < min(changed["crown"], changed["head"], changed["belly"])
    assert {len(c.changed) for c in many} == {1, 2, 3} and {len(c.kept) for c in many} == {0, 1, 2}
    assert {c.target.bird.colour(p) for c in many for p in c.changed} == set(COLOUR_NAMES)


def test_ground_truth_differs_from_source_exactly_inside_changed_parts(cases):
    for case in cases:
        source, target = render(case.source, 64), render(case.target, 64)
        assert np.array_equal(source.coverage, target.coverage)
        differs = (source.image != target.image).any(-1)
        changed_index = [PARTS.index(p) for p in case.changed]
        region = (source.coverage[..., changed_index] > 0).any(-1)
        assert not differs[~region].any(), case.case_id  # unnamed and kept parts, background: unchanged
        assert not differs[~source.bird_mask].any(), case.case_id
        for part in case.changed:
            core = source.part_mask(part)
            assert differs[core].all(), (case.case_id, part)
            assert dominant_colour(target.image, core) == case.named_dict[part]
        for part in case.kept + case.unnamed:
            assert dominant_colour(target.image, source.part_mask(part)) == case.source.bird.colour(part)


def test_cases_cycle_over_the_written_test_images():
    cycled = edit_cases(seed=0, num=7, num_scenes=3)
    assert [c.source.index for c in cycled] == [0, 1, 2, 0, 1, 2, 0]
    with pytest.raises(ValueError, match="num must be >= 0"):
        edit_cases(0, -1)
    with pytest.raises(ValueError, match="num_scenes must be positive"):
        edit_cases(0, 3, num_scenes=0)


def test_identity_cases_use_the_source_own_captions():
    for case in identity_cases(seed=0, num=20):
        assert case.changed == () and case.target == case.source
        assert case.caption in template_captions_for(case.source)
        assert case.named_dict == named_parts(case.caption, case.source.bird.as_dict())
        assert set(case.kept) == set(case.named_dict) and case.named_dict
        assert case.to_json()["source"] == case.source.key
