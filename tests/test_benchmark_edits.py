"""The SynthBirds edit benchmark, itself tested: oracle, no edit, one colour, side-by-side runs."""
import json
import os

import numpy as np
import pytest

from mimnet_tf.apps import benchmark_edits_lib as bench
from mimnet_tf.data.synthbirds import phrasings
from mimnet_tf.data.synthbirds.palette import COLOURABLE_PARTS, PALETTE, dominant_colour
from tests.editing_fixtures import (  # noqa: F401  (fixtures)
    assert_one_line_error,
    run_cli,
    tiny_damsm_dir,
    tiny_editor,
    tiny_model_dir,
    unit_l1,
)

SIZE = 64
NUM_CASES = 12


@pytest.fixture(scope="module")
def rendered():
    return bench.render_cases(NUM_CASES, SIZE, seed=0)


class PaintEditor:
    """Paints the whole image one palette colour: right for parts named that colour, wrong everywhere else."""

    name = "paint"

    def __init__(self, colour: str):
        self.rgb = np.array(PALETTE[colour], np.uint8)

    def edit(self, images, captions):
        return np.broadcast_to(self.rgb, np.shape(images)).copy(), None


def test_oracle_scores_full_accuracy_and_zero_error(rendered):
    oracle = bench.OracleEditor(rendered["edit_cases"], SIZE, rendered["edit"])
    oracle.add(rendered["identity_cases"], rendered["identity"])
    result = bench.run_benchmark(oracle, NUM_CASES, SIZE, rendered=rendered)
    summary = result["edit"]
    assert summary["cases"] == NUM_CASES
    assert summary["attribute_accuracy"] == 1.0
    assert all(v == 1.0 for v in summary["attribute_accuracy_per_part"].values())
    assert summary["kept_accuracy"] == 1.0 and summary["unnamed_preserved"] == 1.0
    assert summary["gt_l1"] == 0.0 and summary["background_l1"] == 0.0
    assert result["identity"]["diff"] == 0.0  # the ground truth of an identity case is the source
    # The oracle's Diff is exactly how much the right answer differs from the source.
    expected = np.mean([unit_l1(t.image, s.image) for s, t in zip(*rendered["edit"])])
    assert summary["diff"] == pytest.approx(expected, abs=1e-9)


def test_no_edit_baseline_scores_the_direct_computation(rendered):
    result = bench.run_benchmark(bench.NoEditEditor(), NUM_CASES, SIZE, rendered=rendered)
    summary = result["edit"]
    sources, targets = rendered["edit"]
    hits, gt_l1 = [], []
    for case, source, target in zip(rendered["edit_cases"], sources, targets):
        for part in case.changed:
            hits.append(dominant_colour(source.image, target.part_mask(part)) == case.named_dict[part])
        gt_l1.append(unit_l1(source.image, target.image))
    assert summary["attribute_accuracy"] == pytest.approx(np.mean(hits))
    assert summary["attribute_accuracy"] == 0.0  # a changed part never keeps its old colour's name
    assert summary["changed_parts"] == len(hits)
    assert summary["gt_l1"] == pytest.approx(np.mean(gt_l1), abs=1e-9)
    assert summary["diff"] == 0.0 and summary["background_l1"] == 0.0
    assert summary["kept_accuracy"] == 1.0 and summary["unnamed_preserved"] == 1.0
    assert result["identity"]["diff"] == 0.0
    assert "map_inside" not in summary  # no map, no localisation rows


def test_painting_everything_one_colour_fails_preservation(rendered):
    painted = bench.run_benchmark(PaintEditor("green"), NUM_CASES, SIZE, rendered=rendered)["edit"]
    sources, _ = rendered["edit"]
    green = np.array(PALETTE["green"], np.float64)
    expected = np.mean([np.abs(green - s.image[~s.bird_mask]).mean() / 255.0 for s in sources])
    assert painted["background_l1"] == pytest.approx(expected, abs=1e-6)
    assert painted["background_l1"] > 0.15
    assert painted["unnamed_preserved"] < 0.5
    # It is right exactly where a caption asks for green: accuracy alone would not catch it.
    asked_green = [c.named_dict[p] == "green" for c in rendered["edit_cases"] for p in c.changed]
    assert painted["attribute_accuracy"] == pytest.approx(np.mean(asked_green))
    assert painted["gt_l1"] > 0.15


def test_comparison_rows_lay_editors_side_by_side(rendered):
    results = bench.compare_editors([bench.NoEditEditor(), PaintEditor("red")], NUM_CASES, SIZE, ground_truth=True)
    assert list(results) == ["no edit", "paint", "ground truth"]
    rows = {row["measure"]: row for row in bench.comparison_rows(results)}
    assert rows["attribute accuracy"]["ground truth"] == 1.0 and rows["attribute accuracy"]["no edit"] == 0.0
    assert rows["L1 to ground truth"]["ground truth"] == 0.0
    assert rows["background L1"]["paint"] == results["paint"]["edit"]["background_l1"]
    assert rows["identity Diff (own caption)"]["no edit"] == 0.0
    assert rows["cases"]["paint"] == NUM_CASES
    assert rows["TLU map inside bird"]["no edit"] is None
    for part in COLOURABLE_PARTS:  # a per-part row for every part, "-" where no case changed it
        assert f"attribute accuracy: {part}" in rows
    assert "Sim" not in rows and "MP" not in rows  # no DAMSM given
    table = bench.format_comparison(results)
    assert "| measure | no edit | paint | ground truth |" in table
    assert "| attribute accuracy | 0.000 |" in table
    with pytest.raises(ValueError, match="two editors are named"):
        bench.compare_editors([bench.NoEditEditor(), bench.NoEditEditor()], 2, SIZE)


