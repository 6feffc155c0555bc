"""How fast the tf.data input pipeline delivers training batches, next to a training step.

    python benchmarks/input_pipeline.py --flagfile=configs/synthbirds.flags --batches=200

Reads the prepared TFRecords of the flagfile's dataset (SynthBirds is rendered and prepared on
first use), and prints:
- pipeline images/s: decode, augment, tokenize (tensorflow-text), mismatched captions, batch,
  prefetch - iterated with no model attached;
- the time of one training step of the flagfile's model on synthetic batches (the same as
  benchmarks/train_throughput.py), and the share of a step the pipeline would need.
A share well below 1 means the pipeline is not the bottleneck: prefetching hides it.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import time

from absl import app, flags

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from mimnet_tf import flags as mimnet_flags  # noqa: E402

mimnet_flags.define_flags()
_BATCHES = flags.DEFINE_integer("batches", 200, "Batches to time (after 5 warm-up batches).")
_STEPS = flags.DEFINE_integer("steps", 10, "Training steps to time (after 2 warm-up steps; 0 skips them).")
FLAGS = flags.FLAGS


def pipeline_rate(data_config, batches: int) -> float:
    """Images per second of `pipeline.make_dataset` (training mode) over `batches` batches."""
    from mimnet_tf.data import pipeline

    iterator = iter(pipeline.make_dataset(data_config, "train", training=True))
    for _ in range(5):
        next(iterator)
    began = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * data_config.batch_size / (time.perf_counter() - began)


def step_seconds(config, steps: int) -> float:
    """Seconds per training step of `config`'s model, fed from the real pipeline."""
    from mimnet_tf.apps import train_lib

    with tempfile.TemporaryDirectory() as model_dir:
        run = dataclasses.replace(config, train=dataclasses.replace(
            config.train, model_dir=model_dir, max_steps=2, progress=False, checkpoint_every=0, log_every=0,
            image_log_every=0))
        training = train_lib.setup(run, log=lambda *_: None)
        training.fit()  # warm-up: tracing
        chunk = dataclasses.replace(run.train, max_steps=2 + steps)
        began = time.perf_counter()
        training.fit(train_config=chunk)
        return (time.perf_counter() - began) / steps


def main(argv):
    del argv
    from mimnet_tf.apps import train_lib

    config = mimnet_flags.config_from_flags(FLAGS)
    train_lib.ensure_prepared_data(config.data, log=print)
    rate = pipeline_rate(config.data, _BATCHES.value)
    batch = config.data.batch_size
    print(f"{'measurement':<44}{'value':>12}")
    print(f"{'pipeline images/s (batch %d, %d px)' % (batch, config.data.image_size):<44}{rate:>12.1f}")
    print(f"{'pipeline seconds per batch':<44}{batch / rate:>12.4f}")
    if _STEPS.value:
        seconds = step_seconds(config, _STEPS.value)
        print(f"{'training seconds per step (' + config.model.model + ')':<44}{seconds:>12.4f}")
        print(f"{'pipeline share of a step':<44}{batch / rate / seconds:>12.3f}")


if __name__ == "__main__":
    app.run(main)
