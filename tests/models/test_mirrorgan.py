import dataclasses
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from mimnet_tf.data import pipeline
from mimnet_tf.data.text import CaptionError
from mimnet_tf.apps.generate_lib import INDEX_FILENAME, write_images
from mimnet_tf.images import decode_image
from mimnet_tf.models.damsm import damsm_from_dir
from mimnet_tf.models.model_dir import CHECKPOINT_SUBDIR
from mimnet_tf.models.gan import replica_rows
from mimnet_tf.models.mirrorgan import MirrorGAN, build_mirrorgan, discriminator_loss, load_mirrorgan
from mimnet_tf.models.checkpointing import training_checkpoint


@pytest.fixture
def setup(mirrorgan_setup):
    config, vocab, _ = mirrorgan_setup
    return config, vocab


@pytest.fixture(scope="module")
def model(mirrorgan_setup):
    """One compiled tiny MirrorGAN for the module; the training test (last) is the only one that steps it."""
    config, vocab, _ = mirrorgan_setup
    return _model(config, vocab, learning_rate=1e-3)


def _model(config, vocab, learning_rate=1e-3):
    keras.utils.set_random_seed(0)
    model = build_mirrorgan(config, vocab, log=lambda *_: None)
    model.compile(g_optimizer=keras.optimizers.Adam(learning_rate, beta_1=0.5),
                  d_optimizer=keras.optimizers.Adam(learning_rate, beta_1=0.5))
    return model


def _batch(config):
    batch = next(iter(pipeline.make_dataset(config.data)))
    return {k: v for k, v in batch.items() if v.dtype != tf.string}


def _values(variables):
    return [v.numpy().copy() for v in variables]


def _changed(before, variables):
    return any(np.max(np.abs(b - v.numpy())) > 0 for b, v in zip(before, variables))


def test_discriminator_loss_weights_real_and_fake_terms_as_attngan():
    zero = np.zeros((1,), "float32")
    # All logits 0: every term is log 2; (2 log 2) / 2 + (3 log 2) / 3 = 2 log 2.
    np.testing.assert_allclose(discriminator_loss(zero, zero, zero, zero, zero), [2 * np.log(2.0)], rtol=1e-6)
    big = np.full((1,), 30.0, "float32")
    # A perfect discriminator: real logits large, fake logits very negative.
    np.testing.assert_allclose(discriminator_loss(big, big, -big, -big, -big), [0.0], atol=1e-6)


def test_noise_rows_do_not_depend_on_the_device_layout():
    devices = tf.config.list_logical_devices("CPU")
    if len(devices) < 2:
        pytest.skip("needs two logical CPU devices (tests/conftest.py)")

    def draw(shape, seed):
        return tf.random.stateless_normal(shape, seed)

    step = tf.constant(5, tf.int64)
    single = replica_rows(draw, (3,), 4, 4, seed=1, stream=2, step=step).numpy()
    strategy = tf.distribute.MirroredStrategy([d.name for d in devices[:2]])
    per_replica = strategy.run(lambda: replica_rows(draw, (3,), 2, 4, seed=1, stream=2, step=step))
    rows = np.concatenate([t.numpy() for t in strategy.experimental_local_results(per_replica)])
    np.testing.assert_array_equal(rows, single)
    other_step = replica_rows(draw, (3,), 4, 4, seed=1, stream=2, step=tf.constant(6, tf.int64)).numpy()
    assert not np.allclose(other_step, single)


def test_sample_images_show_the_real_image_and_every_stage(setup, model):
    config, _ = setup
    batch = _batch(config)
    grid = model.sample_images({"image": batch["image"][:2], "token_ids": batch["token_ids"][:2]})["generated"]
    assert tuple(grid.shape) == (2, 32, 3 * 32, 3)
    assert float(tf.reduce_min(grid)) >= 0.0 and float(tf.reduce_max(grid)) <= 1.0
    np.testing.assert_allclose(grid[:, :, :32], (batch["image"][:2] + 1) / 2, atol=1e-6)


def test_checkpoint_load_and_generate(setup, model, tmp_path):
    config, vocab = setup
    model_dir = str(tmp_path / "model")
    os.makedirs(model_dir)
    config.save(os.path.join(model_dir, "config.json"))
    vocab.save(model_dir)
    checkpoint = training_checkpoint(model, g_optimizer=model.g_optimizer, d_optimizer=model.d_optimizer)
    tf.train.CheckpointManager(checkpoint, os.path.join(model_dir, CHECKPOINT_SUBDIR), 1).save(1)

    trained = load_mirrorgan(model_dir)
    inputs = {"token_ids": np.array([vocab.encode("this bird has red wings", 12)[0]]),
              "noise": np.ones((1, 8), "float32"), "condition_noise": np.ones((1, 4), "float32")}
    np.testing.assert_allclose(trained.generator(inputs)["image"], model.generator(inputs)["image"], atol=1e-6)

    out = str(tmp_path / "generated")
    paths = write_images(model_dir, ["this bird has red wings", "a bird with a blue crown"], 3, out, seed=4)
    assert len(paths) == 6 and os.path.exists(os.path.join(out, INDEX_FILENAME))
    images = [decode_image(open(p, "rb").read()) for p in paths]
    assert all(image.shape == (32, 32, 3) for image in images)
    assert np.abs(images[0].astype(int) - images[1].astype(int)).max() > 0  # different noise per sample
    again = write_images(model_dir, ["this bird has red wings", "a bird with a blue crown"], 3,
                         str(tmp_path / "again"), seed=4)
    for first, second in zip(paths, again):  # the same command writes the same images
        np.testing.assert_array_equal(decode_image(open(second, "rb").read()), decode_image(open(first, "rb").read()))
    with pytest.raises(CaptionError, match="only words the model does not know"):
        write_images(model_dir, ["a red bird", "zebra quokka"], 1, str(tmp_path / "refused"))
    assert not os.path.exists(tmp_path / "refused")  # every caption is checked before anything is written