def test_benchmark_of_a_checkpoint_with_ablation_and_damsm(tiny_model_dir, tiny_damsm_dir, tmp_path):
    from mimnet_tf.apps.evaluate_lib import DamsmScorer

    config = bench.BenchmarkConfig(checkpoint=tiny_model_dir, ablation_checkpoint=tiny_model_dir, num_cases=6,
                                   damsm_dir=tiny_damsm_dir, out=str(tmp_path))
    output = bench.run(config, log=lambda _: None)
    results = output["results"]
    assert list(results) == ["mim-net", "w/o memory", "no edit"]
    mimnet = results["mim-net"]["edit"]
    assert mimnet["cases"] == 6
    assert mimnet["mp"] == pytest.approx((1 - mimnet["diff"]) * mimnet["sim"])
    assert 0.0 <= mimnet["map_inside"] <= 1.0 and mimnet["map_ratio"] > 0
    # The same model as the "w/o memory" column: the edits are deterministic, so equal figures.
    for key in ("attribute_accuracy", "background_l1", "gt_l1", "diff", "sim", "map_inside"):
        assert results["w/o memory"]["edit"][key] == pytest.approx(mimnet[key])
    # Sim of "no edit" is the DAMSM cosine of each source and its target caption, computed directly.
    rendered = bench.render_cases(6, 32, seed=0)
    images = np.stack([s.image for s in rendered["edit"][0]])
    scorer = DamsmScorer(tiny_damsm_dir)
    expected = scorer.similarity(images, [c.caption for c in rendered["edit_cases"]]).mean()
    assert results["no edit"]["edit"]["sim"] == pytest.approx(expected, abs=1e-5)
    # The written files hold the printed rows.
    json_path, md_path = output["paths"]
    with open(json_path, encoding="utf-8") as f:
        document = json.load(f)
    assert document["columns"] == ["measure", "mim-net", "w/o memory", "no edit"]
    by_measure = {row["measure"]: row for row in document["rows"]}
    assert by_measure["MP"]["mim-net"] == pytest.approx(mimnet["mp"])
    assert by_measure["Sim"]["no edit"] == pytest.approx(expected, abs=1e-5)
    assert document["metadata"]["size"] == 32  # the checkpoint's image size by default
    with open(md_path, encoding="utf-8") as f:
        assert "| measure | mim-net | w/o memory | no edit |" in f.read()


def test_cli_error_is_one_line():
    process = run_cli("mimnet_tf.benchmark_edits", "--checkpoint=/nonexistent/run")
    assert_one_line_error(process, "benchmark_edits", "--checkpoint=/nonexistent/run", "no such model directory")
    process = run_cli("mimnet_tf.benchmark_edits")
    assert_one_line_error(process, "benchmark_edits", "exactly one of --checkpoint")


@pytest.mark.slow
def test_cli_prints_the_side_by_side_table(tiny_model_dir, tmp_path):
    process = run_cli("mimnet_tf.benchmark_edits", f"--checkpoint={tiny_model_dir}", "--num_cases=4",
                      "--ground_truth", f"--out={tmp_path}")
    assert process.returncode == 0, process.stderr
    assert "| measure | mim-net | no edit | ground truth |" in process.stdout
    assert "| attribute accuracy |" in process.stdout and "| L1 to ground truth |" in process.stdout
    assert "pretrain_damsm" in process.stderr  # no DAMSM: says how to make one
    assert os.path.exists(tmp_path / "benchmark.json") and os.path.exists(tmp_path / "benchmark.md")


def test_phrasings_are_columns_on_the_same_scenes_with_held_out_families_broken_down():
    results = bench.compare_editors([bench.NoEditEditor(), PaintEditor("red")], 20, SIZE, ground_truth=True,
                                    phrasing_names=("template", "held_out", "typo"))
    # baselines that do not read the text run once; the editor that does, once per phrasing
    assert list(results) == ["no edit", "paint", "ground truth", "paint (held_out)", "paint (typo)"]
    held_out = results["paint (held_out)"]["edit"]
    assert set(held_out["per_family"]) == set(phrasings.HELD_OUT_FAMILIES)
    assert held_out["kept_parts"] == 0  # a request names only what changes
    assert results["paint (typo)"]["edit"]["changed_parts"] == results["paint"]["edit"]["changed_parts"]
    rows = {row["measure"]: row for row in bench.comparison_rows(results)}
    assert rows["attribute accuracy, family want"]["paint (held_out)"] is not None
    assert rows["attribute accuracy, family want"]["paint"] is None
    with pytest.raises(ValueError, match="phrasing 'shouting'"):
        bench.compare_editors([PaintEditor("red")], 2, SIZE, phrasing_names=("shouting",))


def test_validation_and_test_cases_differ():
    test = bench.render_cases(3, SIZE, split="test")["edit_cases"]
    validation = bench.render_cases(3, SIZE, split="validation")["edit_cases"]
    assert [c.source.split for c in test + validation] == ["test"] * 3 + ["validation"] * 3
