"""The int8 sensitivity measure: it sees what RMSE / scale hides (an outlier-set scale, clipping)."""
import numpy as np
import pytest

from mimnet_tf.export import quantization


def _quantize(values, low, high):
    """Asymmetric int8 quantization of `values` calibrated on [low, high] (as TFLite does)."""
    scale = (high - low) / 255.0
    zero_point = int(round(-128 - low / scale))
    return np.clip(np.round(values / scale) + zero_point, -128, 127).astype(np.int8), scale, zero_point


def test_plain_rounding_is_small_on_both_measures():
    values = np.random.default_rng(0).normal(0.0, 1.0, 4096).astype(np.float32)
    q, scale, zero_point = _quantize(values, values.min(), values.max())
    assert quantization.rmse_over_scale(values, q, scale, zero_point) == pytest.approx(12 ** -0.5, abs=0.02)
    assert quantization.relative_error(values, q, scale, zero_point) < 0.02


def test_a_padding_fill_of_minus_1e9_is_caught_by_the_relative_error_only():
    logits = np.random.default_rng(1).normal(0.0, 3.0, (64, 18)).astype(np.float32)
    logits[:, 12:] = -1e9  # a masked softmax's fill at 6 padding words of 18
    q, scale, zero_point = _quantize(logits, -1e9, logits.max())
    assert quantization.rmse_over_scale(logits, q, scale, zero_point) < 0.3  # looks like ideal rounding
    assert quantization.relative_error(logits, q, scale, zero_point) > quantization.DEFAULT_THRESHOLD  # logits lost


def test_a_clipped_range_is_caught():
    values = np.random.default_rng(2).uniform(-20.0, 0.0, 4096).astype(np.float32)
    q, scale, zero_point = _quantize(values, -5.0, 0.0)  # calibrated on a quarter of the range
    assert quantization.relative_error(values, q, scale, zero_point) > quantization.DEFAULT_THRESHOLD


def test_exact_and_constant_tensors():
    zeros = np.zeros(16, np.float32)
    assert quantization.relative_error(zeros, np.zeros(16, np.int8), 0.1, 0) == 0.0
    assert quantization.relative_error(zeros, np.ones(16, np.int8), 0.1, 0) == float("inf")


def test_threshold_must_be_positive():
    with pytest.raises(ValueError, match="--int8_float_threshold=0"):
        quantization.quantize_int8(None, None, [], threshold=0)


def test_signature_keys_match_tensor_names():
    example = {"image": 0, "token_ids": 1}
    assert quantization._signature_key("serving_default_token_ids:0", example) == "token_ids"
    assert quantization._signature_key("serving_default_image:0", example) == "image"
    noises = {"token_ids": 0, "noise": 1, "condition_noise": 2}  # a MirrorGAN's: one name ends the other
    assert quantization._signature_key("serving_default_condition_noise:0", noises) == "condition_noise"
    assert quantization._signature_key("serving_default_noise:0", noises) == "noise"
    with pytest.raises(ValueError, match="matches none"):
        quantization._signature_key("serving_default_mask:0", example)
