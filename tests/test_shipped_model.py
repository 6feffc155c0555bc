"""The shipped SynthBirds model (`pretrained/synthbirds64`, see its README.md): it loads, is
small, was trained by the documented command, and still scores what its table says."""
import json
import os

import pytest

from mimnet_tf import ship_model_lib

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SHIPPED = os.path.join(REPO, "pretrained", "synthbirds64")

pytestmark = pytest.mark.slow


def _json(name: str) -> dict:
    with open(os.path.join(SHIPPED, name), encoding="utf-8") as f:
        return json.load(f)


def test_the_shipped_model_is_complete_and_under_20_mb():
    names = set(os.listdir(SHIPPED))
    assert {"config.json", "vocab.txt", "checkpoints", "train_log.jsonl", "benchmark.json", "benchmark.md",
            ship_model_lib.SUBSET_FILENAME, "README.md"} <= names
    size = sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(SHIPPED) for f in files)
    assert size < 20 * 1024 * 1024


def test_it_was_trained_by_the_documented_flagfile():
    """config.json holds what `python -m mimnet_tf.train --flagfile=configs/synthbirds.flags` builds."""
    from absl import flags

    from mimnet_tf import flags as mimnet_flags
    from mimnet_tf.config import RunConfig

    values = flags.FlagValues()
    mimnet_flags.define_flags(values)
    values(["train", f"--flagfile={os.path.join(REPO, 'configs', 'synthbirds.flags')}"])
    documented = mimnet_flags.config_from_flags(values)
    shipped = RunConfig.load(os.path.join(SHIPPED, "config.json"))
    for section in ("model", "loss", "train"):
        ours, theirs = vars(getattr(shipped, section)), vars(getattr(documented, section))
        ignored = ("vocab_size", "max_words", "image_size")
        differing = {k for k in ours if k not in ignored and ours[k] != theirs[k]}
        assert not differing, (section, {k: (ours[k], theirs[k]) for k in differing})


def test_the_shipped_model_rescores_its_subset_and_matches_its_table():
    recorded = _json(ship_model_lib.SUBSET_FILENAME)
    again = ship_model_lib.score_subset(SHIPPED, recorded["num_cases"])
    for key, value in recorded["scores"].items():
        assert again[key] == pytest.approx(value, abs=1e-4), key
    rows = {row["measure"]: row for row in _json("benchmark.json")["rows"]}
    full = rows["attribute accuracy"]["mim-net"]
    # The subset is the first cases of the table's run: its accuracy is the table's, within sampling noise.
    assert abs(again["attribute_accuracy"] - full) < 0.2
    assert again["attribute_accuracy"] > 0.09  # above chance: the shipped model edits
