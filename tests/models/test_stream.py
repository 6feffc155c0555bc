import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from mimnet_tf.data.text import Vocabulary
from mimnet_tf.models.stream import STREAM, decoder_sequences, stream_from_dir


def _stream(vocab_size=12, max_length=8):
    stream = STREAM(vocab_size, embed_dim=8, hidden_dim=12, base_channels=4, downsample=4, max_length=max_length,
                    name="stream")
    stream.build_all(16, 5)
    return stream


def test_decoder_sequences_put_the_end_at_the_first_pad():
    targets, mask = decoder_sequences(np.array([[5, 6, 0, 0], [7, 8, 9, 3], [0, 0, 0, 0]], "int32"))
    np.testing.assert_array_equal(targets, [[5, 6, 0, 0, 0], [7, 8, 9, 3, 0], [0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(mask, [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])


def test_caption_loss_matches_a_hand_computed_value():
    stream = _stream(vocab_size=3)
    # Caption [2]: targets (2, <end>=0, -), mask (1, 1, 0).
    logits = np.array([[[0.0, 0.0, np.log(3.0)], [np.log(4.0), 0.0, 0.0], [9.0, -9.0, 5.0]]], "float32")
    # p(2 at t=0) = 3 / 5, p(0 at t=1) = 4 / 6; mean of the two negative logs.
    expected = -(np.log(3 / 5) + np.log(4 / 6)) / 2
    np.testing.assert_allclose(stream.caption_loss(logits, np.array([[2, 0]], "int32")), [expected], rtol=1e-6)


def test_logits_are_causal_and_pads_after_the_end_change_nothing():
    stream = _stream()
    images = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    tokens = np.array([[3, 4, 5, 0, 0], [6, 7, 0, 0, 0]], "int32")
    logits = np.asarray(stream({"image": images, "token_ids": tokens}))
    assert logits.shape == (2, 6, 12)

    changed = tokens.copy()
    changed[0, 1] = 9  # the second word: only steps after it (t >= 2) may change
    other = np.asarray(stream({"image": images, "token_ids": changed}))
    np.testing.assert_allclose(other[0, :2], logits[0, :2], rtol=1e-5, atol=1e-6)
    assert np.max(np.abs(other[0, 2:] - logits[0, 2:])) > 1e-6
    np.testing.assert_allclose(other[1], logits[1], rtol=1e-5, atol=1e-6)

    loss = np.asarray(stream.redescription_loss(images, tokens))
    targets, mask = decoder_sequences(tokens)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_p, np.asarray(targets)[..., None], -1)[..., 0]
    mask = np.asarray(mask)
    np.testing.assert_allclose(loss, -(picked * mask).sum(-1) / mask.sum(-1), rtol=1e-5)


def test_frozen_stream_passes_gradients_to_images_and_keeps_its_statistics():
    stream = _stream()
    stream.trainable = False
    images = tf.Variable(np.random.default_rng(1).uniform(-1, 1, (2, 16, 16, 3)).astype("float32"))
    before = [v.numpy().copy() for v in stream.variables]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(stream.redescription_loss(images, np.array([[3, 4, 0, 0, 0]] * 2, "int32")))
    gradient = tape.gradient(loss, images)
    assert float(tf.reduce_max(tf.abs(gradient))) > 0.0
    for old, new in zip(before, stream.variables):
        np.testing.assert_array_equal(old, new.numpy())


def test_too_long_captions_are_refused():
    stream = _stream(max_length=6)
    with pytest.raises(ValueError, match="at most 5 words"):
        stream({"image": np.zeros((1, 16, 16, 3), "float32"), "token_ids": np.ones((1, 6), "int32")})


def test_training_learns_to_redescribe_a_caption_then_greedy_decoding_reads_it_back():
    keras.utils.set_random_seed(0)
    stream = _stream()
    stream.compile(optimizer=keras.optimizers.Adam(2e-2))
    vocab = Vocabulary(["<pad>", "<unk>"] + [f"w{i}" for i in range(10)])
    tokens = np.array([[4, 7, 5, 0, 0]] * 4, "int32")
    images = np.random.default_rng(2).uniform(-1, 1, (4, 16, 16, 3)).astype("float32")
    step = tf.function(stream.train_step)
    first = float(step({"image": images, "token_ids": tokens})["loss"])
    for _ in range(45):
        step({"image": images, "token_ids": tokens})
    last = float(np.mean(stream.redescription_loss(images, tokens)))
    assert last < 0.1 * first
    ids = np.asarray(stream.greedy_ids(images))
    assert ids.shape == (4, 8)
    np.testing.assert_array_equal(ids[:, :4], [[4, 7, 5, 0]] * 4)
    np.testing.assert_array_equal(ids[:, 3:], 0)  # nothing after the end
    assert stream.caption(images[:1], vocab) == ["w2 w5 w3"]


@pytest.fixture
def pretrained(mirrorgan_setup):
    config, _, summary = mirrorgan_setup
    return config, summary


def test_pretraining_writes_a_directory_that_loads_frozen(pretrained):
    config, summary = pretrained
    stream_dir = config.model.stream_dir
    for name in ("config.json", "vocab.txt", "stream_summary.json", "stream_log.jsonl"):
        assert os.path.exists(os.path.join(stream_dir, name))
    assert summary["steps"] == 80 and np.isfinite(summary["test_loss"])
    assert 0.0 <= summary["test_token_accuracy"] <= 1.0
    assert len(summary["samples"]) == 2 and all(isinstance(s["generated"], str) for s in summary["samples"])

    vocab = Vocabulary.load(config.data.prepared_dir)
    stream = stream_from_dir(stream_dir, vocab)
    assert not stream.trainable and stream.trainable_variables == []
    again = stream_from_dir(stream_dir)
    images = np.random.default_rng(3).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    tokens = np.array([[2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]] * 2, "int32")
    np.testing.assert_allclose(stream.redescription_loss(images, tokens), again.redescription_loss(images, tokens))


def test_loading_refuses_another_vocabulary_or_a_missing_directory(pretrained, tmp_path):
    config, _ = pretrained
    with pytest.raises(ValueError, match="another vocabulary"):
        stream_from_dir(config.model.stream_dir, Vocabulary(["<pad>", "<unk>", "bird"]))
    with pytest.raises(FileNotFoundError, match="pretrain_stream"):
        stream_from_dir(str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match="stream_dir"):
        stream_from_dir("")


def test_a_stream_built_for_captions_longer_than_twenty_words_takes_them():
    from mimnet_tf.config import ModelConfig
    from mimnet_tf.models.stream import build_stream

    config = ModelConfig(vocab_size=12, stream_embed_dim=8, stream_hidden_dim=12, base_channels=4,
                         feature_downsample=4, max_words=24, image_size=16)
    stream = build_stream(config)
    tokens = np.full((1, 24), 3, "int32")
    logits = stream({"image": np.zeros((1, 16, 16, 3), "float32"), "token_ids": tokens})
    assert logits.shape == (1, 25, 12)
