"""Every loss of mimnet_tf/losses.py on tiny hand-made tensors, against numpy written from the
equations (float64), so that a change of formula, reduction or sign is caught.

Eq. numbers refer to /work/shared/design/mimnet.md. All losses are per example, shape (batch,).
"""
import numpy as np
import pytest
import tensorflow as tf

from mimnet_tf import losses


def _np(x):
    return np.asarray(x, dtype=np.float64)


def _softplus(x):
    return np.log1p(np.exp(x))


def _block_mean(x, factor=2):
    """Area downsampling by an integer factor: the mean of each factor x factor block."""
    b, h, w, c = x.shape
    return x.reshape(b, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


LOGITS = np.array([-3.0, -0.5, 0.0, 0.7, 4.0], "float32")


def test_real_and_fake_losses_are_minus_log_sigmoid():
    """real = -log sigmoid(x), fake = -log(1 - sigmoid(x)); the discriminator's reality loss (first
    two terms of Eq. 17) is their sum on real and fake logits."""
    sig = 1.0 / (1.0 + np.exp(-_np(LOGITS)))
    np.testing.assert_allclose(losses.real_loss(LOGITS), -np.log(sig), rtol=1e-6)
    np.testing.assert_allclose(losses.fake_loss(LOGITS), -np.log(1.0 - sig), rtol=1e-6)
    fake = LOGITS[::-1].copy()
    np.testing.assert_allclose(losses.discriminator_reality_loss(LOGITS, fake),
                               _softplus(-_np(LOGITS)) + _softplus(_np(fake)), rtol=1e-6)
    assert losses.real_loss(np.float16([2.0])).dtype == "float32"


def test_log1mexp_is_log_of_one_minus_p_at_both_ends():
    """log(1 - exp(l)) for l <= 0, accurate near 0 (p -> 1) and for very negative l (p -> 0), and
    finite at l = 0 (clamped)."""
    log_p = np.array([-1e-4, -0.1, -0.69, -0.7, -3.0, -40.0], "float32")
    x = _np(log_p)
    expected = np.where(x > -np.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))
    np.testing.assert_allclose(losses.log1mexp(log_p), expected, rtol=1e-4)
    assert np.isfinite(_np(losses.log1mexp(np.float32([0.0])))).all()


def test_conformity_losses_eq_17_and_19():
    """D: -log D_t(I, T) - log(1 - D_t(I, T')); G: -log D_t(G(I, T'), T'), from log D_t."""
    matched = np.log(np.array([0.9, 0.5, 0.2], "float32"))
    mismatched = np.log(np.array([0.1, 0.5, 0.7], "float32"))
    expected = -_np(matched) - np.log(1.0 - np.exp(_np(mismatched)))
    np.testing.assert_allclose(losses.discriminator_conformity_loss(matched, mismatched), expected, rtol=1e-5)
    np.testing.assert_allclose(losses.generator_conformity_loss(matched), -_np(matched), rtol=1e-6)


def test_l1_is_a_per_example_mean():
    a = np.array([[[1.0, -1.0], [0.5, 0.0]], [[0.0, 0.0], [2.0, 2.0]]], "float32")
    b = np.array([[[0.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 2.0]]], "float32")
    np.testing.assert_allclose(losses.l1(a, b), [(1 + 1 + 0.5 + 0) / 4, (1 + 0 + 2 + 0) / 4], rtol=1e-6)


@pytest.fixture
def stage_images():
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, size=(2, 4, 4, 3)).astype("float32")
    outputs = {"coarse": rng.uniform(-1, 1, size=(2, 2, 2, 3)).astype("float32"),
               "fine": rng.uniform(-1, 1, size=(2, 4, 4, 3)).astype("float32")}
    return image, outputs


def test_reconstruction_loss_eq_14(stage_images):
    """L_rec = w_c |I_1 - down(I)|_1 + w_f |I_2 - I|_1 (per-example means), down = area average."""
    image, outputs = stage_images
    coarse = np.abs(_np(outputs["coarse"]) - _block_mean(_np(image))).mean(axis=(1, 2, 3))
    fine = np.abs(_np(outputs["fine"]) - _np(image)).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(losses.reconstruction_loss(outputs, image), coarse + fine, rtol=1e-5)
    np.testing.assert_allclose(losses.reconstruction_loss(outputs, image, 0.25, 2.0), 0.25 * coarse + 2.0 * fine,
                               rtol=1e-5)


