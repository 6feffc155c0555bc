"""Deterministic random streams for SynthBirds, keyed by names rather than by call order.

Every random choice of the dataset comes from `generator(*keys)`: a numpy Generator seeded by a
SHA-256 hash of the keys (never Python's `hash()`, which is salted per process). Streams with
different keys are independent, so a scene does not change when another one is added, and the
train and test splits, the captions and the edit cases never share a stream.
"""
from __future__ import annotations

import hashlib

import numpy as np


def stream_seed(*keys) -> int:
    """A 128-bit integer seed from any sequence of str/int keys."""
    text = "\x1f".join(f"{type(k).__name__}:{k}" for k in keys)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:16], "little")


def generator(*keys) -> np.random.Generator:
    """The numpy Generator of the stream named by `keys`, e.g. `generator(0, "train", 17)`."""
    return np.random.default_rng(stream_seed("synthbirds", *keys))
