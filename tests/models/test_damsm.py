"""DAMSM (models/damsm.py): encoder shapes, its loss, and that its pretraining step learns.

A tiny DAMSM (16 px images, 4x4 regions, 8-wide text space) on four image-caption pairs whose
captions name the image's colour: a few train steps lower the DAMSM loss, and the pairs it was
trained on then score higher than mismatched ones.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from mimnet_tf import losses
from mimnet_tf.models.damsm import DAMSM, DAMSMImageEncoder

VOCAB_SIZE = 8
SIZE = 16
COLOURS = np.array([[0.9, -0.9, -0.9], [-0.9, 0.9, -0.9], [-0.9, -0.9, 0.9], [0.9, 0.9, -0.9]], "float32")


def colour_batch(seed=0):
    """Four images, each one colour (plus noise), and a caption "<colour word> bird <pad>"."""
    rng = np.random.default_rng(seed)
    images = COLOURS[:, None, None, :] + rng.normal(0, 0.1, size=(4, SIZE, SIZE, 3))
    tokens = np.array([[2 + i, 6, 0, 0] for i in range(4)], "int32")
    return {"image": tf.constant(np.clip(images, -1, 1).astype("float32")), "token_ids": tf.constant(tokens)}


def make_damsm(seed=0) -> DAMSM:
    keras.utils.set_random_seed(seed)
    damsm = DAMSM(VOCAB_SIZE, embed_dim=8, text_dim=8, base_channels=8, downsample=4, name="damsm")
    damsm(colour_batch())
    damsm.compile(optimizer=keras.optimizers.Adam(3e-3, beta_1=0.5))
    return damsm


@pytest.fixture(scope="module")
def trained():
    """(DAMSM, batch, loss before, loss after) after 30 pretraining steps on the colour batch."""
    damsm = make_damsm()
    batch = colour_batch()

    def loss():
        word, sentence = damsm.losses_of(damsm(batch))
        return float(np.mean(word + sentence))

    before = loss()
    step = tf.function(damsm.train_step)
    for _ in range(30):
        step(batch)
    return damsm, batch, before, loss()


def test_damsm_output_shapes_and_config_round_trip():
    """regions (B, (S/ds)^2, text_dim), global (B, text_dim), words (B, L, text_dim), sentence,
    mask; both the DAMSM and its image encoder rebuild from their configs."""
    damsm = make_damsm(seed=1)
    batch = colour_batch()
    out = damsm(batch)
    assert tuple(out["regions"].shape) == (4, (SIZE // 4) ** 2, 8)
    assert tuple(out["global"].shape) == (4, 8)
    assert tuple(out["words"].shape) == (4, 4, 8)
    assert tuple(out["sentence"].shape) == (4, 8)
    np.testing.assert_array_equal(out["mask"], (batch["token_ids"].numpy() != 0).astype("float32"))
    clone = DAMSM.from_config(damsm.get_config())
    assert clone.get_config() == damsm.get_config()
    encoder = damsm.image_encoder
    assert DAMSMImageEncoder.from_config(encoder.get_config()).get_config() == encoder.get_config()


def test_damsm_losses_are_the_matching_losses_with_same_class_pairs_excluded():
    """`losses_of` = (word term, sentence term) of losses.py; with labels, other examples of the
    same class are no negatives (and a negative label means "no class")."""
    damsm = make_damsm(seed=2)
    out = damsm(colour_batch())
    labels = np.array([0, 0, 1, -1])
    word, sentence = damsm.losses_of(out, labels)
    same = (labels[:, None] == labels[None, :]) & (labels[:, None] >= 0)
    g1, g2, g3 = damsm.gammas
    expected_word = losses.matching_loss(losses.damsm_word_scores(out["regions"], out["words"], out["mask"], g1, g2),
                                         g3, same)
    expected_sentence = losses.matching_loss(losses.cosine_matrix(out["global"], out["sentence"]), g3, same)
    np.testing.assert_allclose(word, expected_word, rtol=1e-5)
    np.testing.assert_allclose(sentence, expected_sentence, rtol=1e-5)
    plain_word, _ = damsm.losses_of(out)
    assert not np.allclose(plain_word, word)  # the exclusion changes examples 0 and 1


def test_pretraining_lowers_the_damsm_loss(trained):
    """30 train steps on four pairs lower the word + sentence loss substantially."""
    _, _, before, after = trained
    assert np.isfinite(after)
    assert after < 0.5 * before, (before, after)


def test_trained_pairs_score_higher_than_mismatched_ones(trained):
    """After those steps, each image's sentence cosine (the Sim metric) with its own caption is
    higher than with any other caption of the batch."""
    damsm, batch, _, _ = trained
    matched = np.asarray(damsm.similarity(batch["image"], batch["token_ids"]))
    for shift in (1, 2, 3):
        other = np.asarray(damsm.similarity(batch["image"], tf.roll(batch["token_ids"], shift, axis=0)))
        assert np.all(matched > other), (shift, matched, other)
