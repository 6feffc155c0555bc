"""Inception score (IS) and Frechet Inception distance (FID), and the Inception-v3 that feeds them.

The maths (`inception_score`, `frechet_distance`, `activation_statistics`,
`fid_from_activations`) is plain numpy/scipy on arrays, so it is testable with known cases.
`InceptionNetwork` is Keras' own InceptionV3 with ImageNet weights read from a local file: this
project never downloads anything at run time, so a missing file is an `InceptionWeightsMissing`
error that tells the user which file to fetch and which flag takes it.

Numbers are comparable within this project. They are close to, but not bit-identical with,
the original TF-slim IS code or pytorch-fid, whose Inception ports and resizing differ slightly.
"""
from __future__ import annotations

import os
import warnings
from typing import Iterable, Optional

import keras
import numpy as np
import scipy.linalg
import scipy.special
import tensorflow as tf

from mimnet_tf import images as image_ranges

WEIGHTS_FILE_NAME = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
    "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
)
WEIGHTS_MD5 = "9a0d58056eeedaa3f26cb7ebd46da564"  # the hash Keras checks for this file
WEIGHTS_FLAG = "--inception_weights"
IMAGE_SIZE = 299
NUM_CLASSES = 1000
POOL_FEATURES = 2048


class InceptionWeightsMissing(FileNotFoundError):
    """The local Inception-v3 ImageNet weights file needed for IS and FID is not there."""

    def __init__(self, path: Optional[str]):
        where = f"not found at '{path}'" if path else "not given (no path)"
        super().__init__(
            f"Inception-v3 ImageNet weights {where}. IS and FID need the Keras applications file "
            f"{WEIGHTS_FILE_NAME} (the full model with its 1000-class top, ~92 MB, md5 "
            f"{WEIGHTS_MD5}), released by Keras applications at {WEIGHTS_URL} (Keras also caches "
            f"it as ~/.keras/models/{WEIGHTS_FILE_NAME} after "
            f"keras.applications.InceptionV3(weights='imagenet')). Download it once and pass "
            f"{WEIGHTS_FLAG}=/path/to/{WEIGHTS_FILE_NAME}; nothing is downloaded at run time."
        )
        self.path = path


def inception_score(probabilities: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """Inception score: exp(E_x KL(p(y|x) || p(y))), mean and std over `splits` parts.

    Args:
        probabilities: `(N, C)` class probabilities p(y|x) of N images (rows sum to 1; they are
            renormalised to remove float round-off).
        splits: number of parts the N rows are split into (`np.array_split`, so parts differ by
            at most one row when N is not divisible); p(y) is the mean of each part.

    Returns:
        `(mean, std)` of the per-part scores. Uniform predictions score 1; confident predictions
        spread evenly over C classes score C.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"probabilities must be a non-empty (N, C) array; got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("probabilities must be finite and non-negative (softmax outputs)")
    row_sums = p.sum(axis=1, keepdims=True)
    if np.any(np.abs(row_sums - 1.0) > 1e-3):
        raise ValueError(
            "each row of probabilities must sum to 1 (softmax outputs, not logits); got row sums "
            f"in [{row_sums.min():.4g}, {row_sums.max():.4g}]"
        )
    if not 1 <= splits <= p.shape[0]:
        raise ValueError(f"splits must be in [1, N={p.shape[0]}]; got {splits}")
    p = p / row_sums
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0, keepdims=True)
        # xlogy gives 0 * log(0) = 0, so classes never predicted contribute nothing (no log(0)).
        kl = (scipy.special.xlogy(part, part) - scipy.special.xlogy(part, marginal)).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def activation_statistics(activations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean `(D,)` and unbiased covariance `(D, D)` of `(N, D)` activations (N >= 2)."""
    a = np.asarray(activations, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2:
        raise ValueError(f"activations must be (N, D) with N >= 2; got shape {a.shape}")
    return a.mean(axis=0), np.atleast_2d(np.cov(a, rowvar=False))


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    d^2 = ||mu1 - mu2||^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)).

    Args:
        mu1, mu2: `(D,)` means.
        sigma1, sigma2: `(D, D)` covariances.
        eps: added to both diagonals when the product's square root is not finite (a singular
            product, e.g. fewer samples than dimensions), as pytorch-fid does.

    Returns:
        The squared distance (a float; FID when the inputs are Inception pool statistics).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    dim = mu1.shape[0]
    if mu1.shape != (dim,) or mu2.shape != (dim,):
        raise ValueError(f"means must both be ({dim},) vectors; got {mu1.shape} and {mu2.shape}")
    if sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise ValueError(
            f"covariances must both be ({dim}, {dim}) to match the means; got {sigma1.shape} and {sigma2.shape}"
        )
    with warnings.catch_warnings():
        # A singular product is handled below; scipy's warning would only be noise here.
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.all(np.isfinite(covmean)):
        offset = np.eye(dim) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        # Round-off can give tiny imaginary parts; large ones mean the inputs are not covariances.
        largest = np.max(np.abs(np.diagonal(covmean).imag))
        if largest > 1e-3:
            raise ValueError(
                f"sqrt(sigma1 @ sigma2) has an imaginary part of {largest:.3g}; expected symmetric "
                "positive semi-definite covariance matrices"
            )
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid_from_activations(activations1: np.ndarray, activations2: np.ndarray) -> float:
    """FID between two sets of `(N, D)` activations (e.g. Inception pool features)."""
    a1, a2 = np.asarray(activations1), np.asarray(activations2)
    if a1.ndim != 2 or a2.ndim != 2 or a1.shape[1] != a2.shape[1]:
        raise ValueError(f"activations must be (N, D) arrays with the same D; got {a1.shape} and {a2.shape}")
    return frechet_distance(*activation_statistics(a1), *activation_statistics(a2))


