"""The training step's float types: `--mixed_precision` (float16 compute with loss scaling, for
GPUs) or `--bfloat16` (bfloat16 compute, no loss scaling); variables stay float32 either way, so
a checkpoint restores into the float32 models that edit and export.

bfloat16 pays where the hardware multiplies it natively: on a CPU with AVX512_BF16 or AMX,
oneDNN runs a MIM-Net step 1.3x (quiet machine) to 1.5x (loaded) faster than in float32
(benchmarks/train_throughput.py, docs/training_speed.md). A CPU without them has no native
bfloat16 kernels (not measured here), so the demo asks `cpu_has_bfloat16` before turning it on.
"""
from __future__ import annotations

import contextlib

from mimnet_tf.config import TrainConfig

# /proc/cpuinfo flags of CPUs whose oneDNN kernels compute in bfloat16 natively.
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def dtype_policy(train: TrainConfig) -> str:
    """The Keras dtype policy of `--mixed_precision` / `--bfloat16` ("" for the global one)."""
    return "mixed_float16" if train.mixed_precision else "mixed_bfloat16" if train.bfloat16 else ""


@contextlib.contextmanager
def precision_policy(policy: str):
    """Layers built inside use `policy` (when not ""); the global policy is restored after."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy or previous)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def cpu_has_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this machine's CPU computes bfloat16 natively (False when it cannot tell)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return any(flag in line.split() for flag in BFLOAT16_CPU_FLAGS)
    except OSError:
        pass
    return False
