import numpy as np
import pytest
import tensorflow as tf

from mimnet_tf.export.generate_signature import (
    GENERATE, GENERATE_TENSORS, GENERATED_IMAGE, GENERATED_IMAGE_BYTES, GenerateModule, export_generate_saved_model,
    row_noise)
from mimnet_tf.data.text import Vocabulary
from mimnet_tf.images import decode_image
from mimnet_tf.models.mirrorgan_generator import MirrorGANGenerator

MAX_WORDS = 6


@pytest.fixture(scope="module")
def generator_and_vocab(tmp_path_factory):
    vocab = Vocabulary.build(["a red bird with blue wings", "this bird has a white crown"])
    path = vocab.save(str(tmp_path_factory.mktemp("vocab")))
    generator = MirrorGANGenerator(len(vocab), 8, 16, noise_dim=4, condition_dim=3, channels=8, image_size=32,
                                   num_stages=2, num_residual_blocks=1, name="generator")
    generator({"token_ids": tf.ones((1, MAX_WORDS), tf.int32), "noise": tf.zeros((1, 4)),
               "condition_noise": tf.zeros((1, 3))})
    return generator, vocab, path


def test_row_noise_is_keyed_by_text_and_row():
    texts = tf.constant(["a red bird", "a red bird", "blue wings"])
    z, eps = row_noise(texts, 4, 3)
    assert tuple(z.shape) == (3, 4) and tuple(eps.shape) == (3, 3)
    again, _ = row_noise(texts, 4, 3)
    np.testing.assert_array_equal(z, again)
    assert not np.allclose(z[0], z[1])  # the same caption twice: two birds
    first_alone, _ = row_noise(texts[:1], 4, 3)
    np.testing.assert_array_equal(first_alone[0], z[0])  # a row does not depend on the rest of the batch
    assert not np.allclose(z[0, :3], eps[0])  # z and eps are separate streams


def test_the_module_generates_pngs_and_matches_the_generator(generator_and_vocab):
    generator, vocab, path = generator_and_vocab
    module = GenerateModule(generator, path, MAX_WORDS)
    pngs = module.generate(tf.constant(["a red bird", "a red bird"]))[GENERATED_IMAGE_BYTES].numpy()
    images = [decode_image(p) for p in pngs]
    assert all(image.shape == (32, 32, 3) for image in images)
    assert np.abs(images[0].astype(int) - images[1].astype(int)).max() > 0

    ids = np.stack([vocab.encode("a red bird", MAX_WORDS)[0]] * 2)
    z, eps = row_noise(tf.constant(["a red bird", "a red bird"]), 4, 3)
    direct = generator({"token_ids": ids, "noise": z, "condition_noise": eps})["image"].numpy()
    expected = np.clip(np.round((direct + 1.0) * 127.5), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(np.stack(images), expected)
    with pytest.raises(tf.errors.InvalidArgumentError, match="no word of the model vocabulary"):
        module.generate(tf.constant(["zebra quokka"]))


@pytest.mark.slow
def test_the_saved_model_serves_generate_and_generate_tensors(generator_and_vocab, tmp_path):
    generator, vocab, path = generator_and_vocab
    out = export_generate_saved_model(generator, path, MAX_WORDS, str(tmp_path / "saved"))
    loaded = tf.saved_model.load(out)
    assert set(loaded.signatures) == {GENERATE, GENERATE_TENSORS, "serving_default"}
    texts = tf.constant(["a bird with blue wings", "this bird has a white crown"])
    served = loaded.signatures[GENERATE](text=texts)[GENERATED_IMAGE_BYTES].numpy()
    local = GenerateModule(generator, path, MAX_WORDS).generate(texts)[GENERATED_IMAGE_BYTES].numpy()
    for a, b in zip(served, local):
        np.testing.assert_array_equal(decode_image(a), decode_image(b))

    ids = np.stack([vocab.encode("a bird with blue wings", MAX_WORDS)[0]] * 2).astype(np.int32)
    noise = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    condition_noise = np.random.default_rng(1).normal(size=(2, 3)).astype(np.float32)
    tensors = loaded.signatures[GENERATE_TENSORS](token_ids=ids, noise=noise, condition_noise=condition_noise)
    direct = generator({"token_ids": ids, "noise": noise, "condition_noise": condition_noise})["image"]
    np.testing.assert_allclose(tensors[GENERATED_IMAGE], direct, atol=1e-5)
