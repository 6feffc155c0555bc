"""Training MIM-Net end to end with train_lib on tiny SynthBirds: rendering and preparing the
data, artefacts, learning, exact resume after a SIGKILL, and the NaN guard.

One reference run (30 steps, a checkpoint every 4 kept) serves every test of this module: it is
the end-to-end run, its checkpoint at step 4 is the uninterrupted baseline of the resume test,
and its last checkpoint is the one the NaN guard must leave untouched.
"""
import dataclasses
import json
import os
import signal
import time

import numpy as np
import pytest
import tensorflow as tf

from mimnet_tf.apps import train_lib
from mimnet_tf.config import RunConfig
from mimnet_tf.data import pipeline, text
from mimnet_tf.models.builder import load_generator
from mimnet_tf.training import loop, summaries
from mimnet_tf.models.checkpointing import training_checkpoint
from mimnet_tf.models.model_dir import ModelDir
from tests.training import harness

STEPS = 30
RESUME_STEP = 4


@pytest.fixture(scope="module")
def synthbirds_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("synthbirds"))


@pytest.fixture(scope="module")
def reference(synthbirds_dir, tmp_path_factory):
    model_dir = str(tmp_path_factory.mktemp("reference"))
    config = harness.synthbirds_config(synthbirds_dir, model_dir, max_steps=STEPS, checkpoint_every=RESUME_STEP,
                                       keep_checkpoints=10, log_every=5, image_log_every=10)
    assert not os.path.exists(config.data.resolved_prepared_dir)
    training = train_lib.setup(config, log=lambda _: None)  # renders and prepares SynthBirds first
    return training, training.fit()


def test_end_to_end_run_learns_and_writes_a_model_directory(reference, synthbirds_dir):
    training, summary = reference
    model_dir = training.config.train.model_dir
    prepared = os.path.join(synthbirds_dir, "prepared")
    assert os.path.exists(os.path.join(synthbirds_dir, "synthbirds.json")) and os.listdir(prepared)
    assert (summary["start_step"], summary["step"], summary["steps_run"]) == (0, STEPS, STEPS)
    assert summary["parameters"]["generator"] > 0 and summary["parameters"]["discriminators"] > 0
    assert all(np.isfinite(v) for v in summary["last_losses"].values())

    # Reconstruction really falls: the mean of the last log window against the first.
    records = summaries.read_train_log(model_dir)
    assert [r["step"] for r in records] == list(range(5, STEPS + 1, 5))
    first, last = records[0]["losses"]["reconstruction"], records[-1]["losses"]["reconstruction"]
    assert last < 0.7 * first, (first, last)
    assert [r["phases"] for r in records[:1]] == [["reconstruction", "adversarial"]]
    assert all(r["images_per_second"] > 0 and r["elapsed"] > 0 for r in records)

    # config.json rebuilds the run; vocab.txt is the data's; checkpoints and logs are there.
    saved = RunConfig.load(os.path.join(model_dir, "config.json"))
    assert saved.train == training.config.train and saved.model.vocab_size == len(training.vocab)
    assert text.Vocabulary.load(model_dir).words == text.Vocabulary.load(prepared).words
    assert tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints")).endswith(f"ckpt-{STEPS}")
    events = harness.event_tags(model_dir)
    assert [step for step, _ in events["loss/reconstruction"]] == [r["step"] for r in records]
    np.testing.assert_allclose(float(events["loss/reconstruction"][-1][1]), last, rtol=1e-6)
    edits = events["samples/edits"]
    assert [step for step, _ in edits] == [10, 20, 30]
    width, height = (int(v) for v in edits[-1][1][:2])  # image summaries: [width, height, png...]
    assert (width, height) == (4 * 32, 32)
    assert len(edits[-1][1]) == 2 + train_lib.SAMPLE_IMAGES

    # The saved generator is the trained one.
    loaded = load_generator(model_dir)
    batch = next(iter(pipeline.make_dataset(training.config.data, "test", training=False, batch_size=2)))
    inputs = {"image": batch["image"], "token_ids": batch["mismatched_token_ids"]}
    np.testing.assert_allclose(loaded.generator(inputs)["fine"].numpy(),
                               training.model.generator(inputs)["fine"].numpy(), atol=1e-6)


