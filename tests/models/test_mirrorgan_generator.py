import numpy as np
import pytest

from mimnet_tf.models.mirrorgan_generator import MirrorGANGenerator, stage_sizes


def test_stage_sizes():
    assert stage_sizes(64, 2) == (32, 64)
    assert stage_sizes(256, 3) == (64, 128, 256)
    assert stage_sizes(64, 3) == (16, 32, 64)
    assert stage_sizes(32, 1) == (32,)
    assert stage_sizes(32, 3) == (8, 16, 32)
    with pytest.raises(ValueError, match="first stage"):
        stage_sizes(32, 4)  # a 4 px first stage: no room for the initial upsampling
    with pytest.raises(ValueError, match="first stage"):
        stage_sizes(48, 2)


def _generator():
    return MirrorGANGenerator(20, 8, 16, noise_dim=4, condition_dim=3, channels=8, image_size=32, num_stages=2,
                              num_residual_blocks=1, name="generator")


def test_generator_gives_one_image_per_stage_in_range():
    generator = _generator()
    rng = np.random.default_rng(0)
    tokens = np.array([[3, 4, 5, 0, 0, 0], [6, 0, 0, 0, 0, 0]], "int32")
    out = generator({"token_ids": tokens, "noise": rng.normal(size=(2, 4)).astype("float32"),
                     "condition_noise": rng.normal(size=(2, 3)).astype("float32")})
    assert [tuple(x.shape) for x in out["images"]] == [(2, 16, 16, 3), (2, 32, 32, 3)]
    assert out["image"] is out["images"][-1]
    for image in out["images"]:
        assert np.all(np.abs(np.asarray(image)) <= 1.0)
    assert tuple(out["mu"].shape) == (2, 3) and tuple(out["logvar"].shape) == (2, 3)
    attention = np.asarray(out["word_attention"][0])
    assert attention.shape == (2, 16 * 16, 6)
    np.testing.assert_array_equal(attention[0, :, 3:], 0.0)
    np.testing.assert_array_equal(attention[1, :, 1:], 0.0)


def test_noise_changes_the_image_and_the_same_inputs_give_the_same_image():
    generator = _generator()
    tokens = np.array([[3, 4, 5, 0, 0, 0]], "int32")
    a = generator({"token_ids": tokens, "noise": np.zeros((1, 4), "float32")})["image"]
    b = generator({"token_ids": tokens, "noise": np.zeros((1, 4), "float32")})["image"]
    c = generator({"token_ids": tokens, "noise": np.ones((1, 4), "float32")})["image"]
    np.testing.assert_array_equal(a, b)
    assert np.max(np.abs(np.asarray(a) - np.asarray(c))) > 1e-4


def test_config_round_trip():
    generator = _generator()
    clone = MirrorGANGenerator.from_config(generator.get_config())
    assert clone.sizes == (16, 32)
    assert clone.get_config() == generator.get_config()
