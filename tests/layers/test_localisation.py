"""TargetLocalisationUnit (Eq. 9): A in [0, 1] recomputed in numpy, and the disabled TLU."""
import keras
import numpy as np

from mimnet_tf.layers.localisation import TargetLocalisationUnit
from tests.layers import harness
from tests.layers.numpy_reference import as_float64, sigmoid


def test_layer_behaviours(tmp_path):
    """Forward pass, config round trip, .keras save/reload and LiteRT (A is an exported output)."""
    rng = np.random.default_rng(8)
    inputs = {"texture_global": rng.normal(size=(2, 8)).astype("float32"),
              "coarse_features": rng.normal(size=(2, 4, 4, 8)).astype("float32")}
    harness.run_layer_test(TargetLocalisationUnit, {"init_bias": -1.0}, inputs, (2, 4, 4, 1), tmp_path)


def test_tlu_is_eq_9_in_0_1():
    """A = sigmoid(q(t) . F_c / sqrt(c) + b): one value per position, in [0, 1], checked in numpy."""
    keras.utils.set_random_seed(8)
    rng = np.random.default_rng(4)
    tlu = TargetLocalisationUnit(init_bias=0.3)
    texture_global = rng.normal(size=(2, 4)).astype("float32")
    coarse = rng.normal(size=(2, 3, 3, 4)).astype("float32")
    a = as_float64(tlu(texture_global, coarse))
    assert a.shape == (2, 3, 3, 1)
    assert np.all((a >= 0.0) & (a <= 1.0))
    query = as_float64(texture_global) @ as_float64(tlu.query.kernel)
    expected = sigmoid(np.einsum("bc,bhwc->bhw", query, as_float64(coarse)) / 2.0 + 0.3)[..., None]
    np.testing.assert_allclose(a, expected, rtol=1e-5, atol=1e-6)
    assert a.std() > 1e-3  # the map varies over positions
    same, logits = tlu(texture_global, coarse, return_logits=True)  # the losses' view of A
    np.testing.assert_array_equal(same, a)
    np.testing.assert_allclose(sigmoid(as_float64(logits)), a, rtol=1e-6, atol=1e-7)


def test_tlu_disabled_gives_ones():
    """use_tlu=False (the "w/o TLU" ablation): A = 1 everywhere, whatever the inputs."""
    rng = np.random.default_rng(5)
    tlu = TargetLocalisationUnit(enabled=False)
    a = tlu(rng.normal(size=(2, 4)).astype("float32"), rng.normal(size=(2, 3, 3, 4)).astype("float32"))
    assert tuple(a.shape) == (2, 3, 3, 1)
    np.testing.assert_array_equal(a, 1.0)
    ones, logits = tlu(rng.normal(size=(2, 4)).astype("float32"), rng.normal(size=(2, 3, 3, 4)).astype("float32"),
                       return_logits=True)
    np.testing.assert_array_equal(ones, 1.0)
    assert logits is None  # A = 1 has no finite logits; --swap_localisation requires --use_tlu
