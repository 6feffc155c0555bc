import math
import os

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from mimnet_tf.metrics import inception


# --- Inception score -----------------------------------------------------------------------


def test_inception_score_of_uniform_predictions_is_one():
    mean, std = inception.inception_score(np.full((50, 1000), 1e-3), splits=10)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_of_one_hot_predictions_spread_evenly_is_the_class_count():
    labels = np.arange(70) % 7  # every class equally often overall and in every split of 14
    one_hot = np.eye(7)[labels]
    assert inception.inception_score(one_hot, splits=1) == (pytest.approx(7.0), pytest.approx(0.0))
    assert inception.inception_score(one_hot, splits=5) == (pytest.approx(7.0), pytest.approx(0.0, abs=1e-12))


def test_inception_score_literal_value_of_two_soft_predictions():
    # p(y) = [0.5, 0.5]; KL of each row = 0.9 ln(0.9/0.5) + 0.1 ln(0.1/0.5) = 0.368064...
    probabilities = np.array([[0.9, 0.1], [0.1, 0.9]])
    expected = math.exp(0.9 * math.log(1.8) + 0.1 * math.log(0.2))
    assert expected == pytest.approx(1.444935, abs=1e-6)
    assert inception.inception_score(probabilities, splits=1)[0] == pytest.approx(expected, abs=1e-12)


def test_inception_score_splits_and_std():
    # Split 1 is confident over 2 classes (IS 2), split 2 is uniform (IS 1): mean 1.5, std 0.5.
    probabilities = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.5, 0.5]])
    assert inception.inception_score(probabilities, splits=2) == (pytest.approx(1.5), pytest.approx(0.5))


def test_inception_score_rejects_logits_and_too_many_splits():
    with pytest.raises(ValueError, match="sum to 1"):
        inception.inception_score(np.array([[2.0, 3.0]]), splits=1)
    with pytest.raises(ValueError, match="non-negative"):
        inception.inception_score(np.array([[1.5, -0.5]]), splits=1)
    with pytest.raises(ValueError, match=r"splits must be in \[1, N=3\]"):
        inception.inception_score(np.full((3, 2), 0.5), splits=10)


# --- Frechet distance ----------------------------------------------------------------------

MU1, MU2 = np.zeros(3), np.array([1.0, 2.0, 2.0])
VAR1, VAR2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
# ||mu1 - mu2||^2 = 9; tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (sqrt(v1) - sqrt(v2))^2 = 1 + 1 + 6.25.
CLOSED_FORM = 17.25


def test_frechet_distance_of_diagonal_gaussians_matches_closed_form():
    assert inception.frechet_distance(MU1, np.diag(VAR1), MU2, np.diag(VAR2)) == pytest.approx(CLOSED_FORM, abs=1e-9)


def test_frechet_distance_is_invariant_to_a_shared_rotation():
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    rotated = inception.frechet_distance(q @ MU1, q @ np.diag(VAR1) @ q.T, q @ MU2, q @ np.diag(VAR2) @ q.T)
    assert rotated == pytest.approx(CLOSED_FORM, abs=1e-9)


def test_fid_of_a_set_with_itself_is_zero():
    activations = np.random.default_rng(1).normal(size=(200, 16)) @ np.random.default_rng(2).normal(size=(16, 16))
    assert abs(inception.fid_from_activations(activations, activations)) < 1e-6


def test_fid_from_sampled_gaussians_approaches_closed_form():
    rng = np.random.default_rng(3)
    a = MU1 + rng.normal(size=(20000, 3)) * np.sqrt(VAR1)
    b = MU2 + rng.normal(size=(20000, 3)) * np.sqrt(VAR2)
    assert inception.fid_from_activations(a, b) == pytest.approx(CLOSED_FORM, abs=0.3)
    mu, sigma = inception.activation_statistics(a)
    np.testing.assert_allclose(sigma, np.cov(a, rowvar=False))
    np.testing.assert_allclose(mu, a.mean(axis=0))


