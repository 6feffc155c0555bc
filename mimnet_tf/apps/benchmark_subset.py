"""The benchmark subset of a shipped model: the first cases of its test table, which
tests/test_shipped_model.py scores again and compares.

One file for both model kinds (`benchmark_subset.json`): how many cases (edit cases of a MIM-Net,
scenes of a MirrorGAN), the split, the phrasing and the measures a re-run must reproduce.
"""
from __future__ import annotations

import json
import os

from mimnet_tf import files
from mimnet_tf.models.model_dir import SUBSET_FILENAME


def write(folder: str, num_cases: int, split: str, phrasing: str, scores: dict) -> str:
    """Writes `folder/benchmark_subset.json`; returns its path."""
    subset = {"num_cases": num_cases, "split": split, "phrasing": phrasing, "scores": scores}
    return files.write_json(os.path.join(folder, SUBSET_FILENAME), subset, indent=2, sort_keys=True)


def read(folder: str) -> dict:
    """The subset record of the shipped model in `folder`."""
    with open(os.path.join(folder, SUBSET_FILENAME)) as f:
        return json.load(f)
