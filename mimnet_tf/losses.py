"""Loss functions: pure functions of logits, features and masks.

Every function returns a per-example loss of shape (batch,) so that the training step can
average it over the global batch with `tf.nn.compute_average_loss` (identical under one or many
replicas). Probabilities never appear: the discriminators give logits (reality) and log-scores
(conformity), and every log is taken in log space.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
from keras import ops

from mimnet_tf.config import SWAP_LOCALISATION_POOLS
from mimnet_tf.layers.attention import masked_softmax
from mimnet_tf.layers.resampling import area_downsample

_EPS = 1e-8


def _mean_over_non_batch(x):
    return ops.mean(ops.reshape(x, (ops.shape(x)[0], -1)), axis=-1)


def log1mexp(log_p):
    """log(1 - exp(log_p)) for log_p <= 0, stable at both ends (Maechler 2012)."""
    log_p = ops.minimum(log_p, -1e-7)
    return ops.where(log_p > -0.6931472, ops.log(-ops.expm1(log_p)), ops.log1p(-ops.exp(log_p)))


def l1(a, b):
    """Mean absolute difference per example: (batch, ...) x2 -> (batch,)."""
    return _mean_over_non_batch(ops.abs(ops.cast(a, "float32") - ops.cast(b, "float32")))


def real_loss(logits):
    """-log sigmoid(logit) = softplus(-logit): the 'this is real' term."""
    return ops.softplus(-ops.cast(logits, "float32"))


def fake_loss(logits):
    """-log(1 - sigmoid(logit)) = softplus(logit): the 'this is fake' term."""
    return ops.softplus(ops.cast(logits, "float32"))


def reconstruction_loss(outputs, image, coarse_weight=1.0, fine_weight=1.0, pixel_weights=None):
    """Eq. 14: L1 of each stage's image to the (downsampled) input. -> (batch,).

    `pixel_weights` (batch, S, S, 1), optional: per-pixel weights of the L1 (e.g. more weight
    where colour swap repainted the input); None is the paper's plain mean.
    """
    size = outputs["coarse"].shape[1:3]
    coarse_target = area_downsample(image, size)
    if pixel_weights is None:
        return coarse_weight * l1(outputs["coarse"], coarse_target) + fine_weight * l1(outputs["fine"], image)
    coarse_weights = area_downsample(pixel_weights, size)
    coarse = _mean_over_non_batch(coarse_weights * ops.abs(ops.cast(outputs["coarse"], "float32") - coarse_target))
    fine = _mean_over_non_batch(pixel_weights * ops.abs(ops.cast(outputs["fine"], "float32") - image))
    return coarse_weight * coarse + fine_weight * fine


def swap_localisation_loss(localisation_logits, repainted, pool: str = "area", balance: bool = False):
    """Binary cross-entropy of the TLU map A = sigmoid(logits) (logits: batch, h, w, 1) against
    where colour swap repainted the input (batch, S, S), reduced to A's size. -> (batch,). Not in
    the paper.

    Computed from the logits (`-log A = softplus(-logit)`, `-log(1 - A) = softplus(logit)`), so
    a saturated cell still has its gradient `A - target`.

    `repainted` is in [0, 1], or above 1 for small regions under --colour_swap_area_reference.
    pool: "area" - a cell's target is the repainted share of its pixels; "max" - a cell with any
        repainted pixel is a target 1 (a part a few pixels wide still marks whole cells of A).
    balance: the positive term of a cell is weighted by the region's area weight (>= 1), so a
        small repainted part (a beak, a tail) counts in the loss like a wing does.
    """
    if pool not in SWAP_LOCALISATION_POOLS:
        raise ValueError(f"pool={pool!r}: expected one of {SWAP_LOCALISATION_POOLS}")
    size = localisation_logits.shape[1:3]
    repainted = ops.cast(repainted, "float32")[..., None]
    factor = repainted.shape[1] // size[0]

    def cell_max(x):
        return ops.max_pool(x, factor, factor) if factor > 1 else x

    share = ops.clip(repainted, 0.0, 1.0)
    target = cell_max(share) if pool == "max" else area_downsample(share, size)
    positive_weight = ops.maximum(cell_max(repainted), 1.0) if balance else 1.0
    logits = ops.cast(localisation_logits, "float32")
    return _mean_over_non_batch(positive_weight * target * real_loss(logits) + (1.0 - target) * fake_loss(logits))


def pseudo_ground_truth_loss(localisation_map, image_features, texture_global, normalised=False):
    """Eq. 15: L1 between TLU-pooled image features and the global texture feature.

    Paper: `p = (1 / HW) sum_hw A_hw F_I[h, w]`. With `normalised`, `p = sum A F / sum A`, a
    weighted mean that cannot be minimised by shrinking A and t together. The image features
    are the target (gradient stopped): they must not move towards the text.

    Shapes: A (batch, h, w, 1), F_I (batch, h, w, c), t (batch, c) -> (batch,).
    """
    a = ops.cast(localisation_map, "float32")
    features = ops.stop_gradient(ops.cast(image_features, "float32"))
    pooled = ops.sum(a * features, axis=(1, 2))
    if normalised:
        pooled = pooled / (ops.sum(a, axis=(1, 2)) + 1e-6)
    else:
        pooled = pooled / float(a.shape[1] * a.shape[2])
    return ops.mean(ops.abs(pooled - ops.cast(texture_global, "float32")), axis=-1)


def discriminator_reality_loss(real_logits, fake_logits):
    """First two terms of Eq. 17: -log D_r(I) - log(1 - D_r(G(I, T'))). -> (batch,)."""
    return real_loss(real_logits) + fake_loss(fake_logits)


def discriminator_conformity_loss(log_conformity_matched, log_conformity_mismatched):
    """Last two terms of Eq. 17: -log D_t(I, T) - log(1 - D_t(I, T')). -> (batch,)."""
    return -ops.cast(log_conformity_matched, "float32") - log1mexp(ops.cast(log_conformity_mismatched, "float32"))


def generator_conformity_loss(log_conformity):
    """Eq. 19: -log D_t(G(I, T'), T'). -> (batch,)."""
    return -ops.cast(log_conformity, "float32")


def random_memory_weights(seed, batch, words, memory_size, concentration=0.0):
    """Random word->memory attention weights for Eq. 16, (batch, words, memory_size).

    concentration <= 0: the paper's "uniform then normalised" draw. concentration > 0: a
    Dirichlet(concentration) draw (small values give peaked weights, so that the texture is a
    few memories, not their mean). `seed` is a stateless seed, shape (2,) int32.
    """
    shape = (batch, words, memory_size)
    if concentration <= 0:
        u = tf.random.stateless_uniform(shape, seed, minval=1e-6, maxval=1.0)
        return u / tf.reduce_sum(u, axis=-1, keepdims=True)
    g = tf.random.stateless_gamma(shape, seed, alpha=concentration)
    g = g + 1e-12
    return g / tf.reduce_sum(g, axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# DAMSM (AttnGAN): word-region and sentence-image matching.
# ---------------------------------------------------------------------------------------------

def damsm_word_scores(regions, words, mask, gamma1=4.0, gamma2=5.0):
    """Word-region matching score R(Q_i, D_j) of every image i with every caption j.

    regions: (B, R, d) local image features; words: (B, L, d); mask: (B, L).
    Each word attends over regions (softmax over regions of gamma1-scaled cosine similarity,
    AttnGAN normalises over words first), giving a region context c_j; the score is
    log(sum_j exp(gamma2 cos(c_j, w_j)))^(1/gamma2) over non-pad words. -> (B_img, B_txt).
    """
    regions = ops.cast(regions, "float32")
    words = ops.cast(words, "float32")
    mask = ops.cast(mask, "float32")
    rn = regions / (ops.norm(regions, axis=-1, keepdims=True) + _EPS)
    wn = words / (ops.norm(words, axis=-1, keepdims=True) + _EPS)
    # similarity[i, j, l, r] between word l of caption j and region r of image i.
    sim = ops.einsum("ird,jld->ijlr", rn, wn)
    # AttnGAN: normalise over words, then attention over regions.
    word_norm = masked_softmax(sim, mask[None, :, :, None], axis=2)
    attention = ops.softmax(gamma1 * word_norm, axis=-1)
    context = ops.einsum("ijlr,ird->ijld", attention, regions)
    cn = context / (ops.norm(context, axis=-1, keepdims=True) + _EPS)
    cos = ops.sum(cn * wn[None], axis=-1)  # (i, j, l)
    # log(sum_j exp(gamma2 cos_j) + eps) as one logsumexp: the eps term keeps a caption without
    # words finite (log(eps) / gamma2), as AttnGAN's formula does.
    scaled = ops.where(mask[None] > 0, gamma2 * cos, -np.inf)
    eps_term = ops.zeros_like(scaled[..., :1]) + np.log(_EPS)
    return ops.logsumexp(ops.concatenate([scaled, eps_term], axis=-1), axis=-1) / gamma2


def cosine_matrix(a, b):
    """(B, d) x (B, d) -> (B, B) cosine similarities."""
    a = ops.cast(a, "float32")
    b = ops.cast(b, "float32")
    an = a / (ops.norm(a, axis=-1, keepdims=True) + _EPS)
    bn = b / (ops.norm(b, axis=-1, keepdims=True) + _EPS)
    return ops.matmul(an, ops.transpose(bn))


def matching_loss(scores, gamma3=10.0, same_class=None):
    """Both-direction batch softmax of a (B, B) score matrix with matches on the diagonal.

    -log P(D_i | Q_i) - log P(Q_i | D_i) with P = softmax(gamma3 * scores); entries that are
    other examples of the same class (`same_class`, (B, B) bool) are excluded as negatives,
    as AttnGAN does. -> (batch,).
    """
    scores = gamma3 * ops.cast(scores, "float32")
    size = ops.shape(scores)[0]
    eye = ops.eye(size, dtype="float32")
    valid = ops.ones_like(scores)
    if same_class is not None:
        valid = ops.maximum(1.0 - ops.cast(same_class, "float32"), eye)
    # -log softmax of the diagonal = logsumexp over the valid entries - the diagonal; the
    # diagonal is always valid, so every logsumexp is finite.
    candidates = ops.where(valid > 0, scores, -np.inf)
    matched = ops.diagonal(scores)
    return (ops.logsumexp(candidates, axis=1) - matched) + (ops.logsumexp(candidates, axis=0) - matched)


def damsm_loss(regions, image_global, words, sentence, mask, same_class=None,
               gamma1=4.0, gamma2=5.0, gamma3=10.0):
    """DAMSM loss (word + sentence terms) of a batch of matched pairs. -> (batch,)."""
    word_term = matching_loss(damsm_word_scores(regions, words, mask, gamma1, gamma2), gamma3, same_class)
    sentence_term = matching_loss(cosine_matrix(image_global, sentence), gamma3, same_class)
    return word_term + sentence_term


# ---------------------------------------------------------------------------------------------
# MirrorGAN terms.
# ---------------------------------------------------------------------------------------------

def kl_loss(mu, logvar):
    """Conditioning augmentation KL to N(0, I): 0.5 * mean(mu^2 + exp(logvar) - 1 - logvar). -> (batch,)."""
    mu = ops.cast(mu, "float32")
    logvar = ops.cast(logvar, "float32")
    return 0.5 * ops.mean(ops.square(mu) + ops.exp(logvar) - 1.0 - logvar, axis=-1)


def caption_cross_entropy(logits, targets, mask):
    """Sum over real tokens of -log p(target), divided by the number of real tokens. -> (batch,).

    logits: (batch, L, V); targets: (batch, L) int; mask: (batch, L).
    """
    logits = ops.cast(logits, "float32")
    log_probs = ops.log_softmax(logits, axis=-1)
    picked = ops.take_along_axis(log_probs, ops.cast(targets, "int32")[..., None], axis=-1)[..., 0]
    mask = ops.cast(mask, "float32")
    return -ops.sum(picked * mask, axis=-1) / ops.maximum(ops.sum(mask, axis=-1), 1.0)