def test_reconstruction_loss_pixel_weights(stage_images):
    """`pixel_weights` (B, S, S, 1) weigh each pixel's L1 (area-averaged for the coarse stage);
    weights of 1 give the plain loss back."""
    image, outputs = stage_images
    weights = np.ones((2, 4, 4, 1), "float32")
    weights[0, :2, :2] = 10.0  # a "repainted" corner of the first example
    weights[1, 3, :] = 4.0
    coarse_w = _block_mean(_np(weights))
    coarse = (coarse_w * np.abs(_np(outputs["coarse"]) - _block_mean(_np(image)))).mean(axis=(1, 2, 3))
    fine = (_np(weights) * np.abs(_np(outputs["fine"]) - _np(image))).mean(axis=(1, 2, 3))
    got = losses.reconstruction_loss(outputs, image, 0.5, 1.5, pixel_weights=weights)
    np.testing.assert_allclose(got, 0.5 * coarse + 1.5 * fine, rtol=1e-5)
    np.testing.assert_allclose(losses.reconstruction_loss(outputs, image, pixel_weights=np.ones_like(weights)),
                               losses.reconstruction_loss(outputs, image), rtol=1e-6)


A = np.array([[[[1.0], [0.0]], [[0.5], [0.0]]], [[[0.2], [0.2]], [[0.2], [0.2]]]], "float32")  # (2, 2, 2, 1)
FEATURES = np.arange(2 * 2 * 2 * 3, dtype="float32").reshape(2, 2, 2, 3) / 10.0 - 1.0
TEXTURE = np.array([[0.1, -0.2, 0.3], [0.0, 0.5, -0.5]], "float32")


def test_pseudo_ground_truth_loss_paper_and_normalised():
    """Eq. 15, paper: p = (1/HW) sum A F_I; normalised: p = sum A F_I / sum A; L = mean_c |p - t|."""
    weighted = (_np(A) * _np(FEATURES)).sum(axis=(1, 2))
    paper = np.abs(weighted / 4.0 - _np(TEXTURE)).mean(-1)
    normalised = np.abs(weighted / (_np(A).sum(axis=(1, 2)) + 1e-6) - _np(TEXTURE)).mean(-1)
    np.testing.assert_allclose(losses.pseudo_ground_truth_loss(A, FEATURES, TEXTURE), paper, rtol=1e-5)
    np.testing.assert_allclose(losses.pseudo_ground_truth_loss(A, FEATURES, TEXTURE, normalised=True), normalised,
                               rtol=1e-5)


def test_pseudo_ground_truth_degenerate_minimum_and_gradients():
    """The design's pitfall: the paper's form is 0 at A -> 0, t -> 0 whatever the image; the
    normalised form is not. The image features are a target: no gradient reaches them, while A
    and t get one."""
    tiny = np.full_like(A, 1e-4)
    zero_t = np.zeros_like(TEXTURE)
    assert np.max(_np(losses.pseudo_ground_truth_loss(tiny, FEATURES, zero_t))) < 1e-4
    assert np.min(_np(losses.pseudo_ground_truth_loss(tiny, FEATURES, zero_t, normalised=True))) > 0.1

    a, features, texture = (tf.Variable(x) for x in (A, FEATURES, TEXTURE))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(losses.pseudo_ground_truth_loss(a, features, texture))
    grad_a, grad_f, grad_t = tape.gradient(loss, [a, features, texture])
    assert grad_f is None or not np.any(_np(grad_f))
    assert np.any(_np(grad_a)) and np.any(_np(grad_t))


def _bce(a, target, positive_weight=1.0):
    """The BCE of the TLU map written on probabilities, as losses.py had it before it took logits."""
    return -(positive_weight * target * np.log(a) + (1.0 - target) * np.log(1.0 - a)).mean(axis=(1, 2, 3))


def _logit(a):
    return np.log(a / (1.0 - a))


