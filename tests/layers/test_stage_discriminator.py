import numpy as np
import pytest

from mimnet_tf.layers.stage_discriminator import StageDiscriminator, downsamples_for
from tests.layers import harness


def test_downsamples_bring_the_image_to_4x4():
    assert [downsamples_for(s) for s in (8, 16, 32, 64, 256)] == [1, 2, 3, 4, 6]
    for bad in (4, 24, 100):
        with pytest.raises(ValueError, match="power of two"):
            downsamples_for(bad)


def test_logits_and_which_one_reads_the_sentence():
    rng = np.random.default_rng(0)
    discriminator = StageDiscriminator(4, downsamples_for(16))
    images = rng.uniform(-1, 1, size=(3, 16, 16, 3)).astype("float32")
    sentence = rng.normal(size=(3, 6)).astype("float32")
    out = discriminator(images, sentence)
    assert tuple(out["unconditional_logit"].shape) == (3,)
    assert tuple(out["conditional_logit"].shape) == (3,)
    assert out["conditional_logit"].dtype == "float32"

    other = discriminator(images, sentence[::-1].copy())
    np.testing.assert_array_equal(other["unconditional_logit"], out["unconditional_logit"])
    assert np.max(np.abs(np.asarray(other["conditional_logit"]) - np.asarray(out["conditional_logit"]))) > 1e-6

    # The same image gives the same logits wherever it sits in the batch.
    single = discriminator(images[1:2], sentence[1:2])
    np.testing.assert_allclose(single["conditional_logit"][0], out["conditional_logit"][1], rtol=1e-5, atol=1e-6)


def test_a_trunk_of_the_wrong_depth_is_an_error():
    with pytest.raises(ValueError, match="log2"):
        StageDiscriminator(4, 2)(np.zeros((1, 32, 32, 3), "float32"), np.zeros((1, 6), "float32"))


def test_layer_behaviours(tmp_path):
    """Forward pass, config round trip (the same outputs with the same weights) and .keras save/reload."""
    rng = np.random.default_rng(1)
    inputs = {"images": rng.uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32"),
              "sentence": rng.normal(size=(2, 6)).astype("float32")}
    harness.run_layer_test(StageDiscriminator, {"channels": 4, "num_downsamples": 3}, inputs,
                           {"conditional_logit": (2,), "unconditional_logit": (2,)}, tmp_path,
                           litert_skip_reason=harness.TRAINING_ONLY)
