"""MirrorGAN through the shared training loop (`python -m mimnet_tf.train --model=mirrorgan`)."""
import dataclasses
import os

import pytest

from mimnet_tf.apps import train_lib
from mimnet_tf.models.mirrorgan import build_mirrorgan, load_mirrorgan
from mimnet_tf.training.summaries import read_train_log


@pytest.mark.slow
def test_the_shared_loop_trains_resumes_and_leaves_a_loadable_model(mirrorgan_setup, tmp_path, monkeypatch):
    config, _, _ = mirrorgan_setup
    # Until train_lib lists MirrorGAN itself (one line in MODEL_BUILDERS), register it here.
    monkeypatch.setitem(train_lib.MODEL_BUILDERS, "mirrorgan", train_lib.ModelEntry(build_mirrorgan))
    model_dir = str(tmp_path / "run")
    config = dataclasses.replace(config, train=dataclasses.replace(
        config.train, model_dir=model_dir, max_steps=2, checkpoint_every=0, image_log_every=0, log_every=1))
    training = train_lib.setup(config, log=lambda *_: None)
    first = training.fit()
    assert first["step"] == 2 and first["start_step"] == 0
    assert set(first["parameters"]) == {"generator", "discriminators"}

    # A second fit restores the directory's checkpoint (step 2) and goes on from there.
    second = training.fit(train_config=dataclasses.replace(config.train, max_steps=3))
    assert second["start_step"] == 2 and second["step"] == 3
    assert {"g_total", "d_total", "stream", "kl"} <= set(second["last_losses"])
    assert [record["step"] for record in read_train_log(model_dir)] == [1, 2, 3]
    assert os.listdir(os.path.join(model_dir, "logs", "train"))

    trained = load_mirrorgan(model_dir)
    assert trained.checkpoint_path.endswith("-3")
    assert trained.generator.sizes == (16, 32)
