"""Helpers of the training tests, and a training process they start (crash and cluster tests).

As a program:

    python tests/training/harness.py CONFIG_JSON [--sleep_after_checkpoint=S] [--state_out=F.npz]
        [--kill_during_save=N]

trains the RunConfig in CONFIG_JSON with `train_lib` (TF_CONFIG in the environment makes it a
worker of a cluster), sleeping S seconds after every checkpoint (so a test can kill it between
two checkpoints), then writes the model's state (weights and optimizer variables) to F.npz and
prints the loop's summary as one JSON line. With --kill_during_save=N the process SIGKILLs
itself in the middle of saving ckpt-N: its tensors are written (in `ckpt-N_temp/`) but not yet
merged into `ckpt-N.index` / `.data` (TF's last step of a save).
"""
from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WORKER = os.path.abspath(__file__)


def run_config(prepared_dir: str, model_dir: str, **train):
    """The tiny MIM-Net config of mimnet_tf.testing, quiet, with TrainConfig overrides."""
    from mimnet_tf import config as config_lib, testing

    config = testing.tiny_run_config(prepared_dir, model_dir)
    train = {"progress": False, "image_log_every": 0, **train}
    return dataclasses.replace(config, train=config_lib.replace_flags(config.train, **train))


def synthbirds_config(data_dir: str, model_dir: str, **train):
    """A tiny run on 16 + 8 SynthBirds images at 32 px (rendered by train_lib on first use) that
    visibly learns in 30 steps: L1 weighted 5, generator lr 1e-3, two reconstruction-only steps
    before the phases alternate (so runs cross a phase switch)."""
    config = run_config("", model_dir, **{"g_learning_rate": 1e-3, "phase_schedule": "reconstruction_first",
                                          "reconstruction_steps": 2, **train})
    data = dataclasses.replace(config.data, dataset="synthbirds", data_dir=data_dir, prepared_dir="",
                               synthbirds_num_train=16, synthbirds_num_test=8, num_shards=1)
    return dataclasses.replace(config, data=data, loss=dataclasses.replace(config.loss, reconstruction=5.0))


def model_state(model) -> dict:
    """{name: array} of everything a training checkpoint holds (layers, optimizers, step)."""
    from mimnet_tf.models.checkpointing import layer_variables, optimizer_variables

    state = {"step": np.asarray(model.step_counter.numpy())}
    for name, layer in model.checkpoint_layers().items():
        variables = layer_variables(layer)
        for key in variables._names:
            state[f"{name}/{key}"] = np.asarray(getattr(variables, key).numpy())
    for name in ("g_optimizer", "d_optimizer"):
        variables = optimizer_variables(getattr(model, name))
        for key in variables._names:
            state[f"{name}/{key}"] = np.asarray(getattr(variables, key).numpy())
    return state


def checkpoint_state(path: str) -> dict:
    """{name: array} of every tensor in a checkpoint file (layers, optimizer slots, step), without
    the file's own bookkeeping (object graph, save counter)."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if not name.startswith(("_CHECKPOINTABLE_OBJECT_GRAPH", "save_counter"))}


def assert_states_close(left: dict, right: dict, atol: float, rtol: float = 0.0) -> int:
    """Asserts the same names and allclose values; returns the number of tensors compared."""
    assert sorted(left) == sorted(right), set(left) ^ set(right)
    worst = max(left, key=lambda k: float(np.max(np.abs(left[k].astype(np.float64) - right[k]), initial=0.0)))
    for name in left:
        np.testing.assert_allclose(left[name], right[name], atol=atol, rtol=rtol,
                                   err_msg=f"{name} differs (largest difference in {worst})")
    return len(left)


def event_tags(model_dir: str) -> dict:
    """{tag: [(step, value array)]} from a run's TensorBoard event files (logs/train)."""
    import tensorflow as tf

    from mimnet_tf.training import summaries

    folder = os.path.join(model_dir, summaries.LOG_SUBDIR)
    tags = {}
    for name in sorted(os.listdir(folder)):
        for record in tf.data.TFRecordDataset(os.path.join(folder, name)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append((event.step, tf.make_ndarray(value.tensor)))
    return tags


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def worker_env(tf_config: dict | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


def start_worker(config_path: str, *args: str, log_path: str, tf_config: dict | None = None) -> subprocess.Popen:
    """Starts this file as a training process; its stderr goes to `log_path` (never blocks)."""
    with open(log_path, "w") as log:
        return subprocess.Popen([sys.executable, WORKER, config_path, *args], env=worker_env(tf_config),
                                stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO)


def log_tail(path: str, chars: int = 3000) -> str:
    with open(path, errors="replace") as f:
        return f.read()[-chars:]


def wait_all(processes: list, timeout: float) -> list[str]:
    """Waits for every process; kills them all when one fails or time runs out. Returns stdouts."""
    import time

    deadline = time.monotonic() + timeout
    try:
        while any(p.poll() is None for p in processes):
            if any(p.poll() not in (None, 0) for p in processes) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    return [p.communicate()[0] for p in processes]


def kill_during_save(step: int) -> None:
    """Makes this process SIGKILL itself when TF merges the saved shards into `ckpt-<step>`
    (eager saves call gen_io_ops.merge_v2_checkpoints from Python, after writing the shards)."""
    import signal

    from tensorflow.python.ops import gen_io_ops

    merge = gen_io_ops.merge_v2_checkpoints

    def merge_or_die(checkpoint_prefixes, destination_prefix, *args, **kwargs):
        prefix = destination_prefix.numpy().decode() if hasattr(destination_prefix, "numpy") else str(destination_prefix)
        if prefix.endswith(f"ckpt-{step}"):
            os.kill(os.getpid(), signal.SIGKILL)
        return merge(checkpoint_prefixes, destination_prefix, *args, **kwargs)

    gen_io_ops.merge_v2_checkpoints = merge_or_die


def main(argv: list[str]) -> None:
    import time

    sys.path.insert(0, REPO)
    from mimnet_tf.apps import train_lib
    from mimnet_tf.config import RunConfig
    from mimnet_tf.training import hooks

    options = dict(arg[2:].split("=", 1) for arg in argv[2:])
    config = RunConfig.load(argv[1])
    if "kill_during_save" in options:
        kill_during_save(int(options["kill_during_save"]))
    sleep = float(options.get("sleep_after_checkpoint", 0))
    every = max(config.train.checkpoint_every, 1)

    def pause(step, losses):
        if sleep and step % every == 0:
            time.sleep(sleep)

    training = train_lib.setup(config, log=lambda message: print(message, file=sys.stderr))
    summary = training.fit(extra_hooks=[hooks.OnStep(pause)])
    if "state_out" in options:
        np.savez(options["state_out"], **model_state(training.model))
    print(json.dumps({"step": summary["step"], "start_step": summary["start_step"], "losses": summary["last_losses"],
                      "chief": training.chief}))


if __name__ == "__main__":
    main(sys.argv)
