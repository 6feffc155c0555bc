"""FineRefinement (FIR, Eq. 10-11): shapes, and a word attention that ignores pads."""
import keras
import numpy as np

from mimnet_tf.layers.refinement import FineRefinement
from tests.layers import harness
from tests.layers.numpy_reference import MASK, as_float64


def _fir_inputs():
    """FIR's inputs at S = 32: U (2, 16, 16, 24), textures (2, 5, 32), A (2, 8, 8, 1), skip (2, 32, 32, 8)."""
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(3)
    return (rng.normal(size=(2, 16, 16, 24)).astype("float32"), rng.normal(size=(2, 5, 32)).astype("float32"),
            rng.uniform(size=(2, 8, 8, 1)).astype("float32"), rng.normal(size=(2, 32, 32, 8)).astype("float32"))


def test_layer_behaviours(tmp_path):
    """Forward pass, config round trip, .keras save/reload and LiteRT (FIR draws the exported image)."""
    upsampled, texture, localisation, full = _fir_inputs()
    inputs = {"upsampled": upsampled, "texture": texture, "mask": MASK, "localisation_map": localisation,
              "full_resolution_features": full}
    harness.run_layer_test(FineRefinement, {"channels": 16, "map_upsample": 4, "image_skips": True}, inputs,
                           {"fine": (2, 32, 32, 3), "word_attention": (2, 256, 5)}, tmp_path)


def test_fir_shapes_and_its_word_attention_ignores_pads():
    """FIR (Eq. 10-11): the fine image at S in [-1, 1], attention (B, (S/2)^2, L) with zero weight
    on pads and rows summing to 1; what the pad textures hold does not change the image."""
    upsampled, texture, localisation, full = _fir_inputs()
    fir = FineRefinement(16, map_upsample=4, image_skips=True)
    out = fir(upsampled, texture, MASK, localisation, full)
    assert tuple(out["fine"].shape) == (2, 32, 32, 3)
    assert np.all(np.abs(as_float64(out["fine"])) <= 1.0)
    attention = as_float64(out["word_attention"])
    assert attention.shape == (2, 256, 5)
    np.testing.assert_array_equal(attention[MASK[:, None, :].repeat(256, 1) == 0], 0.0)
    np.testing.assert_allclose(attention.sum(-1), 1.0, rtol=1e-5)
    noisy = texture.copy()
    noisy[MASK == 0] = 100.0
    np.testing.assert_allclose(fir(upsampled, noisy, MASK, localisation, full)["fine"], out["fine"],
                               rtol=1e-5, atol=1e-5)
