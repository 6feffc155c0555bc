"""Strategies by name, TF_CONFIG checks, and the same MIM-Net step on one device, on two mirrored
devices and on two workers of a cluster.

The step has its random parts on (colour dropout, the randomised-memory draw): MIMNet draws them
for the global batch from a stateless seed and keeps each replica's rows, and the input gives
every replica its rows of the same global batch, so the layout must not change the numbers.
"""
import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from mimnet_tf.apps import train_lib
from mimnet_tf.training.strategy import StrategyError, is_chief, make_strategy, task_id
from tests.training import harness

CPUS = ["/cpu:0", "/cpu:1"]


def _two_cpus() -> bool:
    return len(tf.config.list_logical_devices("CPU")) >= 2


def test_strategies_by_name():
    default = make_strategy("default")
    assert default is tf.distribute.get_strategy() and default.num_replicas_in_sync == 1
    gpus = len(tf.config.list_logical_devices("GPU"))
    assert make_strategy("auto").num_replicas_in_sync == (gpus if gpus > 1 else 1)
    assert is_chief(default) and task_id(default) == ""
    with pytest.raises(StrategyError, match="expected one of"):
        make_strategy("tpu")
    with pytest.raises(StrategyError, match="'/gpu:7' does not exist"):
        make_strategy("mirrored", ["/gpu:7"])
    with pytest.raises(StrategyError, match="apply to --strategy=mirrored"):
        make_strategy("default", CPUS)


@pytest.mark.skipif(not _two_cpus(), reason="needs the two logical CPUs of tests/conftest.py")
def test_mirrored_over_given_devices():
    strategy = make_strategy("mirrored", CPUS)
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy.num_replicas_in_sync == 2 and is_chief(strategy)
    assert [tf.DeviceSpec.from_string(d).device_index for d in strategy.extended.worker_devices] == [0, 1]


@pytest.mark.parametrize("raw, message", [
    (None, "needs the TF_CONFIG environment variable"),
    ("{not json", "not valid JSON"),
    ('{"cluster": {}}', "no 'cluster' mapping"),
    ('{"cluster": {"worker": ["localhost:1"]}}', "no 'task'"),
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "chief", "index": 0}}', "not in the cluster"),
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 2}}', "out of range"),
    ('{"cluster": {"worker": ["localhost:1"], "ps": ["localhost:2"]}, "task": {"type": "worker", "index": 0}}',
     "only 'chief' and 'worker'"),
])
def test_multiworker_needs_a_valid_tf_config(monkeypatch, raw, message):
    if raw is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", raw)
    with pytest.raises(StrategyError, match=message):  # checked before any strategy is made
        make_strategy("multiworker")


def _one_step_config(prepared: str, model_dir: str, strategy: str, image_log_every: int = 1):
    config = harness.run_config(prepared, model_dir, max_steps=1, checkpoint_every=0, strategy=strategy,
                                colour_swap=0.5, colour_swap_candidates=3,
                                colour_swap_unmix_edges=True, colour_swap_area_reference=0.05,
                                image_log_every=image_log_every)
    return dataclasses.replace(config, loss=dataclasses.replace(config.loss, swap_localisation=0.5))


@pytest.fixture(scope="module")
def single_device_step(tiny_prepared, tmp_path_factory):
    """Model state and losses after one step on one device, global batch 4."""
    config = _one_step_config(tiny_prepared, str(tmp_path_factory.mktemp("single")), "default", image_log_every=0)
    training = train_lib.setup(config, log=lambda _: None)
    summary = training.fit()
    return harness.model_state(training.model), summary["last_losses"]


@pytest.mark.slow
@pytest.mark.skipif(not _two_cpus(), reason="needs the two logical CPUs of tests/conftest.py")
def test_mirrored_step_equals_single_device_step(single_device_step, tiny_prepared, tmp_path):
    config = _one_step_config(tiny_prepared, str(tmp_path), "mirrored")
    training = train_lib.setup(config, devices=CPUS, log=lambda _: None)
    summary = training.fit()
    assert summary["replicas"] == 2
    edits = harness.event_tags(str(tmp_path))["samples/edits"]  # sample edits work under the strategy
    assert [step for step, _ in edits] == [1]
    state, losses = single_device_step
    compared = harness.assert_states_close(harness.model_state(training.model), state, atol=1e-5)
    assert compared > 100
    assert losses.keys() == summary["last_losses"].keys()
    for name, value in losses.items():  # replica sums of globally averaged losses = global means
        assert summary["last_losses"][name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    # Not a vacuous match: the step moved both optimizers' slots.
    for name in ("g_optimizer/", "d_optimizer/"):
        assert max(float(np.abs(v).max()) for k, v in state.items() if k.startswith(name) and v.dtype.kind == "f") > 0


@pytest.mark.slow
def test_multiworker_step_equals_single_device_step(single_device_step, tiny_prepared, tmp_path):
    ports = [harness.free_port(), harness.free_port()]
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    config_path = str(tmp_path / "config.json")
    _one_step_config(tiny_prepared, str(tmp_path / "model"), "multiworker").save(config_path)
    logs = [str(tmp_path / f"worker{i}.log") for i in range(2)]
    processes = [harness.start_worker(config_path, f"--state_out={tmp_path}/state{i}.npz", log_path=logs[i],
                                      tf_config={"cluster": cluster, "task": {"type": "worker", "index": i}})
                 for i in range(2)]
    outputs = harness.wait_all(processes, timeout=240)
    for process, log in zip(processes, logs):
        assert process.returncode == 0, harness.log_tail(log)
    results = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    assert [r["chief"] for r in results] == [True, False]
    assert [r["step"] for r in results] == [1, 1]
    states = [dict(np.load(str(tmp_path / f"state{i}.npz"))) for i in range(2)]
    harness.assert_states_close(states[0], states[1], atol=0.0)  # the workers agree exactly
    state, losses = single_device_step
    harness.assert_states_close(states[0], state, atol=1e-5)  # and match one device
    for name, value in losses.items():
        assert results[0]["losses"][name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    assert os.path.exists(tmp_path / "model" / "checkpoints" / "ckpt-1.index")  # written by the chief only
    assert [step for step, _ in harness.event_tags(str(tmp_path / "model"))["samples/edits"]] == [1]
