"""A few MIM-Net steps under mixed_float16 on CPU: finite losses, a loss scale in the checkpoint,
float16 compute with float32 weights, and the global policy left as it was."""
import json
import os

import keras
import numpy as np
import pytest

from mimnet_tf.apps import train_lib
from tests.training import harness


def test_mixed_precision_steps(tiny_prepared, tmp_path):
    config = harness.run_config(tiny_prepared, str(tmp_path), max_steps=3, checkpoint_every=0,
                                mixed_precision=True)
    policy_before = keras.config.dtype_policy().name
    training = train_lib.setup(config, log=lambda _: None)
    assert keras.config.dtype_policy().name == policy_before  # only the model was built under mixed_float16
    model = training.model
    encoder = model.generator.image_encoder
    assert encoder.dtype_policy.name == "mixed_float16" and encoder.compute_dtype == "float16"
    assert all(v.dtype == "float32" for v in model.generator.trainable_variables)
    for optimizer in (model.g_optimizer, model.d_optimizer):
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    summary = training.fit()
    assert summary["step"] == 3
    assert all(np.isfinite(v) for v in summary["last_losses"].values()), summary["last_losses"]
    assert summary["last_losses"]["reconstruction"] > 0 and summary["last_losses"]["d_total"] > 0

    # The dynamic loss scale is training state: it is in the checkpoint, a positive power of two.
    scale = float(model.g_optimizer.dynamic_scale.numpy())
    assert scale > 0 and float(np.log2(scale)).is_integer()
    state = harness.checkpoint_state(os.path.join(str(tmp_path), "checkpoints", "ckpt-3"))
    scalars = [float(v) for k, v in state.items() if k.startswith("g_optimizer/") and v.shape == ()]
    assert scale in scalars
    # The weights moved by sane amounts (unscaled gradients): Adam steps are ~lr, not ~lr * 2**15.
    assert model.g_optimizer.iterations.numpy() > 0


def test_bfloat16_steps_learn_and_edit_in_float32(tiny_prepared, tmp_path):
    """--bfloat16: bfloat16 compute, float32 weights, no loss scaling; the reconstruction loss
    falls, and the checkpoint restores into the float32 model that edits and exports."""
    from mimnet_tf.config import validate
    from mimnet_tf.export.common import load_checkpoint

    config = harness.run_config(tiny_prepared, str(tmp_path), max_steps=12, checkpoint_every=0, log_every=1,
                                bfloat16=True, phase_schedule="reconstruction_only", g_learning_rate=2e-3)
    training = train_lib.setup(config, log=lambda _: None)
    model = training.model
    assert model.generator.image_encoder.compute_dtype == "bfloat16"
    assert all(v.dtype == "float32" for v in model.generator.trainable_variables)
    assert not isinstance(model.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert keras.config.dtype_policy().name == "float32"
    summary = training.fit()
    with open(os.path.join(str(tmp_path), "train_log.jsonl"), encoding="utf-8") as f:
        losses = [json.loads(line)["losses"]["reconstruction"] for line in f]
    assert all(np.isfinite(losses)) and np.mean(losses[-4:]) < np.mean(losses[:4]), losses
    assert summary["step"] == 12

    trained = load_checkpoint(str(tmp_path))  # what editing and the exporters load: built in float32
    assert trained.generator.image_encoder.compute_dtype == "float32"
    for ours, theirs in zip(trained.generator.trainable_variables, model.generator.trainable_variables):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())

    both = harness.run_config(tiny_prepared, str(tmp_path), mixed_precision=True, bfloat16=True)
    with pytest.raises(ValueError, match="--mixed_precision and --bfloat16: choose one"):
        validate(both)


def test_the_cpu_flags_decide_whether_bfloat16_is_native(tmp_path):
    from mimnet_tf.training.precision import cpu_has_bfloat16

    zen4 = tmp_path / "zen4"
    zen4.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 avx512_vnni\n")
    older = tmp_path / "older"
    older.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f\n")
    assert cpu_has_bfloat16(str(zen4)) and not cpu_has_bfloat16(str(older))
    assert not cpu_has_bfloat16(str(tmp_path / "missing"))
