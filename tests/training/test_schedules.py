"""Learning-rate schedules: values at given steps, and optimizers driven by the training step."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from mimnet_tf.config import TrainConfig
from mimnet_tf.training import schedules


def test_constant():
    schedule = schedules.make_schedule(TrainConfig(lr_schedule="constant"), 2e-4)
    assert [schedules.schedule_value(schedule, s) for s in (0, 10, 10**6)] == pytest.approx([2e-4] * 3)
    restored = schedules.ConstantSchedule.from_config(schedule.get_config())
    assert schedules.schedule_value(restored, 5) == pytest.approx(2e-4)


def test_cosine_decays_to_zero_over_the_period():
    config = TrainConfig(lr_schedule="cosine", lr_decay_steps=100)
    schedule = schedules.make_schedule(config, 1e-3, total_steps=5000)  # lr_decay_steps wins
    for step in (0, 25, 50, 75, 100, 150):
        expected = 1e-3 * 0.5 * (1 + math.cos(math.pi * min(step, 100) / 100))
        assert schedules.schedule_value(schedule, step) == pytest.approx(expected, abs=1e-9), step
    whole_run = schedules.make_schedule(TrainConfig(lr_schedule="cosine"), 1e-3, total_steps=400)
    assert schedules.schedule_value(whole_run, 200) == pytest.approx(5e-4)


def test_step_decay_halves_every_period():
    schedule = schedules.make_schedule(TrainConfig(lr_schedule="step", lr_decay_steps=10, lr_decay_rate=0.5), 1e-3)
    values = [schedules.schedule_value(schedule, s) for s in (0, 9, 10, 19, 20, 35)]
    assert values == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 1.25e-4])


@pytest.mark.parametrize("config, message", [
    (TrainConfig(lr_schedule="linear"), "--lr_schedule='linear': expected one of"),
    (TrainConfig(lr_schedule="step"), "needs --lr_decay_steps > 0"),
    (TrainConfig(lr_schedule="step", lr_decay_steps=5, lr_decay_rate=1.5), "--lr_decay_rate=1.5"),
    (TrainConfig(lr_schedule="cosine"), "needs --lr_decay_steps > 0"),
])
def test_bad_settings_name_the_flag(config, message):
    with pytest.raises(ValueError, match=message):
        schedules.make_schedule(config, 1e-3, total_steps=0)


def test_optimizer_follows_the_training_step_not_its_update_count():
    step = tf.Variable(0, dtype=tf.int64)
    schedule = schedules.make_schedule(TrainConfig(lr_schedule="step", lr_decay_steps=2, lr_decay_rate=0.1), 1.0)
    optimizer = keras.optimizers.SGD(schedules.optimizer_learning_rate(schedule, step))
    weight = keras.Variable(np.zeros(()), dtype="float32")
    optimizer.build([weight])
    for _ in range(3):  # three updates within training step 0 (e.g. two phases + a retry)
        optimizer.apply_gradients([(tf.constant(-1.0), weight)])
    assert float(weight.numpy()) == pytest.approx(3.0)  # still the rate of step 0
    step.assign(2)  # two training steps later: decayed once
    optimizer.apply_gradients([(tf.constant(-1.0), weight)])
    assert float(weight.numpy()) == pytest.approx(3.1)
    assert float(optimizer.learning_rate) == pytest.approx(0.1)
