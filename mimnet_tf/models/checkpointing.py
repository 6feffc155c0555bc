"""Checkpoints of models and optimizers that do not depend on Keras' object tracking.

`tf.train.Checkpoint` follows Python attributes, and Keras 3 layers kept in lists (a pyramid of
blocks) are invisible to it: they would silently not be saved. So every checkpoint here names
variables explicitly: a layer's variables by their Keras path relative to the layer (stable
however the layer is nested), an optimizer's by creation order (stable for the same variable
list). The same naming serves training (whole MIMNet + both optimizers + step) and inference
(the generator alone).
"""
from __future__ import annotations

import tensorflow as tf

from mimnet_tf.models.checkpoint_files import restore_checked


class VariableSet(tf.Module):
    """A trackable holding variables as named attributes (`tf.train.Checkpoint` children)."""

    def __init__(self, named_variables: dict, name=None):
        super().__init__(name=name)
        self._names = sorted(named_variables)
        for key, variable in named_variables.items():
            setattr(self, key, variable)


def _clean(name: str) -> str:
    return name.replace("/", "__").replace(":", "_")


def layer_variables(layer) -> VariableSet:
    """The layer's variables keyed by their path below the layer's own name."""
    named = {}
    marker = layer.name + "/"
    for variable in layer.variables:
        path = variable.path
        if "seed_generator" in path:
            # Dropout's RNG state: globally numbered, so not stable across programs. Training
            # randomness is stateless, keyed by the checkpointed step (see MIMNet).
            continue
        key = path.split(marker, 1)[1] if marker in path else path
        key = _clean(key)
        if key in named:
            raise ValueError(f"Two variables of {layer.name} share the path {key!r}")
        named[key] = variable
    return VariableSet(named)


def optimizer_variables(optimizer) -> VariableSet:
    """The optimizer's variables (iterations, learning rate, slots) keyed by creation order."""
    inner = getattr(optimizer, "inner_optimizer", None)
    variables = list(optimizer.variables)
    if inner is not None:  # LossScaleOptimizer: its own scale variables, then the inner ones
        variables += [v for v in inner.variables if all(v is not w for w in variables)]
    return VariableSet({f"v{i:05d}": v for i, v in enumerate(variables)})


def training_checkpoint(model, **optimizers) -> tf.train.Checkpoint:
    """Checkpoint of a MIMNet-like model: its generator, discriminators, step and optimizers."""
    children = {name: layer_variables(layer) for name, layer in model.checkpoint_layers().items()}
    children["step"] = model.step_counter
    for name, optimizer in optimizers.items():
        if optimizer is not None:
            children[name] = optimizer_variables(optimizer)
    return tf.train.Checkpoint(**children)


def restore_generator(generator, path: str) -> None:
    """Restores only the generator from a training checkpoint (inference, export).

    Raises:
        DamagedCheckpointError: the checkpoint's files are missing, truncated or corrupt (named).
    """
    def restore(prefix):
        status = tf.train.Checkpoint(generator=layer_variables(generator)).restore(prefix)
        status.expect_partial()
        status.assert_existing_objects_matched()

    restore_checked(restore, path)


def save_generator(generator, directory: str, step: int) -> str:
    """Writes `<directory>/ckpt-<step>` holding only the generator (what `restore_generator` reads)."""
    checkpoint = tf.train.Checkpoint(generator=layer_variables(generator))
    return tf.train.CheckpointManager(checkpoint, directory, max_to_keep=1).save(checkpoint_number=step)
