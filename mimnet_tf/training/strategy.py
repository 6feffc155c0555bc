"""Distribution strategies by name: one device, all local GPUs, or a cluster of workers.

`make_strategy("multiworker")` must run before TensorFlow executes anything else in the process
(MultiWorkerMirroredStrategy configures the runtime's collective ops), so training builds the
strategy first. Build the model and both optimizers inside `strategy.scope()`.
"""
from __future__ import annotations

import json
import os
from typing import Optional, Sequence

import tensorflow as tf

STRATEGY_NAMES = ("auto", "default", "mirrored", "multiworker")

_TF_CONFIG_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host0:12345", "host1:12345"]}, '
                      '"task": {"type": "worker", "index": 0}}\'')


class StrategyError(ValueError):
    """A strategy that cannot be built: unknown name, missing devices or a bad TF_CONFIG."""


def parse_tf_config(raw: Optional[str]) -> dict:
    """Checks the TF_CONFIG environment value of a multi-worker job and returns it parsed.

    Raises:
        StrategyError: naming what is missing or malformed, with an example.
    """
    if not raw:
        raise StrategyError(f"--strategy=multiworker needs the TF_CONFIG environment variable describing the "
                            f"cluster and this task, e.g. {_TF_CONFIG_EXAMPLE}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise StrategyError(f"TF_CONFIG is not valid JSON ({error}); expected e.g. {_TF_CONFIG_EXAMPLE}") from None
    if not isinstance(value, dict) or not isinstance(value.get("cluster"), dict) or not value["cluster"]:
        raise StrategyError(f"TF_CONFIG has no 'cluster' mapping of task types to addresses; "
                            f"expected e.g. {_TF_CONFIG_EXAMPLE}")
    task = value.get("task")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise StrategyError(f"TF_CONFIG has no 'task' with 'type' and 'index'; expected e.g. {_TF_CONFIG_EXAMPLE}")
    addresses = value["cluster"].get(task["type"])
    if not isinstance(addresses, list) or not addresses:
        raise StrategyError(f"TF_CONFIG task type {task['type']!r} is not in the cluster "
                            f"{sorted(value['cluster'])}")
    if not isinstance(task["index"], int) or not 0 <= task["index"] < len(addresses):
        raise StrategyError(f"TF_CONFIG task index {task['index']!r} is out of range for the "
                            f"{len(addresses)} {task['type']} address(es)")
    unknown = set(value["cluster"]) - {"chief", "worker"}
    if unknown:
        raise StrategyError(f"TF_CONFIG cluster has task types {sorted(unknown)}; MultiWorkerMirroredStrategy "
                            "uses only 'chief' and 'worker'")
    return value


def _device_key(name: str) -> tuple:
    spec = tf.DeviceSpec.from_string(name)
    return (spec.device_type or "").upper(), spec.device_index or 0


def _check_devices(devices: Sequence[str]) -> list[str]:
    """The devices, checked against this machine's logical devices ("/cpu:1" == "/device:CPU:1")."""
    known = {_device_key(d.name): d.name for d in tf.config.list_logical_devices()}
    devices = list(devices)
    for device in devices:
        if _device_key(device) not in known:
            raise StrategyError(f"device {device!r} does not exist; this machine has {sorted(known.values())}")
    return devices


def make_strategy(name: str = "auto", devices: Optional[Sequence[str]] = None) -> tf.distribute.Strategy:
    """A tf.distribute strategy by name.

    Args:
        name: "auto": MirroredStrategy over all local GPUs when there are several, else the
            default (one-device) strategy; "default": one device; "mirrored": synchronous
            data parallelism over all local GPUs, or over `devices`; "multiworker":
            MultiWorkerMirroredStrategy over the cluster in TF_CONFIG.
        devices: for "mirrored", the devices to replicate on (e.g. ["/cpu:0", "/cpu:1"]).

    Raises:
        StrategyError: unknown name, unknown devices, or a missing/malformed TF_CONFIG.
    """
    if name not in STRATEGY_NAMES:
        raise StrategyError(f"--strategy={name!r}: expected one of {STRATEGY_NAMES}")
    if devices and name not in ("mirrored", "auto"):
        raise StrategyError(f"devices={list(devices)} apply to --strategy=mirrored, not {name!r}")
    if name == "multiworker":
        parse_tf_config(os.environ.get("TF_CONFIG"))
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "default":
        return tf.distribute.get_strategy()
    if devices:
        return _mirrored(_check_devices(devices))
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if name == "auto" and len(gpus) <= 1:
        return tf.distribute.get_strategy()
    return _mirrored(gpus or ["/cpu:0"])


def _mirrored(devices: list[str]) -> tf.distribute.MirroredStrategy:
    """MirroredStrategy; over CPUs only, reducing on one device instead of collective ops.

    Collective all-reduces are keyed by instance numbers that restart with every strategy while
    the runtime keeps its cache, so a second CPU MirroredStrategy in one process (a test suite,
    a benchmark) can collide with the first ("Shape mismatch in the collective instance").
    """
    if all(_device_key(d)[0] == "CPU" for d in devices):
        return tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
    return tf.distribute.MirroredStrategy(devices)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the one task that writes checkpoints, logs and files (always, without a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def task_id(strategy: tf.distribute.Strategy) -> str:
    """`worker_1`-style name of this task ("" without a cluster): names non-chief scratch dirs."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return ""
    return f"{resolver.task_type}_{resolver.task_id}"
