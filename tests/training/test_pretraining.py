"""DAMSM and STREAM pretraining through the one loop: learning, exact resume, and old folders.

`data/before_one_loop/{damsm,stream}` were written by `pretrain_damsm` / `pretrain_stream` at
commit 1d9e15b, before they trained through `training.loop` (their own hand-written loops): 4
steps on `write_colour_prepared(num_train=16, num_test=4, size=32)` with `_config`'s settings. They
stand for the folders users already have: they must load, and resume as if never interrupted.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mimnet_tf import flags as mimnet_flags
from mimnet_tf import testing
from mimnet_tf.models.damsm import damsm_from_dir
from mimnet_tf.models.stream import stream_from_dir
from mimnet_tf.apps.pretrain_damsm_lib import pretrain_damsm
from mimnet_tf.apps.pretrain_stream_lib import StreamPretrainConfig, pretrain_stream
from tests.models.mirrorgan_fixtures import MODEL_OVERRIDES, write_colour_prepared
from tests.training import harness

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BEFORE_ONE_LOOP = os.path.join(os.path.dirname(__file__), "data", "before_one_loop")


@pytest.fixture(scope="module")
def colour_prepared(tmp_path_factory):
    """The prepared data the folders of BEFORE_ONE_LOOP were trained on."""
    return write_colour_prepared(str(tmp_path_factory.mktemp("colours")), num_train=16, num_test=4, size=32)


def _config(prepared: str, root, damsm_steps: int = 4, log_every: int = 2, batch_size: int = 4, **model):
    model = {**MODEL_OVERRIDES, "damsm_dir": str(root / "damsm"), "stream_dir": str(root / "stream"), **model}
    return testing.tiny_run_config(prepared, "", model=model, data={"batch_size": batch_size},
                                   train={"damsm_steps": damsm_steps, "log_every": log_every, "checkpoint_every": 4,
                                          "damsm_learning_rate": 2e-3})


def _stream_options(steps: int) -> StreamPretrainConfig:
    return StreamPretrainConfig(steps=steps, learning_rate=1e-2, eval_batches=1, sample_captions=1)


def _state(folder: str, step: int) -> dict:
    return harness.checkpoint_state(os.path.join(folder, "checkpoints", f"ckpt-{step}"))


def _assert_same_state(left: dict, right: dict) -> None:
    assert sorted(left) == sorted(right)
    for name in left:
        np.testing.assert_array_equal(left[name], right[name], err_msg=name)


def _records(path) -> list:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.slow
def test_damsm_pretraining_lowers_its_loss_and_prints_progress(colour_prepared, tmp_path):
    messages = []
    # Whole-set batches: the matching loss of 4 pairs is too noisy to fall within a few steps.
    config = _config(colour_prepared, tmp_path, damsm_steps=12, log_every=4, batch_size=16)
    summary = pretrain_damsm(config, log=messages.append)
    records = _records(os.path.join(tmp_path, "damsm", "damsm_log.jsonl"))
    assert [r["step"] for r in records] == [4, 8, 12]
    losses = [r["loss"] for r in records]
    assert losses[2] < losses[1] < losses[0] and losses[2] < 0.8 * losses[0], losses  # means of 4 steps each
    assert summary["steps"] == 12 and summary["loss"] == losses[-1]
    assert [m.split(" loss")[0] for m in messages if m.startswith("damsm step")] == \
        [f"damsm step {s}/12" for s in (4, 8, 12)]
    damsm = damsm_from_dir(config.model.damsm_dir)
    state = _state(config.model.damsm_dir, 12)
    kernel = [name for name in state if name.startswith("text_encoder/") and "embedding" in name][0]
    assert any(np.array_equal(w, state[kernel]) for w in damsm.text_encoder.get_weights())


@pytest.fixture(scope="module")
def uninterrupted(colour_prepared, tmp_path_factory):
    """A DAMSM trained from scratch to step 6 in one run, and a STREAM trained from scratch to step 6
    whose CNN starts from the DAMSM of BEFORE_ONE_LOOP (as the STREAM there did); returns the root."""
    root = tmp_path_factory.mktemp("uninterrupted")
    old_damsm = str(root / "old_damsm")
    shutil.copytree(os.path.join(BEFORE_ONE_LOOP, "damsm"), old_damsm)
    pretrain_damsm(_config(colour_prepared, root, damsm_steps=6), log=lambda _: None)
    pretrain_stream(_config(colour_prepared, root, damsm_dir=old_damsm), _stream_options(6), log=lambda _: None)
    return root


@pytest.mark.slow
def test_damsm_stopped_by_a_step_limit_resumes_to_the_uninterrupted_run(colour_prepared, uninterrupted, tmp_path):
    messages = []
    pretrain_damsm(_config(colour_prepared, tmp_path, damsm_steps=3), log=messages.append)
    pretrain_damsm(_config(colour_prepared, tmp_path, damsm_steps=6), log=messages.append)
    assert f"Resumed from {tmp_path / 'damsm' / 'checkpoints' / 'ckpt-3'} at step 3" in messages
    _assert_same_state(_state(uninterrupted / "damsm", 6), _state(tmp_path / "damsm", 6))
    whole = _records(uninterrupted / "damsm" / "damsm_log.jsonl")
    parts = _records(tmp_path / "damsm" / "damsm_log.jsonl")
    assert [r["step"] for r in parts] == [2, 3, 4, 6]  # the first run logged its last step, 3
    assert [r["loss"] for r in parts if r["step"] in (2, 6)] == [r["loss"] for r in whole if r["step"] in (2, 6)]


@pytest.mark.slow
def test_folders_written_before_the_one_loop_load_and_resume_exactly(colour_prepared, uninterrupted, tmp_path):
    old_damsm, old_stream = str(tmp_path / "damsm"), str(tmp_path / "stream")
    shutil.copytree(os.path.join(BEFORE_ONE_LOOP, "damsm"), old_damsm)
    shutil.copytree(os.path.join(BEFORE_ONE_LOOP, "stream"), old_stream)
    assert damsm_from_dir(old_damsm) is not None and stream_from_dir(old_stream) is not None
    messages = []  # resumed from their step 4 to step 6: the tensors of the uninterrupted runs
    pretrain_damsm(_config(colour_prepared, tmp_path, damsm_steps=6), log=messages.append)
    pretrain_stream(_config(colour_prepared, tmp_path), _stream_options(6), log=messages.append)
    for folder in (old_damsm, old_stream):
        assert f"Resumed from {os.path.join(folder, 'checkpoints', 'ckpt-4')} at step 4" in messages
    _assert_same_state(_state(uninterrupted / "damsm", 6), _state(old_damsm, 6))
    _assert_same_state(_state(uninterrupted / "stream", 6), _state(old_stream, 6))


@pytest.mark.slow
def test_the_pretrain_damsm_command_prints_progress_and_a_finished_rerun_trains_nothing(colour_prepared, tmp_path):
    flagfile = tmp_path / "damsm.flags"
    config = _config(colour_prepared, tmp_path, damsm_steps=2, log_every=1)
    flagfile.write_text("\n".join(mimnet_flags.config_to_flags(config)) + "\n")

    def run():
        process = subprocess.run([sys.executable, "-m", "mimnet_tf.pretrain_damsm", f"--flagfile={flagfile}"],
                                 cwd=REPO, capture_output=True, text=True, timeout=900)
        assert process.returncode == 0, process.stderr
        return process.stdout.splitlines()

    first = run()
    assert [line.split(" loss")[0] for line in first if line.startswith("damsm step")] == \
        ["damsm step 1/2", "damsm step 2/2"]
    printed = [float(line.split(" loss ")[1].split()[0]) for line in first if line.startswith("damsm step")]
    summary = json.loads(first[-1])
    # The summary reports the last logged step's loss (on this tiny dataset a step can see one
    # caption and score 0: DAMSM's batch softmax then has a single candidate).
    assert summary["steps"] == 2 and printed[0] > 0 and summary["loss"] == pytest.approx(printed[-1], abs=5e-4)
    again = run()  # the finished folder: restored, nothing trained, evaluated and summarised again
    assert f"Resumed from {tmp_path / 'damsm' / 'checkpoints' / 'ckpt-2'} at step 2" in again
    assert not [line for line in again if line.startswith("damsm step")]
    assert json.loads(again[-1])["steps"] == 2 and json.loads(again[-1])["loss"] is None
