"""Training throughput of MIM-Net: images per second of the real training step, and model sizes.

    python benchmarks/train_throughput.py --sizes=64,256 --batch_size=4 --warmup=2 --steps=5

For each image size, the ModelConfig defaults for that size (base_channels 32, feature_downsample
4 at 64 px and 8 above, image skips on, memory 256, text 256, embeddings 300, a CUB-sized
vocabulary of --vocab_size words) train with the project's loop machinery (the same
`training.loop.StepFunctions` and distributed input as `mimnet_tf.train`, both phases every
step) on in-memory random batches, on one device and under MirroredStrategy over two logical
CPU devices (the two share this machine's cores: that row measures the replication overhead, not
a speed-up). Warm-up steps (tracing included) are not timed. Prints one table row per setting
and the parameter counts of the generator and the discriminators at the largest size.
"""
from __future__ import annotations

import os
import sys
import time

from absl import app, flags, logging

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

_SIZES = flags.DEFINE_list("sizes", ["64", "256"], "Image sizes S to measure.")
_BATCH = flags.DEFINE_integer("batch_size", 4, "Global batch (a multiple of 2 for the mirrored rows).")
_WARMUP = flags.DEFINE_integer("warmup", 2, "Untimed steps first (the first one traces the step).")
_STEPS = flags.DEFINE_integer("steps", 5, "Timed steps.")
_VOCAB = flags.DEFINE_integer("vocab_size", 5450, "Vocabulary size (CUB's AttnGAN vocabulary has ~5.4k words).")
_STRATEGIES = flags.DEFINE_list("strategies", ["default", "mirrored"], "default and/or mirrored (2 logical CPUs).")

CPUS = ["/cpu:0", "/cpu:1"]


def _two_logical_cpus() -> None:
    """Two logical CPU devices for the mirrored rows (before TensorFlow initialises)."""
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)


def run_config(size: int, batch: int):
    from mimnet_tf.config import DataConfig, ModelConfig, RunConfig, TrainConfig

    data = DataConfig(image_size=size, batch_size=batch)
    model = ModelConfig(image_size=size, base_channels=32, feature_downsample=4 if size <= 64 else 8,
                        image_skips=True)
    train = TrainConfig(model_dir="", max_steps=10**6, progress=False)
    return RunConfig(data=data, model=model, train=train)


def synthetic_batch(size: int, batch: int, max_words: int, vocab_size: int, seed: int = 0) -> dict:
    import numpy as np

    rng = np.random.default_rng(seed)
    tokens = rng.integers(2, vocab_size, (batch, max_words)).astype("int32")
    tokens[:, max_words // 2:] = 0  # captions of about half the maximum length, padded
    return {"image": rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32"),
            "token_ids": tokens, "mismatched_token_ids": np.roll(tokens, 1, axis=0)}


def measure(size: int, strategy_name: str, batch: int, warmup: int, steps: int, vocab_size: int) -> dict:
    """One row: seconds per step and images per second after `warmup` untimed steps."""
    import keras
    import tensorflow as tf

    from mimnet_tf import train_lib
    from mimnet_tf.data.text import PAD, UNK, Vocabulary
    from mimnet_tf.models.builder import build_mimnet
    from mimnet_tf.training import loop
    from mimnet_tf.training.strategy import make_strategy

    config = run_config(size, batch)
    vocab = Vocabulary([PAD, UNK] + [f"word{i}" for i in range(vocab_size - 2)])
    strategy = make_strategy(strategy_name, CPUS if strategy_name == "mirrored" else None)
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build_mimnet(config, vocab, log=lambda *_: None)
        schedules = train_lib.learning_rate_schedules(config.train, config.train.max_steps)
        g_optimizer, d_optimizer = train_lib.make_optimizers(config.train, schedules, model.step_counter)
        model.compile(g_optimizer=g_optimizer, d_optimizer=d_optimizer)
    model.global_batch_size = batch
    data = synthetic_batch(size, batch, config.data.max_words, vocab_size)
    iterator = iter(loop.distribute_batches(strategy, lambda _: tf.data.Dataset.from_tensors(data).repeat(), 0, batch))
    step = loop.StepFunctions(model, strategy)
    started = time.perf_counter()
    for _ in range(warmup):
        float(step(None, iterator)["g_total"])
    warm = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(steps):
        losses = step(None, iterator)
        float(losses["g_total"])  # wait for the step, as the training loop does
    seconds = (time.perf_counter() - started) / steps
    return {"size": size, "strategy": strategy_name, "replicas": strategy.num_replicas_in_sync, "batch": batch,
            "warmup_s": warm, "step_s": seconds, "images_per_s": batch / seconds, "model": model}


def parameter_counts(model) -> dict:
    generator = model.generator
    return {"generator": generator.count_params(),
            "generator_text_encoder": generator.text_encoder.count_params(),
            "coarse_discriminator": model.coarse_discriminator.count_params(),
            "fine_discriminator": model.fine_discriminator.count_params()}


def main(argv) -> None:
    del argv
    logging.set_verbosity(logging.WARNING)  # tf.distribute logs every all-reduce it builds
    _two_logical_cpus()
    rows, counts = [], None
    sizes = [int(s) for s in _SIZES.value]
    print(f"{'size':>5} {'strategy':>9} {'replicas':>8} {'batch':>5} {'warm-up s':>9} {'s/step':>8} {'images/s':>9}")
    for size in sizes:
        for name in _STRATEGIES.value:
            row = measure(size, name, _BATCH.value, _WARMUP.value, _STEPS.value, _VOCAB.value)
            if size == max(sizes) and counts is None:
                counts = parameter_counts(row["model"])
            rows.append(row)
            print(f"{row['size']:>5} {row['strategy']:>9} {row['replicas']:>8} {row['batch']:>5} "
                  f"{row['warmup_s']:>9.1f} {row['step_s']:>8.3f} {row['images_per_s']:>9.2f}", flush=True)
    if counts:
        print(f"\nparameters at {max(sizes)} px (vocabulary {_VOCAB.value}):")
        for name, count in counts.items():
            print(f"  {name:<24} {count:>12,}")
        total_d = counts["coarse_discriminator"] + counts["fine_discriminator"]
        print(f"  {'discriminators (both)':<24} {total_d:>12,}")


if __name__ == "__main__":
    app.run(main)