def test_frechet_distance_of_singular_covariances_is_finite():
    # Zero covariances: only the means differ.
    assert inception.frechet_distance(MU1, np.zeros((3, 3)), MU2, np.zeros((3, 3))) == pytest.approx(9.0, abs=1e-5)
    # Fewer samples than dimensions: rank-deficient covariances, as with few images and 2048-d.
    rng = np.random.default_rng(4)
    fid = inception.fid_from_activations(rng.normal(size=(4, 10)), rng.normal(size=(4, 10)) + 1.0)
    assert np.isfinite(fid) and fid > 10.0 - 1e-6  # at least the mean term ||1||^2 = 10, give or take


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="covariances must both be"):
        inception.frechet_distance(MU1, np.eye(3), MU2, np.eye(2))
    with pytest.raises(ValueError, match="same D"):
        inception.fid_from_activations(np.ones((4, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="N >= 2"):
        inception.activation_statistics(np.ones((1, 3)))


# --- compute_is_fid, with a cheap deterministic network ----------------------------------------


class _ColourNetwork:
    """Stands in for Inception: softmax of 5 x mean RGB as 3 'classes', quadrant means as features."""

    def __init__(self):
        self.batch_sizes = []

    def predict(self, images, batch_size=None):
        self.batch_sizes.append(batch_size)
        x = np.asarray(images, np.float64) / 255.0
        logits = 5.0 * x.mean(axis=(1, 2))
        probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        h, w = x.shape[1] // 2, x.shape[2] // 2
        quadrants = [x[:, :h, :w], x[:, :h, w:], x[:, h:, :w], x[:, h:, w:]]
        return probabilities, np.concatenate([q.mean(axis=(1, 2)) for q in quadrants], axis=1)


def test_compute_is_fid_matches_the_metric_functions_over_batches():
    rng = np.random.default_rng(5)
    real = rng.integers(0, 256, size=(24, 8, 8, 3), dtype=np.uint8)
    fake = np.clip(real.astype(int) + rng.integers(-60, 60, size=real.shape), 0, 255).astype(np.uint8)
    network = _ColourNetwork()
    results = inception.compute_is_fid(
        [real[:10], real[10:]], (fake[i : i + 5] for i in range(0, 24, 5)), network, splits=4, batch_size=3
    )
    real_p, real_pool = network.predict(real)
    fake_p, fake_pool = network.predict(fake)
    assert (results["is_mean"], results["is_std"]) == pytest.approx(inception.inception_score(fake_p, 4))
    assert (results["real_is_mean"], results["real_is_std"]) == pytest.approx(inception.inception_score(real_p, 4))
    assert results["fid"] == pytest.approx(inception.fid_from_activations(real_pool, fake_pool))
    assert results["fid"] > 1e-4
    assert (results["num_real"], results["num_fake"], results["is_splits"]) == (24, 24, 4)
    assert set(network.batch_sizes[:-2]) == {3}


def test_compute_is_fid_of_identical_sets_and_without_real_images():
    images = np.random.default_rng(6).integers(0, 256, size=(6, 8, 8, 3), dtype=np.uint8)
    same = inception.compute_is_fid(images, images, _ColourNetwork())
    assert abs(same["fid"]) < 1e-6
    assert same["is_mean"] == pytest.approx(same["real_is_mean"])
    assert same["is_splits"] == 6  # splits=10 reduced to the 6 images available
    fake_only = inception.compute_is_fid(None, images, _ColourNetwork(), splits=2)
    assert "fid" not in fake_only and fake_only["num_fake"] == 6
    with pytest.raises(ValueError, match="no batches"):
        inception.compute_is_fid(None, [], _ColourNetwork())


# --- InceptionNetwork ----------------------------------------------------------------------


def test_missing_weights_error_names_the_file_url_and_flag(tmp_path):
    missing = str(tmp_path / "nowhere" / inception.WEIGHTS_FILE_NAME)
    with pytest.raises(inception.InceptionWeightsMissing) as caught:
        inception.InceptionNetwork(missing)
    message = str(caught.value)
    assert isinstance(caught.value, FileNotFoundError)
    assert missing in message
    assert "inception_v3_weights_tf_dim_ordering_tf_kernels.h5" in message
    assert "--inception_weights=" in message
    assert "storage.googleapis.com/tensorflow/keras-applications" in message
    with pytest.raises(inception.InceptionWeightsMissing, match="not given"):
        inception.InceptionNetwork(None)
    # A directory without the standard file name inside is missing weights too.
    with pytest.raises(inception.InceptionWeightsMissing, match=str(tmp_path / inception.WEIGHTS_FILE_NAME)):
        inception.InceptionNetwork(str(tmp_path))


def test_model_range_conversion_accepts_uint8_and_minus_one_one_only():
    uint8 = np.array([0, 255, 51], np.uint8).reshape(1, 1, 3, 1).repeat(3, axis=-1)
    np.testing.assert_allclose(inception._to_model_range(uint8)[0, 0, :, 0], [-1.0, 1.0, 51 / 127.5 - 1])
    with pytest.raises(ValueError, match=r"float images must be in \[-1, 1\]"):
        inception._to_model_range(np.full((1, 2, 2, 3), 200.0, np.float32))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        inception._to_model_range(np.zeros((2, 2, 3), np.uint8))


@pytest.fixture(scope="module")
def random_inception(tmp_path_factory):
    """InceptionV3 with random weights saved as the legacy Keras .h5 that Keras publishes."""
    from keras.src.legacy.saving import legacy_h5_format  # writes the published file's layout

    keras.utils.set_random_seed(0)
    model = keras.applications.InceptionV3(weights=None, include_top=True)
    path = str(tmp_path_factory.mktemp("inception") / inception.WEIGHTS_FILE_NAME)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return model, path


@pytest.mark.slow
def test_inception_network_loads_local_weights_and_predicts(random_inception):
    model, path = random_inception
    network = inception.InceptionNetwork(os.path.dirname(path), batch_size=4)  # finds the file by name
    images = np.random.default_rng(7).integers(0, 256, size=(3, 40, 48, 3), dtype=np.uint8)
    probabilities, pool = network.predict(images)
    assert probabilities.shape == (3, inception.NUM_CLASSES) and pool.shape == (3, inception.POOL_FEATURES)
    # The loaded weights are the saved ones: same outputs as the source model on the same input.
    resized = tf.image.resize(images.astype(np.float32) / 127.5 - 1.0, (299, 299), antialias=True)
    np.testing.assert_allclose(probabilities, model(resized, training=False).numpy(), atol=1e-6)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert pool.min() >= 0.0 and pool.std() > 0.0  # average of ReLU maps, not constant
    # [-1, 1] floats give what uint8 gives, and batching does not change results.
    p_float, pool_float = network.predict(images.astype(np.float32) / 127.5 - 1.0, batch_size=1)
    np.testing.assert_allclose(p_float, probabilities, atol=1e-6)
    np.testing.assert_allclose(pool_float, pool, rtol=1e-4, atol=1e-6)
    # compute_is_fid runs the real network batch by batch.
    results = inception.compute_is_fid(None, [images[:2], images[2:]], network, splits=1)
    assert results["is_mean"] == pytest.approx(inception.inception_score(probabilities, 1)[0], rel=1e-5)


@pytest.mark.slow
def test_inception_network_rejects_weights_of_another_model(tmp_path):
    from keras.src.legacy.saving import legacy_h5_format

    small = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    path = str(tmp_path / "small.h5")
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, small)
    with pytest.raises(ValueError, match="not loadable as InceptionV3"):
        inception.InceptionNetwork(path)


def test_frechet_distance_retries_with_an_eps_offset_when_the_square_root_is_not_finite(monkeypatch):
    # Older scipy returns NaN/inf for some singular products; the fallback adds eps to both diagonals.
    true_sqrtm = inception.scipy.linalg.sqrtm
    arguments = []

    def sqrtm_failing_once(matrix):
        arguments.append(matrix)
        return np.full_like(matrix, np.nan) if len(arguments) == 1 else true_sqrtm(matrix)

    monkeypatch.setattr(inception.scipy.linalg, "sqrtm", sqrtm_failing_once)
    fid = inception.frechet_distance(MU1, np.diag(VAR1), MU2, np.diag(VAR2), eps=1e-6)
    assert len(arguments) == 2
    np.testing.assert_allclose(arguments[1], np.diag((VAR1 + 1e-6) * (VAR2 + 1e-6)))
    assert fid == pytest.approx(CLOSED_FORM, abs=1e-4)  # eps shifts the trace term by ~1e-5
