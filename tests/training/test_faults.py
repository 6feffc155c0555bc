"""Faults and abuse lose nothing (training): damaged, missing and half-written checkpoints, a
kill -9 in the middle of a save, two trainers on one directory, corrupt prepared data.

The checkpoint tests run the real loop on test_loop's ToyGAN (a second or two each); the others
run the tiny MIM-Net of harness.run_config in this process, or as a training process the test
kills or races (those are marked slow).
"""
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from mimnet_tf import flags as mimnet_flags
from mimnet_tf.apps import train_lib
from mimnet_tf.models import checkpoint_files
from mimnet_tf.models.model_dir import ModelDir
from mimnet_tf.training import loop, model_dir_lock, summaries
from tests.training import harness
from tests.training.test_loop import BATCH, checkpoint_bytes, checkpoint_numbers, toy_dataset, toy_model, train_config, \
    weights

DAMAGES = ("truncated data", "flipped data bytes", "empty index", "flipped index bytes", "deleted index",
           "deleted data")


def damage(folder, step: int, kind: str) -> None:
    """Damages `folder/ckpt-<step>` as a crash, a full disk or a bad copy would."""
    data = os.path.join(folder, f"ckpt-{step}.data-00000-of-00001")
    index = os.path.join(folder, f"ckpt-{step}.index")
    if kind.startswith("deleted"):
        os.remove(index if kind.endswith("index") else data)
        return
    path = index if "index" in kind else data
    content = bytearray(open(path, "rb").read())
    if kind == "truncated data":
        content = content[:len(content) // 2]
    elif kind == "empty index":
        content = bytearray()
    else:  # flipped bytes: every 7th byte past the start
        for position in range(16, len(content), 7):
            content[position] ^= 0xFF
    with open(path, "wb") as f:
        f.write(bytes(content))


def run_loop(model, model_dir, **overrides):
    """`loop.fit` of ToyGAN (test_loop's settings: checkpoints every 2 steps, 10 kept), logging every step."""
    logged = []
    summary = loop.fit(loop.gan_trainee(model, toy_dataset, BATCH, 100), train_config(model_dir, log_every=1, **overrides),
                       log=logged.append)
    return summary, logged


@pytest.mark.parametrize("kind", DAMAGES)
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one_and_keeps_the_older(tmp_path, kind):
    uninterrupted = toy_model()
    run_loop(uninterrupted, tmp_path / "uninterrupted", max_steps=8)
    model_dir = tmp_path / "run"
    run_loop(toy_model(), model_dir)  # steps 1-6, checkpoints 2, 4, 6
    folder = model_dir / "checkpoints"
    older = {name: data for name, data in checkpoint_bytes(model_dir).items() if name.startswith(("ckpt-2.", "ckpt-4."))}
    damage(folder, 6, kind)
    moved = sorted(name + ".damaged" for name in os.listdir(folder) if name.startswith("ckpt-6."))

    resumed = toy_model()
    summary, logged = run_loop(resumed, model_dir, max_steps=8)
    assert (summary["start_step"], summary["step"]) == (4, 8)
    reports = [line for line in logged if "ckpt-6" in line]
    assert len(reports) == 1 and "damaged" in reports[0] and str(folder) in reports[0], logged
    assert sorted(n for n in os.listdir(folder) if n.endswith(".damaged")) == moved  # aside, not deleted
    assert {name: checkpoint_bytes(model_dir)[name] for name in older} == older  # the older ones untouched
    assert checkpoint_numbers(model_dir) == [2, 4, 6, 8]
    assert tf.train.latest_checkpoint(str(folder)).endswith("ckpt-8")
    for left, right in zip(weights(uninterrupted), weights(resumed), strict=True):  # restored whole, not a mix
        np.testing.assert_array_equal(left, right)
    assert [r["step"] for r in summaries.read_train_log(str(model_dir))] == list(range(1, 9))  # 5, 6 logged once


def test_a_garbage_checkpoint_file_resumes_the_newest_and_overwrites_nothing(tmp_path):
    run_loop(toy_model(), tmp_path, keep_checkpoints=3)  # checkpoints 2, 4, 6
    before = {name: data for name, data in checkpoint_bytes(tmp_path).items() if name.startswith("ckpt-")}
    (tmp_path / "checkpoints" / "checkpoint").write_text("model_checkpoint_path: {{{ garbage")
    summary, _ = run_loop(toy_model(), tmp_path, max_steps=8, keep_checkpoints=3)
    assert summary["start_step"] == 6
    after = checkpoint_bytes(tmp_path)
    assert all(after[name] == data for name, data in before.items() if not name.startswith("ckpt-2."))
    assert checkpoint_numbers(tmp_path) == [4, 6, 8]  # 2 rotated away by the save of 8, as without the fault


def test_when_no_checkpoint_restores_training_stops_unless_told_to_start_over(tmp_path):
    run_loop(toy_model(), tmp_path, max_steps=4)  # checkpoints 2, 4
    folder = tmp_path / "checkpoints"
    damage(folder, 2, "truncated data")
    damage(folder, 4, "empty index")
    before = checkpoint_bytes(tmp_path)
    with pytest.raises(loop.NoRestorableCheckpointError, match="none restores.*start_over_if_damaged") as raised:
        run_loop(toy_model(), tmp_path)
    assert "\n" not in str(raised.value) and str(folder) in str(raised.value)
    assert checkpoint_bytes(tmp_path) == before  # nothing moved, nothing written

    summary, logged = run_loop(toy_model(), tmp_path, start_over_if_damaged=True)
    assert (summary["start_step"], summary["step"]) == (0, 6)
    assert sum("damaged" in line for line in logged) == 2
    after = checkpoint_bytes(tmp_path)
    for name, data in before.items():
        if name.startswith("ckpt-"):
            assert after[name + ".damaged"] == data  # kept aside byte for byte
    assert checkpoint_numbers(tmp_path) == [2, 4, 6]


def test_checkpoint_problem_names_what_is_wrong(tmp_path):
    run_loop(toy_model(), tmp_path, max_steps=2)
    prefix = str(tmp_path / "checkpoints" / "ckpt-2")
    assert checkpoint_files.checkpoint_problem(prefix) is None
    damage(tmp_path / "checkpoints", 2, "flipped data bytes")
    assert "Checksum does not match" in checkpoint_files.checkpoint_problem(prefix)
    os.remove(prefix + ".index")
    assert checkpoint_files.checkpoint_problem(prefix) == "ckpt-2.index is missing"


def _train_process(config, tmp_path, *args):
    config_path = str(tmp_path / "config.json")
    config.save(config_path)
    log_path = str(tmp_path / "worker.log")
    return harness.start_worker(config_path, *args, log_path=log_path), log_path


def _finish(process, timeout: float) -> None:
    try:
        process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.slow
def test_kill_9_in_the_middle_of_a_save_resumes_from_the_previous_checkpoint(tiny_prepared, tmp_path):
    model_dir = str(tmp_path / "run")
    config = harness.run_config(tiny_prepared, model_dir, max_steps=6, checkpoint_every=2, keep_checkpoints=10)
    process, log_path = _train_process(config, tmp_path, "--kill_during_save=4")
    _finish(process, timeout=240)
    assert process.returncode == -signal.SIGKILL, harness.log_tail(log_path)
    folder = os.path.join(model_dir, "checkpoints")
    assert os.path.isdir(os.path.join(folder, "ckpt-4_temp")) and checkpoint_numbers(model_dir) == [2]
    kept = {name: open(os.path.join(folder, name), "rb").read() for name in os.listdir(folder)
            if os.path.isfile(os.path.join(folder, name))}

    # Resume here to the last good step (no step runs: the resume itself is under test).
    resumed = dataclasses.replace(config, train=dataclasses.replace(config.train, max_steps=2))
    summary = train_lib.setup(resumed, log=lambda _: None).fit()
    assert summary["start_step"] == 2 and int(summary["checkpoint"].rsplit("-", 1)[1]) == 2
    assert not os.path.exists(os.path.join(folder, "ckpt-4_temp"))  # the half-written save is gone
    assert checkpoint_bytes(model_dir) == kept  # no checkpoint lost or rewritten
    # The killed process logged steps 1-4; 3 and 4 will run again, so their records went.
    assert [r["step"] for r in summaries.read_train_log(model_dir)] == [1, 2]


@pytest.mark.slow
def test_a_second_trainer_on_a_model_directory_stops_at_once_naming_the_first(tiny_prepared, tmp_path):
    model_dir = str(tmp_path / "run")
    config = harness.run_config(tiny_prepared, model_dir, max_steps=100, checkpoint_every=1)
    first, log_path = _train_process(config, tmp_path, "--sleep_after_checkpoint=60")
    try:
        lock_file = ModelDir(model_dir).lock_path
        deadline = time.monotonic() + 120
        while not (os.path.exists(lock_file) and open(lock_file).read().strip() == str(first.pid)):
            assert first.poll() is None, harness.log_tail(log_path)
            assert time.monotonic() < deadline, "the first trainer took no lock in 120 s"
            time.sleep(0.1)
        flagfile = tmp_path / "run.flags"
        flagfile.write_text("\n".join(mimnet_flags.config_to_flags(config)) + "\n")
        began = time.monotonic()
        second = subprocess.run([sys.executable, "-m", "mimnet_tf.train", f"--flagfile={flagfile}", "--max_steps=2"],
                                capture_output=True, text=True, env=harness.worker_env(), cwd=harness.REPO,
                                timeout=120)
        assert second.returncode == 2, second.stderr[-2000:]
        lines = [line for line in second.stderr.splitlines() if line.startswith("train:")]
        assert len(lines) == 1 and "Traceback" not in second.stderr, second.stderr[-2000:]
        assert f"{model_dir} is in use by another training process (pid {first.pid})" in lines[0]
        assert time.monotonic() - began < 60  # at once: no model built, nothing trained
        assert first.poll() is None  # the first trainer is unharmed
    finally:
        first.kill()  # SIGKILL: the kernel releases its lock
        first.communicate()
    assert model_dir_lock.lock_model_dir(model_dir)  # no stale lock after kill -9


CORRUPTIONS = {
    "flipped record bytes": "train-00000-of-00001.tfrecord",
    "truncated records": "train-00000-of-00001.tfrecord",
    "empty vocab.txt": "vocab.txt",
    "meta.json not JSON": "meta.json",
    "meta.json a list": "meta.json",
}


def corrupt(path: str, kind: str) -> str:
    """Corrupts the file as `kind` (a key of CORRUPTIONS) says; returns its path."""
    content = bytearray(open(path, "rb").read())
    if kind.startswith("flipped"):  # "flipped record bytes": the second half (the first records read)
        start = 16 if kind == "flipped first record" else len(content) // 2
        for position in range(start, len(content), 301):
            content[position] ^= 0xFF
    elif kind == "truncated records":
        content = content[:len(content) * 2 // 3]
    else:
        content = bytearray({"empty vocab.txt": b"", "meta.json not JSON": b'{"counts": {"tr',
                             "meta.json a list": b"[]"}[kind])
    with open(path, "wb") as f:
        f.write(bytes(content))
    return path


@pytest.mark.parametrize("kind", ["empty vocab.txt", "meta.json not JSON", "meta.json a list"])
def test_a_corrupt_vocabulary_or_meta_file_is_a_data_error_naming_it(tiny_prepared, tmp_path, kind):
    prepared = str(tmp_path / "prepared")
    shutil.copytree(tiny_prepared, prepared)
    path = corrupt(os.path.join(prepared, CORRUPTIONS[kind]), kind)
    config = harness.run_config(prepared, str(tmp_path / "run"), max_steps=3)
    with pytest.raises(train_lib.DataError) as raised:
        train_lib.setup(config, log=lambda _: None)
    assert path in str(raised.value) and "\n" not in str(raised.value), raised.value
    assert not os.path.exists(tmp_path / "run")  # found before the model directory is touched


def toy_records(prepared: str) -> str:
    """A prepared folder of 64 records whose labels feed ToyGAN; returns it."""
    from mimnet_tf.data import records

    os.makedirs(prepared)
    with tf.io.TFRecordWriter(records.shard_path(prepared, "train", 0, 1)) as writer:
        for index in range(64):
            writer.write(records.serialize(f"train/{index}", b"\x89PNG" * 16, ["a red bird"], index))
    return prepared


def toy_record_batches(prepared: str):
    """`make_dataset` of ToyGAN read from the prepared folder's records (x, y from each label)."""
    from mimnet_tf.data import records

    def make_dataset(start_step: int):
        def example(serialized):
            f = tf.cast(records.parse(serialized)["label"], tf.float32)
            x = tf.stack([tf.sin(f), tf.cos(f), f / 100.0])
            return {"x": x, "y": 2.0 * x[0] - x[1] + 0.5}

        files = records.shard_files(prepared, "train")
        return tf.data.TFRecordDataset(files).repeat().skip(start_step * BATCH).map(example).batch(BATCH, drop_remainder=True)

    return make_dataset


@pytest.mark.parametrize("kind", ["flipped record bytes", "truncated records"])
def test_a_corrupt_record_mid_run_is_a_data_error_naming_the_shard_and_keeps_the_checkpoint(tmp_path, kind):
    """Training.fit (what the train command runs) on ToyGAN reading prepared records."""
    prepared = toy_records(str(tmp_path / "prepared"))
    config = harness.run_config(prepared, str(tmp_path / "run"), max_steps=2, checkpoint_every=2,
                                keep_checkpoints=10)
    model = toy_model()
    training = train_lib.Training(
        config=config, strategy=tf.distribute.get_strategy(), model=model, vocab=None, chief=True,
        steps_per_epoch=16, total_steps=2, trainee=loop.gan_trainee(model, toy_record_batches(prepared), BATCH, 16),
        log=lambda _: None)
    training.fit()  # steps 1-2 read the first records
    kept = checkpoint_bytes(config.train.model_dir)
    path = corrupt(os.path.join(prepared, CORRUPTIONS[kind]), kind)
    with pytest.raises(train_lib.DataError) as raised:
        training.fit(train_config=dataclasses.replace(config.train, max_steps=16))
    message = str(raised.value)
    assert message.startswith(f"corrupt prepared data: {path} (") and "\n" not in message, message
    stopped = int(message.split("training stopped at step ")[1].split()[0])
    newest = max(checkpoint_numbers(config.train.model_dir))
    assert newest < stopped and f"the last checkpoint {config.train.model_dir}/checkpoints/ckpt-{newest} is " \
        "unchanged" in message  # steps before the bad record were saved as usual, none after it
    after = checkpoint_bytes(config.train.model_dir)
    assert all(after[name] == data for name, data in kept.items() if name.startswith("ckpt-2."))


@pytest.mark.slow
def test_the_train_command_exits_3_with_one_line_naming_a_corrupt_shard(tiny_prepared, tmp_path):
    """The test split is read at setup (the logged sample edits): a corrupt shard stops the command."""
    prepared = str(tmp_path / "prepared")
    shutil.copytree(tiny_prepared, prepared)
    path = corrupt(os.path.join(prepared, "test-00000-of-00001.tfrecord"), "flipped first record")
    config = harness.run_config(prepared, str(tmp_path / "run"), max_steps=3, image_log_every=1)
    flagfile = tmp_path / "run.flags"
    flagfile.write_text("\n".join(mimnet_flags.config_to_flags(config)) + "\n")
    result = subprocess.run([sys.executable, "-m", "mimnet_tf.train", f"--flagfile={flagfile}"], capture_output=True,
                            text=True, env=harness.worker_env(), cwd=harness.REPO, timeout=240)
    lines = [line for line in result.stderr.splitlines() if line.startswith("train:")]
    assert result.returncode == 3 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("train: error: corrupt prepared data: ") and path in lines[0]
    assert not checkpoint_files.checkpoint_files(os.path.join(config.train.model_dir, "checkpoints"))