def _to_model_range(images) -> np.ndarray:
    """uint8 [0, 255] or float [-1, 1] `(N, H, W, 3)` -> float32 [-1, 1] (Inception's own range)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be a batch (N, H, W, 3) of RGB images; got shape {images.shape}")
    if images.dtype == np.uint8:
        return image_ranges.to_model_range(images)
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"images must be uint8 in [0, 255] or float in [-1, 1]; got dtype {images.dtype}")
    images = images.astype(np.float32)
    if images.size and (images.min() < -1.001 or images.max() > 1.001):
        raise ValueError(
            f"float images must be in [-1, 1]; got values in [{images.min():.3g}, {images.max():.3g}] "
            "(pass uint8 images for [0, 255])"
        )
    return images


class InceptionNetwork:
    """Keras InceptionV3 with ImageNet weights from a local file: class probabilities and pool features.

    Inputs are resized to 299 x 299 (bilinear, antialiased when shrinking) and scaled as
    `keras.applications.inception_v3.preprocess_input` does ([-1, 1]), inside the network.

    Args:
        weights_path: the Keras applications weights file `inception_v3_weights_tf_dim_ordering_
            tf_kernels.h5` (legacy `.h5`, as Keras publishes it) or a Keras 3 `.weights.h5` of the
            same architecture; a directory is searched for the standard file name.
        batch_size: images per forward pass in `predict`.

    Raises:
        InceptionWeightsMissing: the file does not exist (or no path was given).
        ValueError: the file is not InceptionV3 weights with the 1000-class top.

    Example:
        >>> network = InceptionNetwork("/data/inception_v3_weights_tf_dim_ordering_tf_kernels.h5")
        >>> probabilities, pool = network.predict(uint8_images)  # (N, 1000), (N, 2048)
    """

    def __init__(self, weights_path: Optional[str], batch_size: int = 32):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        path = os.fspath(weights_path) if weights_path else ""
        if path and os.path.isdir(path):
            path = os.path.join(path, WEIGHTS_FILE_NAME)
        if not path or not os.path.isfile(path):
            raise InceptionWeightsMissing(path or None)
        self.weights_path = path
        self.batch_size = batch_size
        base = keras.applications.InceptionV3(weights=None, include_top=True)
        try:
            base.load_weights(path)
        except (ValueError, OSError, KeyError) as error:
            raise ValueError(
                f"{path}: not loadable as InceptionV3 ImageNet weights with the classifier top ({error}); "
                f"expected {WEIGHTS_FILE_NAME} from {WEIGHTS_URL}"
            ) from None
        self.model = keras.Model(base.input, [base.output, base.get_layer("avg_pool").output])
        self._forward = tf.function(
            self._forward_batch,
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)],
        )

    def _forward_batch(self, images):
        images = tf.image.resize(images, (IMAGE_SIZE, IMAGE_SIZE), method="bilinear", antialias=True)
        probabilities, pool = self.model(images, training=False)
        return probabilities, pool

    def predict(self, images, batch_size: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities and pool features of a batch of images.

        Args:
            images: `(N, H, W, 3)` uint8 in [0, 255] or float in [-1, 1], any H and W.
            batch_size: images per forward pass (default: the constructor's).

        Returns:
            `(probabilities, pool)`: float32 `(N, 1000)` softmax outputs and `(N, 2048)`
            global-average-pooled features (the activations FID uses).
        """
        images = _to_model_range(images)
        if images.shape[0] == 0:
            raise ValueError("images is an empty batch; expected at least one image")
        batch_size = batch_size or self.batch_size
        probabilities, pools = [], []
        for start in range(0, images.shape[0], batch_size):
            p, pool = self._forward(tf.constant(images[start : start + batch_size]))
            probabilities.append(p.numpy())
            pools.append(pool.numpy())
        return np.concatenate(probabilities), np.concatenate(pools)


