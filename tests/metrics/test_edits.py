"""Per-case scores of SynthBirds edits and their summary (mimnet_tf/metrics/edits.py)."""
import math

import numpy as np
import pytest

from mimnet_tf.data.synthbirds.edit_cases import edit_cases
from mimnet_tf.data.synthbirds.palette import PALETTE
from mimnet_tf.data.synthbirds.render import render
from mimnet_tf.metrics.edits import score_edit, summarise

SIZE = 64


@pytest.fixture(scope="module")
def case_renders():
    return [(case, render(case.source, SIZE), render(case.target, SIZE)) for case in edit_cases(0, 6)]


def test_the_ground_truth_hits_every_named_part_and_has_zero_error(case_renders):
    for case, source, target in case_renders:
        score = score_edit(case, target.image, source, target)
        assert set(score["changed"]) == set(case.changed) and all(score["changed"].values())
        assert set(score["kept"]) == set(case.kept) and all(score["kept"].values())
        assert all(score["unnamed"].values())
        assert score["gt_l1"] == 0.0
        assert score["background_l1"] == 0.0  # recolouring a part never touches the background
        expected_diff = np.abs(target.image / 255.0 - source.image / 255.0).mean()
        assert score["diff"] == pytest.approx(expected_diff, abs=1e-6)
        assert score["diff"] > 0  # every case changes at least one part


def test_the_unedited_source_misses_every_changed_part(case_renders):
    for case, source, target in case_renders:
        score = score_edit(case, source.image, source, target)
        assert not any(score["changed"].values())
        assert all(score["kept"].values())
        assert score["diff"] == 0.0 and score["background_l1"] == 0.0
        assert score["gt_l1"] == pytest.approx(np.abs(target.image / 255.0 - source.image / 255.0).mean(), abs=1e-6)


def test_painting_the_image_breaks_background_preservation(case_renders):
    case, source, target = case_renders[0]
    painted = np.broadcast_to(np.array(PALETTE["purple"], np.uint8), source.image.shape).copy()
    score = score_edit(case, painted, source, target)
    outside = ~source.bird_mask
    expected = np.abs(painted / 255.0 - source.image / 255.0)[outside].mean()
    assert score["background_l1"] == pytest.approx(expected, abs=1e-6)
    assert score["background_l1"] > 0.2


def test_localisation_means_inside_and_outside_the_bird(case_renders):
    case, source, target = case_renders[0]
    # A map that is exactly the bird mask, at full resolution (resizing to the same size is exact).
    mask_map = source.bird_mask.astype(np.float32)
    score = score_edit(case, source.image, source, target, mask_map)
    assert score["map_inside"] == pytest.approx(1.0) and score["map_outside"] == pytest.approx(0.0)
    constant = np.full((8, 8), 0.25, np.float32)  # a coarse map is upsampled first
    score = score_edit(case, source.image, source, target, constant)
    assert score["map_inside"] == pytest.approx(0.25) and score["map_outside"] == pytest.approx(0.25)


def test_score_edit_rejects_an_image_of_another_size(case_renders):
    case, source, target = case_renders[0]
    with pytest.raises(ValueError, match="expected"):
        score_edit(case, source.image[:32], source, target)


def _score(changed, kept, unnamed, background, gt, diff, **extra):
    return {"case_id": "x", "changed": changed, "kept": kept, "unnamed": unnamed, "background_l1": background,
            "gt_l1": gt, "diff": diff, **extra}


def test_summarise_counts_hits_per_part_and_averages_errors():
    scores = [
        _score({"crown": True, "wings": False}, {"tail": True}, {"beak": True, "head": False}, 0.1, 0.2, 0.3,
               map_inside=0.8, map_outside=0.2, sim=0.5),
        _score({"crown": True}, {}, {"beak": True}, 0.3, 0.4, 0.1, map_inside=0.6, map_outside=0.2, sim=0.1),
    ]
    summary = summarise(scores)
    assert summary["cases"] == 2
    assert summary["attribute_accuracy"] == pytest.approx(2 / 3)
    assert summary["attribute_accuracy_per_part"] == {"crown": 1.0, "wings": 0.0}
    assert summary["changed_parts"] == 3 and summary["kept_parts"] == 1
    assert summary["kept_accuracy"] == 1.0
    assert summary["unnamed_preserved"] == pytest.approx(2 / 3)
    assert summary["unnamed_preserved_per_part"] == {"head": 0.0, "beak": 1.0}
    assert summary["background_l1"] == pytest.approx(0.2)
    assert summary["gt_l1"] == pytest.approx(0.3)
    assert summary["diff"] == pytest.approx(0.2)
    assert summary["map_inside"] == pytest.approx(0.7) and summary["map_outside"] == pytest.approx(0.2)
    assert summary["map_ratio"] == pytest.approx(3.5)
    assert summary["sim"] == pytest.approx(0.3)
    assert summary["mp"] == pytest.approx((1 - 0.2) * 0.3)  # MP of the means, as the paper's Table 1


def test_summarise_without_changed_parts_sim_or_maps():
    summary = summarise([_score({}, {"crown": True}, {}, 0.0, 0.0, 0.0)])
    assert math.isnan(summary["attribute_accuracy"])
    assert summary["attribute_accuracy_per_part"] == {}
    assert "sim" not in summary and "mp" not in summary and "map_inside" not in summary