def test_loading_refuses_another_model_and_missing_parts(setup, tmp_path):
    config, vocab = setup
    mimnet = dataclasses.replace(config, model=dataclasses.replace(config.model, model="mimnet"))
    os.makedirs(tmp_path / "mimnet")
    mimnet.save(str(tmp_path / "mimnet" / "config.json"))
    with pytest.raises(ValueError, match="not a MirrorGAN"):
        load_mirrorgan(str(tmp_path / "mimnet"))
    with pytest.raises(FileNotFoundError, match="Model directory not found"):
        load_mirrorgan(str(tmp_path / "nowhere"))
    no_stream = dataclasses.replace(config, model=dataclasses.replace(config.model, stream_dir=""))
    with pytest.raises(FileNotFoundError, match="pretrain_stream"):
        build_mirrorgan(no_stream, vocab, log=lambda *_: None)
    with pytest.raises(ValueError, match="needs a pretrained STREAM"):
        MirrorGAN(config.model, config.loss, config.train, stream=None)


def test_steps_train_generator_and_discriminators_lower_the_losses_and_leave_stem_and_stream_frozen(setup, model):
    config, vocab = setup
    assert tuple(d.name for d in model.discriminators) == ("stage0_discriminator", "stage1_discriminator")
    assert set(model.checkpoint_layers()) == {"generator", "stage0_discriminator", "stage1_discriminator"}
    encoder = model.generator.text_encoder
    damsm = damsm_from_dir(config.model.damsm_dir, vocab)
    for ours, pretrained in zip(encoder.get_weights(), damsm.text_encoder.get_weights()):
        np.testing.assert_array_equal(ours, pretrained)
    text_before = _values(encoder.variables)
    stream_before = _values(model.stream.variables)
    g_variables = model.generator_variables()
    assert not {id(v) for v in g_variables} & {id(v) for v in encoder.variables}
    g_before = _values(g_variables)
    d_before = _values(model.discriminator_variables())
    batch = _batch(config)
    step = tf.function(model.train_step)

    history = [{k: float(v) for k, v in step(batch).items()} for _ in range(12)]

    assert set(history[0]) >= {"g_total", "d_total", "g_adversarial", "kl", "stream", "damsm", "real_conditional"}
    assert all(np.isfinite(v) for record in history for v in record.values())
    assert history[0]["stream"] > 0 and history[0]["damsm"] == 0.0
    assert int(model.step_counter.numpy()) == 12
    assert _changed(g_before, g_variables)
    assert _changed(d_before, model.discriminator_variables())
    for before, variable in zip(text_before, encoder.variables):
        np.testing.assert_array_equal(before, variable.numpy())
    for before, variable in zip(stream_before, model.stream.variables):  # batch-norm statistics included
        np.testing.assert_array_equal(before, variable.numpy())
    # The discriminators' loss falls (the adversarial term of G may rise meanwhile: that is the
    # discriminators getting better).
    first = history[0]
    last = np.mean([record["d_total"] for record in history[-4:]])
    assert last < first["d_total"] - 0.05, (first["d_total"], last)
    # The text term is a real training signal for the generator: its gradient reaches the generator
    # through the frozen STREAM, and a small step along it lowers the term. (Whether 12 steps of the
    # whole objective lower it by a margin depends on the machine's arithmetic: on one machine it
    # fell by more than 0.05, on another it stayed within 0.01; the adversarial terms lead early.)
    _assert_redescription_descends(model, batch["token_ids"])


def _assert_redescription_descends(model, token_ids):
    noise = tf.random.stateless_normal((token_ids.shape[0], model.model_config.noise_dim), (1, 2))
    variables = model.generator_variables()

    def redescription():
        images = model.generator({"token_ids": token_ids, "noise": noise}, training=False)["image"]
        return tf.reduce_mean(model.stream.redescription_loss(images, token_ids))

    with tf.GradientTape() as tape:
        before = redescription()
    # None: the earlier stages' to-RGB layers, which the finest image does not pass through.
    gradients = [tf.zeros_like(v) if g is None else g for v, g in zip(variables, tape.gradient(before, variables))]
    assert all(np.all(np.isfinite(g.numpy())) for g in gradients)
    norm = float(tf.linalg.global_norm(gradients))
    assert norm > 0.0
    saved = _values(variables)
    try:
        for variable, gradient in zip(variables, gradients):
            variable.assign_sub(1e-2 * gradient / norm)  # a step of length 0.01 down the gradient
        after = redescription()
    finally:
        for variable, value in zip(variables, saved):
            variable.assign(value)
    assert float(after) < float(before), (float(before), float(after))


def test_loss_scaling_optimizers_still_train_both_sides(setup):
    config, vocab = setup
    model = build_mirrorgan(config, vocab, log=lambda *_: None)
    model.compile(g_optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-3)),
                  d_optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-3)))
    g_before, d_before = _values(model.generator_variables()), _values(model.discriminator_variables())
    results = model.train_step(_batch(config))  # eager: one step is enough
    assert np.isfinite(float(results["g_total"]))
    assert _changed(g_before, model.generator_variables())
    assert _changed(d_before, model.discriminator_variables())