def _predict_all(images_iter, network, batch_size) -> tuple[np.ndarray, np.ndarray]:
    """Runs `network.predict` over an iterable of image batches (or one array) and concatenates."""
    if isinstance(images_iter, (np.ndarray, tf.Tensor)):
        images_iter = [images_iter]
    probabilities, pools = [], []
    for batch in images_iter:
        p, pool = network.predict(np.asarray(batch), batch_size=batch_size)
        probabilities.append(p)
        pools.append(pool)
    if not probabilities:
        raise ValueError("the image iterable yielded no batches; expected at least one image")
    return np.concatenate(probabilities), np.concatenate(pools)


def compute_is_fid(
    real_images_iter: Optional[Iterable],
    fake_images_iter: Iterable,
    network,
    splits: int = 10,
    batch_size: Optional[int] = None,
) -> dict:
    """IS of the generated images, IS of the real ones, and FID between them.

    Args:
        real_images_iter: iterable of `(B, H, W, 3)` batches (or one array) of real images, uint8
            or [-1, 1]; None skips FID and the real IS.
        fake_images_iter: the same for generated images.
        network: an `InceptionNetwork` (anything with `predict(images, batch_size)` returning
            `(probabilities, pool_features)`).
        splits: IS splits; reduced to the number of images when there are fewer (reported as
            `is_splits`).
        batch_size: forwarded to `network.predict`.

    Returns:
        A dict with `is_mean`, `is_std`, `is_splits`, `num_fake` and, with real images,
        `real_is_mean`, `real_is_std`, `fid`, `num_real`.
    """
    fake_probabilities, fake_pool = _predict_all(fake_images_iter, network, batch_size)
    fake_splits = min(splits, fake_probabilities.shape[0])
    is_mean, is_std = inception_score(fake_probabilities, fake_splits)
    results = {"is_mean": is_mean, "is_std": is_std, "is_splits": fake_splits, "num_fake": len(fake_pool)}
    if real_images_iter is not None:
        real_probabilities, real_pool = _predict_all(real_images_iter, network, batch_size)
        real_is_mean, real_is_std = inception_score(real_probabilities, min(splits, real_probabilities.shape[0]))
        results.update(
            real_is_mean=real_is_mean,
            real_is_std=real_is_std,
            fid=fid_from_activations(real_pool, fake_pool),
            num_real=len(real_pool),
        )
    return results
