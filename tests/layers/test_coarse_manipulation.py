"""CoarseManipulation (ICM, Eq. 4-8): shapes, the global texture of Eq. 4, the TLU fusion of
Eq. 7, and the optional word attention and its image-feature queries."""
import keras
import numpy as np

from mimnet_tf.layers.coarse_manipulation import CoarseManipulation
from mimnet_tf.layers.image_encoder import ImageEncoder
from tests.layers import harness
from tests.layers.numpy_reference import MASK, as_float64


def _icm_inputs(seed=6):
    rng = np.random.default_rng(seed)
    image = rng.uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")
    texture = rng.normal(size=(2, 5, 32)).astype("float32") * MASK[..., None]
    boundary = rng.normal(size=(2, 8, 8, 32)).astype("float32")
    return image, texture, boundary


def test_layer_behaviours(tmp_path):
    """Forward pass, config round trip, .keras save/reload and LiteRT (ICM is on the export path),
    with the TLU, the gated image skips and the word attention all on."""
    rng = np.random.default_rng(8)
    _, texture, boundary = _icm_inputs()
    levels = [rng.normal(size=shape).astype("float32") for shape in ((2, 32, 32, 8), (2, 16, 16, 16), (2, 8, 8, 32))]
    inputs = {"texture": texture, "mask": MASK, "image_features": levels, "boundary_features": boundary}
    harness.run_layer_test(
        CoarseManipulation, {"channels": 32, "upsample_levels": 1, "use_tlu": True, "tlu_init_bias": 0.5,
                             "num_residual_blocks": 1, "image_skips": True, "word_attention": True},
        inputs, {"coarse": (2, 16, 16, 3), "localisation_logits": (2, 8, 8, 1), "localisation_map": (2, 8, 8, 1),
                 "manipulated_features": (2, 8, 8, 32), "texture_global": (2, 32), "upsampled": (2, 16, 16, 32),
                 "word_attention": (2, 64, 5)}, tmp_path)


def test_icm_shapes_and_the_global_texture_of_eq_4():
    """ICM: coarse image at S/2 in [-1, 1], A at the feature size, U at S/2 (the UpBlock's width
    plus the gated skip's), and t = W_g mean_j(t_j) over real words (Eq. 4)."""
    keras.utils.set_random_seed(9)
    image, texture, boundary = _icm_inputs()
    levels = ImageEncoder(8, 4)(image)
    assert [tuple(x.shape) for x in levels] == [(2, 32, 32, 8), (2, 16, 16, 16), (2, 8, 8, 32)]
    icm = CoarseManipulation(32, upsample_levels=1, image_skips=True)
    out = icm(texture, MASK, levels, boundary)
    assert tuple(out["coarse"].shape) == (2, 16, 16, 3)
    assert np.all(np.abs(as_float64(out["coarse"])) <= 1.0)
    assert tuple(out["localisation_map"].shape) == (2, 8, 8, 1)
    assert tuple(out["manipulated_features"].shape) == (2, 8, 8, 32)
    assert tuple(out["upsampled"].shape) == (2, 16, 16, icm.output_channels + 16)
    kernel, bias = (as_float64(w) for w in icm.global_projection.get_weights())
    mean = (as_float64(texture) * MASK[..., None]).sum(1) / MASK.sum(1, keepdims=True)
    np.testing.assert_allclose(out["texture_global"], mean @ kernel + bias, rtol=1e-5, atol=1e-5)


def test_icm_fuses_by_the_tlu_map_eq_7():
    """Eq. 7, F = A F_c + (1 - A) F_I: with A = 1 (no TLU) the coarse image cannot depend on the
    image features (the gated skips are closed too); with the TLU it does."""
    keras.utils.set_random_seed(10)
    image, texture, boundary = _icm_inputs()
    levels = ImageEncoder(8, 4)(image)
    other = [x + 1.0 for x in levels]
    without = CoarseManipulation(32, 1, use_tlu=False, image_skips=True)
    np.testing.assert_array_equal(without(texture, MASK, levels, boundary)["localisation_map"], 1.0)
    assert "localisation_logits" not in without(texture, MASK, levels, boundary)
    np.testing.assert_allclose(without(texture, MASK, levels, boundary)["coarse"],
                               without(texture, MASK, other, boundary)["coarse"], atol=1e-6)
    with_tlu = CoarseManipulation(32, 1, use_tlu=True, image_skips=True)
    a = as_float64(with_tlu(texture, MASK, levels, boundary)["coarse"])
    b = as_float64(with_tlu(texture, MASK, other, boundary)["coarse"])
    assert np.max(np.abs(a - b)) > 1e-4


def test_icm_word_attention_gives_a_text_context_beyond_the_global_texture():
    """With the global t zeroed, F_c still depends on the words only through the word attention."""
    rng = np.random.default_rng(3)
    boundary = keras.ops.convert_to_tensor(rng.normal(size=(1, 4, 4, 32)).astype("float32"))
    mask = keras.ops.ones((1, 3))
    texture_a = keras.ops.convert_to_tensor(rng.normal(size=(1, 3, 32)).astype("float32"))
    texture_b = keras.ops.convert_to_tensor(rng.normal(size=(1, 3, 32)).astype("float32"))
    outputs = {}
    for attend in (False, True):
        icm = CoarseManipulation(32, 1, image_skips=False, word_attention=attend)
        icm.localise(texture_a, mask, boundary)
        for weight in icm.global_projection.weights:  # t = W_g mean(t_j) = 0 for every text
            weight.assign(np.zeros(weight.shape, "float32"))
        localised = icm.localise(texture_a, mask, boundary)
        assert ("word_attention" in localised) == attend  # its weights, (1, 4 * 4, 3), when it has one
        if attend:
            assert tuple(localised["word_attention"].shape) == (1, 16, 3)
        a = localised["manipulated_features"]
        b = icm.localise(texture_b, mask, boundary)["manipulated_features"]
        outputs[attend] = float(np.abs(np.asarray(a) - np.asarray(b)).max())
        restored = CoarseManipulation.from_config(icm.get_config())
        assert (restored.word_attention is not None) == attend
    assert outputs[False] == 0.0
    assert outputs[True] > 1e-3


def test_icm_query_features_join_the_boundary_features_as_the_word_attention_query():
    """`query_features` (the image features under --icm_query_image) change F_c only through the
    word attention's queries: same boundary and words, other query features -> other F_c."""
    rng = np.random.default_rng(4)
    boundary = keras.ops.convert_to_tensor(rng.normal(size=(1, 4, 4, 32)).astype("float32"))
    texture = keras.ops.convert_to_tensor(rng.normal(size=(1, 3, 32)).astype("float32"))
    mask = keras.ops.ones((1, 3))
    query_a, query_b = (keras.ops.convert_to_tensor(rng.normal(size=(1, 4, 4, 16)).astype("float32")) for _ in "ab")
    icm = CoarseManipulation(32, 1, image_skips=False, word_attention=True)
    a = icm.localise(texture, mask, boundary, query_features=query_a)
    assert tuple(icm.word_attention.query.kernel.shape) == (32 + 16, 32)
    b = icm.localise(texture, mask, boundary, query_features=query_b)
    assert float(np.abs(as_float64(a["manipulated_features"]) - as_float64(b["manipulated_features"])).max()) > 1e-4
    np.testing.assert_allclose(as_float64(a["texture_global"]), as_float64(b["texture_global"]))
