"""`python -m mimnet_tf.ship_model`: a generator-only model directory that edits exactly like the
trained one, is smaller, and carries its benchmark."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from mimnet_tf.apps import benchmark_subset, ship_model_lib
from tests.editing_fixtures import run_cli, tiny_damsm_dir, tiny_editor, tiny_model_dir  # noqa: F401 (fixtures)


def _size(directory: str) -> int:
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(directory) for f in files)


@pytest.fixture(scope="module")
def shipped(tiny_model_dir, tmp_path_factory):  # noqa: F811
    out = str(tmp_path_factory.mktemp("ship") / "model")
    paths = ship_model_lib.ship(tiny_model_dir, out, benchmark_cases=6, subset_cases=3, log=lambda m: None)
    return out, paths


def test_the_shipped_generator_edits_exactly_like_the_trained_one(shipped, tiny_editor):  # noqa: F811
    from mimnet_tf.inference.editors import load_editor

    out, _ = shipped
    packed = load_editor(checkpoint=out)
    image = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    captions = [" ".join(tiny_editor.vocab.words[2:6])] * 2
    a, map_a = tiny_editor.edit(image, captions)
    b, map_b = packed.edit(image, captions)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(map_a, map_b, atol=1e-6)


def test_only_the_generator_is_kept_at_the_same_step(shipped, tiny_model_dir):  # noqa: F811
    out, paths = shipped
    assert sorted(os.listdir(out)) == ["benchmark.json", "benchmark.md", "benchmark_subset.json", "checkpoints",
                                       "config.json", "vocab.txt"] + sorted(
        f for f in ship_model_lib.LOG_FILES if os.path.exists(os.path.join(tiny_model_dir, f)))
    assert os.path.basename(paths[1]) == os.path.basename(
        tf.train.latest_checkpoint(os.path.join(tiny_model_dir, "checkpoints")))
    assert _size(os.path.join(out, "checkpoints")) < 0.6 * _size(os.path.join(tiny_model_dir, "checkpoints"))


def test_the_subset_rescores_to_what_was_recorded(shipped):
    out, _ = shipped
    recorded = benchmark_subset.read(out)
    assert recorded["split"] == "test" and recorded["phrasing"] == "template"
    again = ship_model_lib.score_subset(out, recorded["num_cases"])
    assert again.keys() == recorded["scores"].keys()
    for key, value in recorded["scores"].items():
        assert again[key] == pytest.approx(value, abs=1e-6), key


def test_a_named_damsm_scores_sim_for_a_model_trained_without_one(shipped, tiny_model_dir, tiny_damsm_dir,  # noqa: F811
                                                                    tmp_path):
    def measures(out):
        with open(os.path.join(out, "benchmark.json"), encoding="utf-8") as f:
            table = json.load(f)
        return {row["measure"] for row in table["rows"]}, table["metadata"]["damsm_dir"]

    out, _ = shipped
    names, damsm_dir = measures(out)
    assert not {"Sim", "MP"} & names and damsm_dir is None  # the tiny model has no DAMSM of its own
    scored = str(tmp_path / "model")
    ship_model_lib.ship(tiny_model_dir, scored, benchmark_cases=4, subset_cases=2, log=lambda m: None,
                        damsm_dir=tiny_damsm_dir)
    names, damsm_dir = measures(scored)
    assert {"Sim", "MP"} <= names and damsm_dir == tiny_damsm_dir


def test_cli_refuses_to_overwrite_and_names_a_missing_model(shipped, tmp_path):
    out, _ = shipped
    result = run_cli("mimnet_tf.ship_model", f"--checkpoint={out}", f"--out={out}", "--benchmark_cases=0")
    assert result.returncode == 2 and "already holds a model" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("mimnet_tf.ship_model", f"--checkpoint={tmp_path / 'nothing'}", f"--out={tmp_path / 'x'}")
    assert result.returncode == 2 and "no such directory" in result.stderr and "Traceback" not in result.stderr
