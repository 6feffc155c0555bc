"""Fixtures of the edit / evaluate / benchmark / report tests.

The tiny trained model directory is the one tests/export and tests/serving use
(`tests.export.artifacts.model_dir`, cached per session): in one pytest session it trains once
for all of them. The tiny DAMSM is untrained (random encoders), saved in exactly the layout
`pretrain_damsm` writes, which is all Sim / R-precision need to be checked against a direct
computation.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tests.export import artifacts

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> str:
    """A real model directory: 32 px MIM-Net, 2 training steps on tiny prepared data (8 test images)."""
    return artifacts.model_dir(str(tmp_path_factory.getbasetemp()))


@pytest.fixture(scope="session")
def tiny_editor(tiny_model_dir):
    from mimnet_tf.inference.editors import load_editor

    return load_editor(checkpoint=tiny_model_dir)


@pytest.fixture(scope="session")
def tiny_damsm_dir(tmp_path_factory, tiny_model_dir) -> str:
    """An untrained tiny DAMSM written as pretrain_damsm does (config.json, vocab.txt, checkpoints/)."""
    import keras

    from mimnet_tf.config import RunConfig
    from mimnet_tf.data.text import Vocabulary
    from mimnet_tf.apps.pretrain_damsm_lib import build_damsm, damsm_checkpoint

    out = str(tmp_path_factory.mktemp("tiny_damsm"))
    run = RunConfig.load(os.path.join(tiny_model_dir, "config.json"))
    vocab = Vocabulary.load(tiny_model_dir)
    keras.utils.set_random_seed(3)
    damsm = build_damsm(run, len(vocab))
    run.save(os.path.join(out, "config.json"))
    vocab.save(out)
    damsm_checkpoint(damsm).save(os.path.join(out, "checkpoints", "ckpt"))
    return out


def run_cli(module: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Runs `python -m <module> <args>` from the repository root; returns the finished process."""
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def error_line(process: subprocess.CompletedProcess) -> str:
    """The last stderr line (TF's start-up chatter comes before it)."""
    lines = [line for line in process.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def assert_one_line_error(process: subprocess.CompletedProcess, program: str, *fragments: str) -> None:
    assert process.returncode == 2, process.stderr
    assert "Traceback" not in process.stderr, process.stderr
    line = error_line(process)
    assert line.startswith(f"{program}: error: "), process.stderr
    for fragment in fragments:
        assert fragment in line, line


def unit_l1(a: np.ndarray, b: np.ndarray) -> float:
    """mean |a - b| of uint8 images measured in [0, 1]."""
    return float(np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64))) / 255.0)