def _wait_for_checkpoint(process, folder: str, number: int, timeout: float, log_path: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        latest = tf.train.latest_checkpoint(folder)
        if latest and int(latest.rsplit("-", 1)[1]) >= number:
            return
        if process.poll() is not None:
            raise AssertionError(f"the training process ended early: {harness.log_tail(log_path)}")
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint {number} in {folder} after {timeout} s")


@pytest.mark.slow
def test_resume_after_sigkill_equals_the_uninterrupted_run(reference, synthbirds_dir, tmp_path):
    training, _ = reference
    crashed_dir = str(tmp_path / "crashed")
    config = harness.synthbirds_config(synthbirds_dir, crashed_dir, max_steps=100, checkpoint_every=1, log_every=1)
    config_path = str(tmp_path / "config.json")
    config.save(config_path)
    log_path = str(tmp_path / "worker.log")
    process = harness.start_worker(config_path, "--sleep_after_checkpoint=2", log_path=log_path)
    try:
        _wait_for_checkpoint(process, os.path.join(crashed_dir, "checkpoints"), 2, timeout=240, log_path=log_path)
        process.send_signal(signal.SIGKILL)  # no handler, no last save: a real crash
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == -signal.SIGKILL
    killed_at = int(tf.train.latest_checkpoint(os.path.join(crashed_dir, "checkpoints")).rsplit("-", 1)[1])
    assert 2 <= killed_at < RESUME_STEP

    # Resume in this process with new objects, to the reference's checkpointed step.
    resumed = train_lib.setup(harness.synthbirds_config(synthbirds_dir, crashed_dir, max_steps=RESUME_STEP,
                                                        checkpoint_every=RESUME_STEP), log=lambda _: None)
    summary = resumed.fit()
    assert (summary["start_step"], summary["step"]) == (killed_at, RESUME_STEP)
    reference_path = os.path.join(training.config.train.model_dir, "checkpoints", f"ckpt-{RESUME_STEP}")
    uninterrupted = harness.checkpoint_state(reference_path)
    after_crash = harness.checkpoint_state(summary["checkpoint"])
    assert after_crash["step/.ATTRIBUTES/VARIABLE_VALUE"] == RESUME_STEP
    compared = harness.assert_states_close(uninterrupted, after_crash, atol=1e-6)
    names = " ".join(uninterrupted)
    assert compared > 50 and "generator/" in names and "fine_discriminator/" in names
    assert "g_optimizer/" in names and "d_optimizer/" in names  # Adam's slots too
    records = summaries.read_train_log(crashed_dir)  # the killed process logged every step
    assert [r["step"] for r in records][:2] == [1, 2]


def test_nan_guard_keeps_the_last_checkpoint(reference):
    training, _ = reference
    model_dir = training.config.train.model_dir
    folder = os.path.join(model_dir, "checkpoints")
    before = {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))}

    def infinite_images(start_step):
        return training.make_dataset(start_step).map(lambda b: {**b, "image": b["image"] + np.inf})

    checkpoint = training_checkpoint(training.model, g_optimizer=training.model.g_optimizer,
                                     d_optimizer=training.model.d_optimizer)
    try:
        with pytest.raises(loop.NonFiniteLossError) as raised:
            training.fit(make_dataset=infinite_images, sample_batch=None,
                         train_config=dataclasses.replace(training.config.train, max_steps=STEPS + 5))
    finally:  # the in-memory model took the NaN step: restore it for any later use
        loop.restore_latest(checkpoint, folder)
    error = raised.value
    assert error.step == STEPS + 1 and error.checkpoint.endswith(f"ckpt-{STEPS}")
    assert "reconstruction" in error.losses and "g_total" in error.losses
    assert f"non-finite loss at step {STEPS + 1}" in str(error) and "reconstruction=nan" in str(error)
    after = {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))}
    assert after == before  # same files, same bytes
    state = harness.checkpoint_state(os.path.join(folder, f"ckpt-{STEPS}"))
    assert all(np.all(np.isfinite(v)) for v in state.values() if v.dtype.kind == "f")
    assert json.loads(open(ModelDir(model_dir).log_path).readlines()[-1])["non_finite"]


def test_a_model_directory_refuses_another_architecture_but_not_other_initial_weights(tmp_path):
    """`check_model_dir`: a rerun may name other initial weights (damsm_dir, generator_init_dir, ...)
    but not another architecture, image size or vocabulary; the error names what changed."""
    from mimnet_tf import testing

    vocab = text.Vocabulary(["<pad>", "<unk>", "red", "bird"])
    config = testing.tiny_run_config("", str(tmp_path))
    ModelDir(str(tmp_path)).write(config, vocab)
    train_lib.check_model_dir(str(tmp_path), config, vocab)  # the same run
    rerun = dataclasses.replace(config, model=dataclasses.replace(config.model, damsm_dir="runs/damsm",
                                                                  generator_init_dir="runs/small"))
    train_lib.check_model_dir(str(tmp_path), rerun, vocab)
    wider = dataclasses.replace(config, model=dataclasses.replace(config.model, base_channels=16))
    with pytest.raises(train_lib.SetupError, match="--base_channels: 8 -> 16"):
        train_lib.check_model_dir(str(tmp_path), wider, vocab)
    with pytest.raises(train_lib.SetupError, match="another vocabulary"):
        train_lib.check_model_dir(str(tmp_path), config, text.Vocabulary(["<pad>", "<unk>", "blue"]))


def test_synthbirds_of_an_older_format_is_rendered_again_not_trained_on(tmp_path):
    """A SynthBirds folder written by an older version (other captions) would otherwise train
    silently; it is rendered again, and what is not the renderer's own stays."""
    import json

    from mimnet_tf.apps import train_lib
    from mimnet_tf.config import DataConfig
    from mimnet_tf.data.synthbirds.writer import FORMAT_VERSION, METADATA_FILENAME

    data = DataConfig(dataset="synthbirds", data_dir=str(tmp_path / "sb"), synthbirds_num_train=8,
                      synthbirds_num_test=4, num_shards=1, image_size=16)
    messages = []
    train_lib.ensure_prepared_data(data, progress=False, log=messages.append)
    metadata_path = tmp_path / "sb" / METADATA_FILENAME
    metadata = json.loads(metadata_path.read_text())
    metadata["format_version"] = FORMAT_VERSION - 1
    metadata_path.write_text(json.dumps(metadata))
    (tmp_path / "sb" / "notes.txt").write_text("mine")
    messages.clear()
    train_lib.ensure_prepared_data(data, progress=False, log=messages.append)
    assert f"format {FORMAT_VERSION - 1}" in messages[0]
    assert json.loads(metadata_path.read_text())["format_version"] == FORMAT_VERSION
    assert (tmp_path / "sb" / "notes.txt").read_text() == "mine"
    messages.clear()
    train_lib.ensure_prepared_data(data, progress=False, log=messages.append)
    assert messages == []  # up to date: nothing rendered