def test_swap_localisation_loss_area_max_and_balance():
    """BCE of A (2x2 cells of a 4x4 image, given by its logits) against the repainted map: the
    cell target is the repainted share (area) or any repainted pixel (max); with balance, a cell's
    positive term is weighted by the largest region weight in it (>= 1: --colour_swap_area_reference).
    On moderate logits it equals the BCE written on probabilities."""
    a = np.array([[[[0.9], [0.2]], [[0.4], [0.6]]]], "float32")  # (1, 2, 2, 1)
    logits = _logit(_np(a)).astype("float32")
    repainted = np.zeros((1, 4, 4), "float32")
    repainted[0, 0, 0] = 3.0  # one pixel of a small region, weight 3, in cell (0, 0)
    repainted[0, 2:4, 2:4] = 0.5  # a soft edge filling cell (1, 1)
    share = np.clip(_np(repainted), 0.0, 1.0)[..., None]
    area = _block_mean(share)
    cell_max = share.reshape(1, 2, 2, 2, 2, 1).max(axis=(2, 4))
    weight = np.maximum(_np(repainted)[..., None].reshape(1, 2, 2, 2, 2, 1).max(axis=(2, 4)), 1.0)
    np.testing.assert_allclose(losses.swap_localisation_loss(logits, repainted), _bce(_np(a), area), rtol=1e-5)
    np.testing.assert_allclose(losses.swap_localisation_loss(logits, repainted, pool="max"), _bce(_np(a), cell_max),
                               rtol=1e-5)
    np.testing.assert_allclose(losses.swap_localisation_loss(logits, repainted, pool="max", balance=True),
                               _bce(_np(a), cell_max, weight), rtol=1e-5)
    assert cell_max[0, 0, 0, 0] == 1.0 and area[0, 0, 0, 0] == 0.25  # one pixel marks its whole cell
    with pytest.raises(ValueError, match="pool='median'"):
        losses.swap_localisation_loss(logits, repainted, pool="median")


def _clipped_bce(logits, target):
    """The former formula in TF: BCE on sigmoid(logits) clipped to [1e-6, 1 - 1e-6]."""
    a = tf.clip_by_value(tf.sigmoid(logits), 1e-6, 1.0 - 1e-6)
    return tf.reduce_mean(-(target * tf.math.log(a) + (1.0 - target) * tf.math.log(1.0 - a)))


def test_swap_localisation_loss_on_saturated_logits_keeps_value_and_gradient():
    """A cell saturated on the wrong side (|logit| = 40) costs ~40 and is pulled back with the full
    BCE gradient (A - target) / cells; on clipped probabilities it cost -log(1e-6) = 13.8 and had
    no gradient at all, so a TLU stuck at 0 or 1 could not learn its way out."""
    logits = tf.Variable(np.array([[[[40.0], [-40.0]], [[40.0], [-40.0]]]], "float32"))
    repainted = np.array([[[0.0, 1.0], [1.0, 0.0]]], "float32")  # cells 0 and 1 are wrong, 2 and 3 right
    target = repainted[..., None]
    with tf.GradientTape(persistent=True) as tape:
        new = tf.reduce_mean(losses.swap_localisation_loss(logits, repainted))
        old = _clipped_bce(logits, target)
    np.testing.assert_allclose(float(new), (40.0 + 40.0) / 4, rtol=1e-5)
    np.testing.assert_allclose(float(old), 2 * -np.log(1e-6) / 4, rtol=1e-3)
    expected_gradient = (1.0 / (1.0 + np.exp(-_np(logits.numpy()))) - target) / 4  # (A - target) / cells
    np.testing.assert_allclose(tape.gradient(new, logits), expected_gradient, atol=1e-7)
    np.testing.assert_array_equal(tape.gradient(old, logits), 0.0)


@pytest.mark.parametrize("concentration", [0.0, 0.1])
def test_random_memory_weights_are_distributions(concentration):
    """Eq. 16's random attention: positive, each word's weights over the memories sum to 1,
    the same for the same stateless seed and different for another."""
    seed = tf.constant([3, 4], tf.int32)
    weights = _np(losses.random_memory_weights(seed, 2, 5, 8, concentration))
    assert weights.shape == (2, 5, 8)
    assert np.all(weights >= 0.0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(losses.random_memory_weights(seed, 2, 5, 8, concentration), weights)
    other = _np(losses.random_memory_weights(tf.constant([3, 5], tf.int32), 2, 5, 8, concentration))
    assert not np.allclose(other, weights)


def test_a_small_dirichlet_concentration_gives_peaked_weights():
    """The design's pitfall: "uniform then normalised" over many memories is nearly flat (t~ is the
    mean memory); a small Dirichlet concentration picks a few memories."""
    seed = tf.constant([7, 8], tf.int32)
    flat = _np(losses.random_memory_weights(seed, 4, 8, 128, 0.0)).max(-1).mean()
    peaked = _np(losses.random_memory_weights(seed, 4, 8, 128, 0.05)).max(-1).mean()
    assert flat < 0.03 < 0.15 < peaked


# ---------------------------------------------------------------------------------------------- DAMSM
def _masked_softmax(x, mask, axis):
    x = np.where(mask > 0, x, -np.inf)
    e = np.exp(x - x.max(axis=axis, keepdims=True)) * (mask > 0)
    return e / np.maximum(e.sum(axis=axis, keepdims=True), 1e-12)


def _normalise(x):
    return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-8)


