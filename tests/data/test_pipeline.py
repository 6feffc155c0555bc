"""The training pipeline's unknown-word noise: what it changes, and that it is deterministic."""
import numpy as np
import tensorflow as tf

from mimnet_tf.data import pipeline, text


def _ids(rows):
    return tf.ragged.constant(rows, dtype=tf.int64)


def test_unknown_word_noise_replaces_and_inserts_unknown_words_at_its_rate():
    rows = [[5 + (i + j) % 20 for j in range(12)] for i in range(400)]
    noisy = pipeline.unknown_word_noise(_ids(rows), 0.2, tf.constant([3, 4], tf.int32))
    again = pipeline.unknown_word_noise(_ids(rows), 0.2, tf.constant([3, 4], tf.int32))
    assert noisy.to_list() == again.to_list()  # stateless: the same seed, the same noise
    lengths = noisy.row_lengths().numpy()
    inserted = (lengths - 12).sum() / (400 * 12)
    flat = np.concatenate(noisy.to_list())
    replaced = (flat == text.UNK_ID).sum() / (400 * 12) - inserted
    assert 0.07 < inserted < 0.13 and 0.07 < replaced < 0.13
    for row, original in zip(noisy.to_list(), rows):  # the known words keep their order
        kept = [w for w in row if w != text.UNK_ID]
        assert kept == [w for w in original if w in kept] and len(kept) >= 12 - row.count(text.UNK_ID)


def test_no_noise_at_rate_zero():
    rows = [[2, 3, 4], [5]]
    assert pipeline.unknown_word_noise(_ids(rows), 0.0, tf.constant([1, 2], tf.int32)).to_list() == rows
