"""STREAM's redescription loss as an option of MIM-Net training (`--redescription`, off by default)."""
import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from mimnet_tf.config import LossWeights
from mimnet_tf.data import pipeline
from mimnet_tf.models.builder import build_mimnet
from mimnet_tf.models.mimnet import ADVERSARIAL


@pytest.fixture(scope="module")
def mimnet(mirrorgan_setup):
    config, vocab, _ = mirrorgan_setup
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, model="mimnet"),
                                 loss=LossWeights(redescription=1.0))
    keras.utils.set_random_seed(0)
    model = build_mimnet(config, vocab, log=lambda *_: None)
    model.compile(g_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
                  d_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5))
    batch = next(iter(pipeline.make_dataset(config.data)))
    return model, {k: v for k, v in batch.items() if v.dtype != tf.string}


def test_the_redescription_gradient_reaches_the_mimnet_generator(mimnet):
    model, batch = mimnet
    assert model.redescriber is not None and not model.redescriber.trainable
    mismatched = model.generator.encode_text(batch["mismatched_token_ids"])
    variables = model.generator_variables(include_memory=False)
    with tf.GradientTape() as tape:
        edited = model.generator.manipulate(batch["image"], mismatched["words"], mismatched["mask"])["fine"]
        loss = tf.reduce_mean(model.redescriber.redescription_loss(edited, batch["mismatched_token_ids"]))
    gradients = tape.gradient(loss, variables)
    norms = [float(tf.norm(g)) for g in gradients if g is not None]
    assert all(np.isfinite(norms))
    assert sum(norm > 0 for norm in norms) > len(variables) // 2  # it reaches most of the generator
    assert not any(v.trainable for v in model.redescriber.variables)


def test_an_adversarial_step_with_redescription_leaves_stream_unchanged(mimnet):
    model, batch = mimnet
    stream_before = [v.numpy().copy() for v in model.redescriber.variables]
    model.phases = (ADVERSARIAL,)
    results = model.train_step(batch)
    assert float(results["redescription"]) > 0.0
    for before, variable in zip(stream_before, model.redescriber.variables):
        np.testing.assert_array_equal(before, variable.numpy())


def test_mimnet_without_the_option_loads_no_captioner(mirrorgan_setup):
    config, vocab, _ = mirrorgan_setup
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, model="mimnet"), loss=LossWeights())
    assert build_mimnet(config, vocab, log=lambda *_: None).redescriber is None
