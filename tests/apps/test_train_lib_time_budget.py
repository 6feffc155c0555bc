"""train_lib.train_for_minutes keeps its time budget: chunks sized by the measured speed (what `make demo`
trains with). A fake Training on a fake clock: each step takes a known time, the first chunk pays a
compile time too."""
import dataclasses
import types

import pytest

from mimnet_tf.apps import train_lib
from mimnet_tf.config import RunConfig, TrainConfig


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _fake_training(clock: _Clock, seconds_per_step: float, compile_seconds: float, calls: list):
    step = types.SimpleNamespace(value=0)

    def fit(train_config: TrainConfig):
        count = train_config.max_steps - step.value
        clock.now += seconds_per_step * count + (compile_seconds if not calls else 0.0)
        calls.append(count)
        step.value = train_config.max_steps
        return {"step": step.value, "last_losses": {"g": 1.0}}

    model = types.SimpleNamespace(step_counter=types.SimpleNamespace(numpy=lambda: step.value))
    return types.SimpleNamespace(model=model, config=RunConfig(), fit=fit)


@pytest.mark.parametrize("seconds_per_step, compile_seconds", [(3.0, 20.0), (0.3, 20.0), (1.3, 0.0)])
def test_training_ends_within_a_step_of_the_budget(monkeypatch, seconds_per_step, compile_seconds):
    clock, calls = _Clock(), []
    monkeypatch.setattr(train_lib.time, "perf_counter", clock)
    monkeypatch.setattr(train_lib, "setup", lambda config, log: _fake_training(clock, seconds_per_step,
                                                                               compile_seconds, calls))
    budget = 60.0
    result = train_lib.train_for_minutes(RunConfig(), budget / 60, chunk_steps=100, log=lambda _: None)
    assert result["train_seconds"] <= budget + seconds_per_step + 0.1
    assert result["train_seconds"] >= budget - seconds_per_step - 0.1
    assert calls[0] == train_lib.FIRST_CHUNK_STEPS and max(calls) <= 100
    assert result["steps_run"] == result["step"] == sum(calls)


def test_max_steps_still_caps_the_run(monkeypatch):
    clock, calls = _Clock(), []
    monkeypatch.setattr(train_lib.time, "perf_counter", clock)
    monkeypatch.setattr(train_lib, "setup", lambda config, log: _fake_training(clock, 0.1, 0.0, calls))
    config = dataclasses.replace(RunConfig(), train=dataclasses.replace(RunConfig().train, max_steps=25))
    result = train_lib.train_for_minutes(config, 10.0, chunk_steps=100, log=lambda _: None)
    assert result["step"] == 25 and calls == [10, 15]