def _word_scores(regions, words, mask, g1, g2):
    """AttnGAN's R(Q_i, D_j), written from the paper with explicit loops over images and captions."""
    scores = np.zeros((regions.shape[0], words.shape[0]))
    for i in range(regions.shape[0]):
        for j in range(words.shape[0]):
            sim = _normalise(words[j]) @ _normalise(regions[i]).T  # (L, R)
            sim = _masked_softmax(sim, np.broadcast_to(mask[j][:, None], sim.shape), axis=0)
            attention = np.exp(g1 * sim)
            attention /= attention.sum(-1, keepdims=True)
            context = attention @ regions[i]  # (L, d)
            cos = (_normalise(context) * _normalise(words[j])).sum(-1)
            scores[i, j] = np.log((np.exp(g2 * cos) * mask[j]).sum() + 1e-8) / g2
    return scores


def _matching(scores, g3, valid=None):
    s = g3 * scores
    valid = np.ones_like(s) if valid is None else valid
    rows = np.log(_masked_softmax(s, valid, axis=1) + 1e-8)
    cols = np.log(_masked_softmax(s, valid, axis=0) + 1e-8)
    return -np.diag(rows) - np.diag(cols)


@pytest.fixture
def damsm_inputs():
    rng = np.random.default_rng(1)
    regions = rng.normal(size=(3, 4, 5)).astype("float32")
    words = rng.normal(size=(3, 4, 5)).astype("float32")
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]], "float32")
    image_global = rng.normal(size=(3, 5)).astype("float32")
    sentence = rng.normal(size=(3, 5)).astype("float32")
    return regions, words * mask[..., None], mask, image_global, sentence


def test_damsm_word_scores_match_attngan(damsm_inputs):
    """Word-region score of every image with every caption: pad words take no part."""
    regions, words, mask, _, _ = damsm_inputs
    got = _np(losses.damsm_word_scores(regions, words, mask, 4.0, 5.0))
    np.testing.assert_allclose(got, _word_scores(_np(regions), _np(words), _np(mask), 4.0, 5.0), rtol=1e-4,
                               atol=1e-5)
    noisy = words.copy()
    noisy[mask == 0] = 9.0
    np.testing.assert_allclose(losses.damsm_word_scores(regions, noisy, mask), got, rtol=1e-5, atol=1e-6)


