"""Text-image agreement and edit metrics: Sim, R-precision, Diff and MP.

Sim and R-precision compare image and text features from the DAMSM encoders (AttnGAN) by cosine
similarity. Diff is the mean L1 pixel difference between the input and the edited image in
[0, 1], and MP = (1 - Diff) x Sim (ManiGAN's manipulative precision, MIM-Net's Table 1).
All functions are numpy in, numpy (or float) out.
"""
from __future__ import annotations

from typing import Optional, Union

import numpy as np
import scipy.spatial.distance

from mimnet_tf import images as image_ranges

VALUE_RANGES = ("uint8", "model", "unit")  # [0, 255], [-1, 1], [0, 1]
_EPS = 1e-12


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; zero rows stay zero (their cosine with anything is 0)."""
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, _EPS)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity.

    Args:
        a, b: `(N, D)` feature arrays (e.g. DAMSM image and sentence features).

    Returns:
        `(N,)` float64 cosines in [-1, 1]; 0 where either row is a zero vector.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"a and b must be (N, D) arrays of the same shape; got {a.shape} and {b.shape}")
    return np.sum(_unit_rows(a) * _unit_rows(b), axis=-1)


def r_precision(
    image_features: np.ndarray,
    text_features: np.ndarray,
    num_candidates: int = 100,
    seed: Union[int, np.random.Generator] = 0,
    candidate_pool: Optional[np.ndarray] = None,
    chunk_size: int = 256,
) -> float:
    """R-precision (AttnGAN's protocol): how often an image's own caption ranks first.

    For image i, its true caption `text_features[i]` competes with `num_candidates - 1` distinct
    distractors drawn at random, either from the other rows of `text_features` (never row i) or,
    when given, from `candidate_pool`. Candidates are ranked by cosine similarity to the image.
    A tie with the best distractor(s) earns the expected credit of a random tie-break,
    1 / (1 + number tied), so degenerate (e.g. all-zero) features score chance, not 0 or 1.

    Args:
        image_features: `(N, D)` image features (DAMSM global image features of edited or
            generated images).
        text_features: `(N, D)` features of each image's true caption.
        num_candidates: candidates per image including the true caption (100 in the papers).
        seed: an int seed or a `np.random.Generator`; equal seeds give equal results.
        candidate_pool: optional `(M, D)` features of other captions to draw distractors from.
        chunk_size: images scored at once (bounds memory to chunk x candidates x D).

    Returns:
        The fraction of images whose true caption is ranked first, in [0, 1]; chance is
        1 / num_candidates.
    """
    images = np.asarray(image_features, np.float64)
    texts = np.asarray(text_features, np.float64)
    if images.ndim != 2 or images.shape != texts.shape or images.shape[0] == 0:
        raise ValueError(
            f"image_features and text_features must be non-empty (N, D) arrays of the same shape; "
            f"got {images.shape} and {texts.shape}"
        )
    if num_candidates < 2:
        raise ValueError(f"num_candidates must be >= 2 (the true caption and a distractor); got {num_candidates}")
    num_images = images.shape[0]
    num_distractors = num_candidates - 1
    if candidate_pool is None:
        pool, exclude_own = texts, True
        available = num_images - 1
    else:
        pool, exclude_own = np.asarray(candidate_pool, np.float64), False
        if pool.ndim != 2 or pool.shape[1] != images.shape[1]:
            raise ValueError(f"candidate_pool must be (M, {images.shape[1]}); got {pool.shape}")
        available = pool.shape[0]
    if available < num_distractors:
        raise ValueError(
            f"num_candidates={num_candidates} needs {num_distractors} distinct distractor captions per "
            f"image, but only {available} are available; lower num_candidates or pass a larger candidate_pool"
        )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    images, texts, pool = _unit_rows(images), _unit_rows(texts), _unit_rows(pool)
    credit = np.empty(num_images)
    for start in range(0, num_images, chunk_size):
        rows = np.arange(start, min(start + chunk_size, num_images))
        # The smallest `num_distractors` of uniform keys is a uniform draw without replacement.
        keys = rng.random((len(rows), available))
        picks = np.argpartition(keys, num_distractors - 1, axis=1)[:, :num_distractors]
        if exclude_own:
            picks = picks + (picks >= rows[:, None])  # index i of N-1 slots skips row i itself
        true_scores = np.sum(images[rows] * texts[rows], axis=-1)
        distractor_scores = np.einsum("nd,nkd->nk", images[rows], pool[picks])
        beaten = np.any(distractor_scores > true_scores[:, None], axis=1)
        ties = np.sum(distractor_scores == true_scores[:, None], axis=1)
        credit[rows] = np.where(beaten, 0.0, 1.0 / (1.0 + ties))
    return float(credit.mean())


def pixel_difference(a: np.ndarray, b: np.ndarray, value_range: str, per_image: bool = False):
    """Diff: mean absolute pixel difference of two image batches, measured in [0, 1].

    Args:
        a, b: images of the same shape, e.g. `(N, H, W, 3)` input and edited images.
        value_range: the range both are given in: "uint8" ([0, 255]), "model" ([-1, 1]) or
            "unit" ([0, 1]); they are converted to [0, 1] before comparing.
        per_image: return one value per leading index `(N,)` instead of the overall mean.

    Returns:
        A float in [0, 1] (or an `(N,)` array with `per_image`).
    """
    a, b = _to_unit(a, value_range, "a"), _to_unit(b, value_range, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape; got {a.shape} and {b.shape}")
    difference = np.abs(a - b)
    if per_image:
        return difference.reshape(difference.shape[0], -1).mean(axis=1)
    return float(difference.mean())


def mean_pairwise_distance(rows: np.ndarray, metric: str = "l1") -> float:
    """Mean distance over every pair of distinct rows: how far apart a set of samples lies.

    Args:
        rows: `(N, ...)` array, N >= 2 (images are flattened per row).
        metric: "l1", the mean absolute difference per element (images in [0, 1]: a pixel Diff),
            or "l2", the Euclidean distance (feature vectors).
    """
    flat = np.asarray(rows, np.float64).reshape(len(rows), -1)
    if flat.shape[0] < 2:
        raise ValueError(f"mean_pairwise_distance needs at least 2 rows; got {flat.shape[0]}")
    if metric == "l1":
        return float(scipy.spatial.distance.pdist(flat, "cityblock").mean() / flat.shape[1])
    if metric == "l2":
        return float(scipy.spatial.distance.pdist(flat, "euclidean").mean())
    raise ValueError(f"metric must be 'l1' or 'l2'; got {metric!r}")


def manipulative_precision(diff, sim):
    """MP = (1 - Diff) x Sim (ManiGAN; MIM-Net Table 1): a float for floats, else an array."""
    mp = (1.0 - np.asarray(diff, np.float64)) * np.asarray(sim, np.float64)
    return float(mp) if mp.ndim == 0 else mp


def _to_unit(images, value_range: str, name: str) -> np.ndarray:
    """Converts images given in `value_range` to float [0, 1], checking that they fit it."""
    if value_range not in VALUE_RANGES:
        raise ValueError(f"value_range must be one of {VALUE_RANGES}; got {value_range!r}")
    images = np.asarray(images)
    if value_range == "uint8":
        unit = image_ranges.to_unit_range(image_ranges.to_model_range(images))
    elif value_range == "model":
        unit = image_ranges.to_unit_range(images.astype(np.float32))
    else:
        unit = images.astype(np.float32)
    # A wrong value_range (e.g. uint8 images declared "unit") would silently inflate Diff.
    if unit.size and (unit.min() < -1e-3 or unit.max() > 1.0 + 1e-3):
        raise ValueError(
            f"{name}: values [{images.min():.4g}, {images.max():.4g}] do not fit value_range={value_range!r}"
        )
    return unit
