import numpy as np
import pytest

from mimnet_tf.metrics import similarity


def test_cosine_similarity_known_values():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [3.0, 4.0], [2.0, -1.0]])
    b = np.array([[0.0, 5.0], [2.0, 2.0], [-3.0, -4.0], [1.0, 0.0]])
    np.testing.assert_allclose(similarity.cosine_similarity(a, b), [0.0, 1.0, -1.0, 2 / np.sqrt(5)], atol=1e-12)


def test_cosine_similarity_is_zero_for_zero_vectors_not_nan():
    a = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    b = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(similarity.cosine_similarity(a, b), [0.0, 0.0])


def test_cosine_similarity_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        similarity.cosine_similarity(np.ones((2, 3)), np.ones((2, 4)))


def test_r_precision_is_one_when_text_equals_image_features():
    features = np.random.default_rng(0).normal(size=(300, 32))
    assert similarity.r_precision(features, features, num_candidates=100, seed=1) == 1.0


def test_r_precision_of_random_features_is_chance():
    rng = np.random.default_rng(0)
    images, texts = rng.normal(size=(3000, 16)), rng.normal(size=(3000, 16))
    score = similarity.r_precision(images, texts, num_candidates=10, seed=3)
    # Chance is 1/10; the standard error over 3000 images is sqrt(0.09 / 3000) ~ 0.0055.
    assert abs(score - 0.1) < 0.025


def test_r_precision_never_uses_the_true_caption_as_a_distractor():
    # Distinct one-hot features: only the image's own caption has cosine 1, every other caption 0.
    # Drawing the own row as a distractor would tie and lose credit; with 99 of 99 others drawn,
    # every row of the other 99 is used, so any self-draw would show.
    features = np.eye(100)
    assert similarity.r_precision(features, features, num_candidates=100, seed=0) == 1.0


def test_r_precision_ties_earn_the_expected_credit_of_a_random_tie_break():
    zeros = np.zeros((50, 4))
    assert similarity.r_precision(zeros, zeros, num_candidates=5, seed=0) == pytest.approx(1 / 5)


def test_r_precision_is_deterministic_with_a_seed_and_varies_without():
    rng = np.random.default_rng(1)
    images = rng.normal(size=(400, 8))
    texts = images + rng.normal(scale=1.5, size=(400, 8))
    first = similarity.r_precision(images, texts, num_candidates=20, seed=7)
    assert first == similarity.r_precision(images, texts, num_candidates=20, seed=7)
    assert first == similarity.r_precision(images, texts, num_candidates=20, seed=np.random.default_rng(7))
    others = {similarity.r_precision(images, texts, num_candidates=20, seed=s) for s in range(5)}
    assert len(others) > 1
    assert 0.05 < first < 1.0  # informative but imperfect features


def test_r_precision_chunking_does_not_change_the_result():
    rng = np.random.default_rng(2)
    images = rng.normal(size=(97, 8))
    texts = images + rng.normal(size=(97, 8))
    whole = similarity.r_precision(images, texts, num_candidates=10, seed=4, chunk_size=1000)
    # The random keys are drawn row after row from one stream, so chunks of 10 rows see the same.
    assert whole == similarity.r_precision(images, texts, num_candidates=10, seed=4, chunk_size=10)


def test_r_precision_with_candidate_pool_draws_distractors_from_it():
    rng = np.random.default_rng(3)
    images = rng.normal(size=(40, 6))
    # A pool of exact negatives can never beat the true caption (cosine -1 vs 1).
    assert similarity.r_precision(images, images, num_candidates=10, candidate_pool=-images) == 1.0
    # A pool of exact copies of the image direction always ties: credit 1 / (1 + 9) each.
    pool = np.repeat(images[:1], 30, axis=0)
    assert similarity.r_precision(images[:1], images[:1], num_candidates=10, candidate_pool=pool) == pytest.approx(0.1)


def test_r_precision_rejects_too_few_captions():
    with pytest.raises(ValueError, match="only 9 are available"):
        similarity.r_precision(np.ones((10, 4)), np.ones((10, 4)), num_candidates=100)


def test_pixel_difference_literal_values_in_every_range():
    a = np.zeros((2, 2, 2, 3), np.uint8)
    b = np.full((2, 2, 2, 3), 255, np.uint8)
    b[1] = 51  # 51 / 255 = 0.2
    assert similarity.pixel_difference(a, b, "uint8") == pytest.approx(0.6)
    np.testing.assert_allclose(similarity.pixel_difference(a, b, "uint8", per_image=True), [1.0, 0.2], atol=1e-6)
    assert similarity.pixel_difference(np.full((1, 4), -1.0), np.full((1, 4), 0.5), "model") == pytest.approx(0.75)
    assert similarity.pixel_difference(np.full((1, 4), 0.25), np.full((1, 4), 0.5), "unit") == pytest.approx(0.25)
    assert similarity.pixel_difference(b, b, "uint8") == 0.0


def test_pixel_difference_rejects_values_outside_the_declared_range():
    with pytest.raises(ValueError, match="value_range='unit'"):
        similarity.pixel_difference(np.full((1, 4), 200.0), np.zeros((1, 4)), "unit")
    with pytest.raises(ValueError, match="value_range must be one of"):
        similarity.pixel_difference(np.zeros((1, 4)), np.zeros((1, 4)), "0-255")
    with pytest.raises(ValueError, match="same shape"):
        similarity.pixel_difference(np.zeros((1, 4)), np.zeros((1, 5)), "unit")


def test_manipulative_precision_literal_values():
    # MIM-Net Table 1 rows: MP = (1 - Diff) x Sim.
    assert similarity.manipulative_precision(0.190, 0.171) == pytest.approx(0.13851)
    assert similarity.manipulative_precision(0.0, 0.296) == pytest.approx(0.296)
    assert similarity.manipulative_precision(1.0, 0.5) == 0.0
    np.testing.assert_allclose(similarity.manipulative_precision(np.array([0.5, 0.25]), 0.4), [0.2, 0.3])


def test_mean_pairwise_distance_averages_every_pair_of_distinct_rows():
    mean_pairwise_distance = similarity.mean_pairwise_distance
    rows = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    # L1 per element: pairs (0,1) 0.5, (0,2) 1.0, (1,2) 0.5; Euclidean: 1, sqrt(2), 1.
    assert mean_pairwise_distance(rows, "l1") == pytest.approx(2.0 / 3.0)
    assert mean_pairwise_distance(rows, "l2") == pytest.approx((2.0 + np.sqrt(2.0)) / 3.0)
    images = np.zeros((2, 4, 4, 3))
    images[1] = 0.25
    assert mean_pairwise_distance(images, "l1") == pytest.approx(0.25)  # flattened per image
    with pytest.raises(ValueError, match="at least 2 rows"):
        mean_pairwise_distance(rows[:1])
    with pytest.raises(ValueError, match="'l1' or 'l2'"):
        mean_pairwise_distance(rows, "cosine")
