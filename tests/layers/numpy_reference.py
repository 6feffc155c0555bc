"""What the layer tests recompute in numpy: the standard tiny captions and the softmaxes.

Every numeric check of tests/layers recomputes a layer's equation from the layer's own weights
with these (float64), never against a hard-coded output.
"""
import numpy as np

# Two captions of 3 and 1 real words, right-padded to 5.
TOKENS = np.array([[3, 4, 5, 0, 0], [6, 0, 0, 0, 0]], "int32")
MASK = (TOKENS != 0).astype("float32")


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def masked_softmax(x, mask, axis=-1):
    e = np.exp(np.where(mask > 0, x, -np.inf) - np.where(mask > 0, x, -np.inf).max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def as_float64(x):
    return np.asarray(x, dtype=np.float64)