def test_cosine_matrix_and_matching_loss(damsm_inputs):
    """Sentence scores are cosines; the matching loss is -log P(D_i|Q_i) - log P(Q_i|D_i) of a
    gamma3-scaled batch softmax in both directions, same-class pairs excluded as negatives."""
    _, _, _, image_global, sentence = damsm_inputs
    cosine = _normalise(_np(image_global)) @ _normalise(_np(sentence)).T
    np.testing.assert_allclose(losses.cosine_matrix(image_global, sentence), cosine, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(losses.matching_loss(cosine.astype("float32"), 10.0), _matching(cosine, 10.0),
                               rtol=1e-4)
    same_class = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]], bool)
    valid = np.maximum(1.0 - same_class, np.eye(3))
    np.testing.assert_allclose(losses.matching_loss(cosine.astype("float32"), 10.0, same_class),
                               _matching(cosine, 10.0, valid), rtol=1e-4)
    scores = tf.Variable(cosine.astype("float32"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(losses.matching_loss(scores, 10.0, same_class))
    gradient = _np(tape.gradient(loss, scores))
    assert np.all(np.isfinite(gradient))
    assert np.all(gradient[valid == 0] == 0.0) and np.all(gradient[valid > 0] != 0.0)  # excluded: no gradient
    # A diagonal that dominates gives a smaller loss than its transpose-free shuffle.
    assert float(np.sum(losses.matching_loss(np.eye(3, dtype="float32")))) < \
        float(np.sum(losses.matching_loss(np.roll(np.eye(3, dtype="float32"), 1, axis=1))))


def _clipped_matching(scores, gamma3):
    """The former matching loss in TF: log of the batch softmax plus 1e-8."""
    s = gamma3 * scores
    eye = tf.eye(s.shape[0])
    rows = tf.math.log(tf.nn.softmax(s, axis=1) + 1e-8)
    cols = tf.math.log(tf.nn.softmax(s, axis=0) + 1e-8)
    return -tf.reduce_sum(rows * eye, axis=1) - tf.reduce_sum(cols * eye, axis=0)


def test_matching_loss_on_a_badly_matched_batch_keeps_value_and_gradient():
    """Scores 4 apart (40 after gamma3 = 10) put each match at P = e^-40: the loss is -log P = 40
    per direction and the gradient on the matched score -gamma3 per direction. The former log(P +
    1e-8) stopped at -log(1e-8) = 18.4 with a gradient of 8.5e-9: a batch of bad matches did not
    train."""
    scores = tf.Variable(np.array([[-2.0, 2.0], [2.0, -2.0]], "float32"))
    with tf.GradientTape(persistent=True) as tape:
        new = tf.reduce_sum(losses.matching_loss(scores, 10.0))
        old = tf.reduce_sum(_clipped_matching(scores, 10.0))
    np.testing.assert_allclose(float(new), 2 * 2 * 40.0, rtol=1e-5)
    np.testing.assert_allclose(float(old), 2 * 2 * -np.log(1e-8), rtol=1e-3)
    new_gradient, old_gradient = (_np(tape.gradient(x, scores)) for x in (new, old))
    np.testing.assert_allclose(np.diag(new_gradient), [-20.0, -20.0], rtol=1e-5)
    assert np.all(np.abs(np.diag(old_gradient)) < 1e-6)


def test_damsm_word_scores_of_a_caption_without_words_stay_finite(damsm_inputs):
    """No real word: the score is AttnGAN's log(0 + 1e-8) / gamma2, finite, as before logsumexp."""
    regions, words, mask, _, _ = damsm_inputs
    mask = mask.copy()
    mask[1] = 0.0
    got = _np(losses.damsm_word_scores(regions, words * mask[..., None], mask, 4.0, 5.0))
    np.testing.assert_allclose(got[:, 1], np.log(1e-8) / 5.0, rtol=1e-6)
    assert np.all(np.isfinite(got))


def test_damsm_loss_is_the_word_plus_the_sentence_term(damsm_inputs):
    regions, words, mask, image_global, sentence = damsm_inputs
    expected = _matching(_word_scores(_np(regions), _np(words), _np(mask), 4.0, 5.0), 10.0) + _matching(
        _normalise(_np(image_global)) @ _normalise(_np(sentence)).T, 10.0)
    np.testing.assert_allclose(losses.damsm_loss(regions, image_global, words, sentence, mask), expected,
                               rtol=1e-4)


# ---------------------------------------------------------------------------------------------- MirrorGAN terms
def test_kl_loss_and_caption_cross_entropy():
    """KL(N(mu, exp(logvar)) || N(0, I)) averaged over dimensions; the caption cross-entropy
    averages -log p(target) over the real tokens only."""
    mu = np.array([[0.0, 1.0], [0.5, -0.5]], "float32")
    logvar = np.array([[0.0, 0.0], [1.0, -1.0]], "float32")
    expected = 0.5 * np.mean(_np(mu) ** 2 + np.exp(_np(logvar)) - 1.0 - _np(logvar), axis=-1)
    np.testing.assert_allclose(losses.kl_loss(mu, logvar), expected, rtol=1e-6)
    assert float(losses.kl_loss(np.zeros((1, 3), "float32"), np.zeros((1, 3), "float32"))[0]) == 0.0

    logits = np.random.default_rng(2).normal(size=(2, 3, 4)).astype("float32")
    targets = np.array([[1, 2, 0], [3, 0, 0]], "int32")
    mask = (targets != 0).astype("float32")
    log_p = _np(logits) - np.log(np.exp(_np(logits)).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_p, targets[..., None], axis=-1)[..., 0]
    expected = -(picked * mask).sum(-1) / mask.sum(-1)
    np.testing.assert_allclose(losses.caption_cross_entropy(logits, targets, mask), expected, rtol=1e-5)
