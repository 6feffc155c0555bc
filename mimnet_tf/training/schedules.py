"""Learning-rate schedules from TrainConfig, counted in training steps.

A Keras optimizer evaluates a LearningRateSchedule at its own `iterations`, but a MIM-Net step
updates the generator twice (reconstruction, then adversarial) and the discriminators once or
never, depending on `--phase_schedule`. So `optimizer_learning_rate` binds a schedule to the
model's step counter instead: `--lr_decay_steps=10000` means ten thousand training steps for
both optimizers.

Schedules (`--lr_schedule`):
- constant: `lr`;
- cosine: `lr * (1 + cos(pi * min(step, T) / T)) / 2`, `T = --lr_decay_steps` (0: the whole
  run), reaching 0 at T;
- step: `lr * rate ** floor(step / --lr_decay_steps)`.
"""
from __future__ import annotations

import keras
from keras import ops

from mimnet_tf.config import LR_SCHEDULES as SCHEDULES  # one list, also checked by config.validate
from mimnet_tf.config import TrainConfig


@keras.saving.register_keras_serializable(package="mimnet_tf")
class ConstantSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`lr` at every step (a schedule, so every run has the same optimizer variables)."""

    def __init__(self, learning_rate: float):
        self.learning_rate = float(learning_rate)

    def __call__(self, step):
        del step  # the same rate at every step
        return ops.convert_to_tensor(self.learning_rate, "float32")

    def get_config(self):
        return {"learning_rate": self.learning_rate}


def make_schedule(config: TrainConfig, learning_rate: float, total_steps: int = 0):
    """The `--lr_schedule` of `config` starting at `learning_rate`.

    Args:
        config: lr_schedule, lr_decay_steps, lr_decay_rate.
        learning_rate: the initial rate (g_learning_rate or d_learning_rate).
        total_steps: length of the run; the cosine's period when lr_decay_steps is 0.

    Returns:
        A keras LearningRateSchedule of the training step (0-based).

    Raises:
        ValueError: naming the flag, for an unknown schedule or a missing decay length.
    """
    name = config.lr_schedule
    if name == "constant":
        return ConstantSchedule(learning_rate)
    if name == "cosine":
        period = config.lr_decay_steps or total_steps
        if period <= 0:
            raise ValueError("--lr_schedule=cosine needs --lr_decay_steps > 0 (or a run length from "
                             "--max_steps / --epochs)")
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=period, alpha=0.0)
    if name == "step":
        if config.lr_decay_steps <= 0:
            raise ValueError(f"--lr_schedule=step needs --lr_decay_steps > 0, got {config.lr_decay_steps}")
        if not 0.0 < config.lr_decay_rate <= 1.0:
            raise ValueError(f"--lr_decay_rate={config.lr_decay_rate}: expected a factor in (0, 1]")
        return keras.optimizers.schedules.ExponentialDecay(
            learning_rate, decay_steps=config.lr_decay_steps, decay_rate=config.lr_decay_rate, staircase=True)
    raise ValueError(f"--lr_schedule={name!r}: expected one of {SCHEDULES}")


def optimizer_learning_rate(schedule, step_variable):
    """A Keras optimizer `learning_rate` that evaluates `schedule` at the training step.

    Args:
        schedule: a LearningRateSchedule of the training step.
        step_variable: the model's step counter (int64 variable: steps completed).
    """

    def learning_rate():
        return schedule(ops.cast(step_variable, "float32"))

    learning_rate.schedule = schedule  # so logs and tests can see which schedule drives it
    return learning_rate


def schedule_value(schedule, step: int) -> float:
    """The schedule's rate at `step` as a Python float (logs, tests)."""
    return float(schedule(ops.convert_to_tensor(float(step))))

