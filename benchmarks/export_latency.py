"""Edit latency of every export format at batch 1, with file sizes and PSNR vs Keras: one table.

    python -m benchmarks.export_latency                       # builds untrained 64 and 256 px models
    python -m benchmarks.export_latency --checkpoint_64=runs/synthbirds --sizes=64

Without a checkpoint, each size gets a model of the SynthBirds demo architecture with untrained
weights (latency and file size do not depend on training; PSNR vs Keras measures the format,
not the model's quality): base_channels 32, image_skips, memory 128, embed 300 / text 256,
max_words 18, feature_downsample 4 at 64 px and 8 at 256 px. Each format is exported with the
project's exporters (export/) and timed on the same inputs: the median (p50) of --repeats runs
after --warmup runs, in one process, on CPU with --threads threads.

Progress goes to stderr; the table to stdout.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import time

import numpy as np

DEMO_MODEL = {"base_channels": 32, "image_skips": True, "memory_size": 128, "embed_dim": 300, "text_dim": 256,
              "disc_channels": 32}
FEATURE_DOWNSAMPLE = {64: 4, 128: 8, 256: 8}


@dataclasses.dataclass(frozen=True)
class BenchmarkConfig:
    sizes: tuple[int, ...] = (64, 256)
    checkpoints: tuple[tuple[int, str], ...] = ()  # (size, model dir) pairs given by flags
    out: str = ""
    repeats: int = 20
    warmup: int = 3
    threads: int = 2
    parity_examples: int = 4


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_untrained_model_dir(root: str, size: int) -> str:
    """A model directory of the demo architecture at `size` px with untrained weights."""
    from mimnet_tf.testing import make_model_dir, write_tiny_prepared

    prepared = write_tiny_prepared(os.path.join(root, f"prepared_{size}"), num_train=8, num_test=4, size=size)
    model_dir = os.path.join(root, f"model_{size}")
    model = dict(DEMO_MODEL, feature_downsample=FEATURE_DOWNSAMPLE.get(size, 8))
    make_model_dir(model_dir, prepared, image_size=size, train_steps=0, model=model, data={"max_words": 18})
    return model_dir


def p50_milliseconds(run, example: dict, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        run(example["image"], example["token_ids"])
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run(example["image"], example["token_ids"])
        times.append(time.perf_counter() - started)
    return float(np.median(times) * 1000)


def keras_runner(trained):
    from mimnet_tf.export import signatures

    def run(image, token_ids):
        outputs = signatures.run_generator(trained.generator, image, token_ids)
        return {name: np.asarray(value) for name, value in outputs.items()}

    return run


def saved_model_runner(path: str):
    import tensorflow as tf

    from mimnet_tf.export import signatures

    function = tf.saved_model.load(path).signatures[signatures.EDIT_TENSORS]

    def run(image, token_ids):
        return {k: v.numpy() for k, v in function(image=tf.constant(image), token_ids=tf.constant(token_ids)).items()}

    return run


def onnx_runner(path: str, threads: int):
    import onnxruntime

    from mimnet_tf.export import signatures

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]

    def run(image, token_ids):
        return dict(zip(names, session.run(names, {signatures.IMAGE: image, signatures.TOKEN_IDS: token_ids})))

    return run


def benchmark_size(size: int, model_dir: str, root: str, config: BenchmarkConfig, trained_model: bool) -> list[dict]:
    """Exports every format of one model and measures it; returns table rows."""
    from mimnet_tf.export import common
    from mimnet_tf.export.onnx import export_onnx
    from mimnet_tf.export.saved_model import export_saved_model
    from mimnet_tf.export.tflite import VARIANTS, export_tflite
    from mimnet_tf.serving.tflite_edit import LiteRTModel

    trained = common.load_checkpoint(model_dir)
    examples = common.parity_batches(trained, config.parity_examples)
    out = os.path.join(root, f"exports_{size}")
    log(f"[{size} px] exporting SavedModel, TFLite {','.join(VARIANTS)}, ONNX to {out}")
    keras_weights = os.path.join(out, "generator.weights.h5")
    os.makedirs(out, exist_ok=True)
    trained.generator.save_weights(keras_weights)
    saved = export_saved_model(trained, os.path.join(out, "saved_model", "mimnet", "1"), overwrite=True)
    tflite_paths = export_tflite(trained, os.path.join(out, "tflite"), VARIANTS, representative_samples=8,
                                 overwrite=True)
    onnx_path = export_onnx(trained, os.path.join(out, "onnx"), overwrite=True)
    formats = [("Keras (eager call)", keras_weights, keras_runner(trained)),
               ("SavedModel edit_tensors", saved, saved_model_runner(saved))]
    formats += [(f"TFLite {variant}", path, LiteRTModel(path, config.threads).run)
                for variant, path in tflite_paths.items()]
    formats.append(("ONNX Runtime", onnx_path, onnx_runner(onnx_path, config.threads)))
    rows = []
    for name, path, run in formats:
        log(f"[{size} px] timing {name}")
        parity = common.compare(trained, run, examples)
        rows.append({"format": name, "size": size, "megabytes": common.file_megabytes(path),
                     "p50_ms": p50_milliseconds(run, examples[0], config.repeats, config.warmup),
                     "max_abs_diff": parity["max_abs_diff"],
                     "psnr": None if name.startswith("Keras") else parity["psnr"],
                     "weights": "trained" if trained_model else "untrained"})
    return rows


def format_table(rows: list[dict], config: BenchmarkConfig) -> str:
    weights = sorted({row["weights"] for row in rows})
    title = (f"Edit latency at batch 1 ({'/'.join(weights)} weights; p50 of {config.repeats} runs, "
             f"{config.threads} CPU threads; PSNR of the edited image vs Keras, in [0, 1])")
    header = f"| {'format':24} | {'size':>4} | {'file MB':>8} | {'p50 ms':>8} | {'max abs diff':>12} | {'PSNR vs Keras':>13} |"
    lines = [title, "", header, "|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|"]
    for row in rows:
        psnr = "reference" if row["psnr"] is None else ("inf" if row["psnr"] == float("inf") else f"{row['psnr']:.1f} dB")
        diff = "-" if row["psnr"] is None else f"{row['max_abs_diff']:.1e}"
        lines.append(f"| {row['format']:24} | {row['size']:>4} | {row['megabytes']:8.2f} | {row['p50_ms']:8.2f} | "
                     f"{diff:>12} | {psnr:>13} |")
    return "\n".join(lines)


def run_benchmark(config: BenchmarkConfig) -> str:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(config.threads)
    given = dict(config.checkpoints)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        root = config.out or scratch
        os.makedirs(root, exist_ok=True)
        for size in config.sizes:
            model_dir = given.get(size)
            if model_dir is None:
                log(f"[{size} px] building an untrained model of the demo architecture")
                model_dir = build_untrained_model_dir(root, size)
            rows += benchmark_size(size, model_dir, root, config, size in given)
    return format_table(rows, config)


def main(argv) -> None:
    from absl import app, flags

    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    values = flags.FLAGS
    sizes = tuple(int(s) for s in values.sizes)
    checkpoints = tuple((size, path) for size, path in ((64, values.checkpoint_64), (256, values.checkpoint_256))
                        if path)
    for size, path in checkpoints:
        if not os.path.isdir(path):
            print(f"error: --checkpoint_{size}={path}: no such model directory", file=sys.stderr)
            sys.exit(2)
    config = BenchmarkConfig(sizes=sizes, checkpoints=checkpoints, out=values.out, repeats=values.repeats,
                             warmup=values.warmup, threads=values.threads)
    print(run_benchmark(config))


def run() -> None:
    from absl import app, flags

    flags.DEFINE_list("sizes", ["64", "256"], "Image sizes to benchmark.")
    flags.DEFINE_string("checkpoint_64", "", "A trained 64 px model directory (default: untrained demo model).")
    flags.DEFINE_string("checkpoint_256", "", "A trained 256 px model directory (default: untrained demo model).")
    flags.DEFINE_string("out", "", "Keep the models and exports here (default: a temporary directory).")
    flags.DEFINE_integer("repeats", 20, "Timed runs per format.")
    flags.DEFINE_integer("warmup", 3, "Untimed runs first.")
    flags.DEFINE_integer("threads", 2, "CPU threads for TF, LiteRT and ONNX Runtime.")
    app.run(main)


if __name__ == "__main__":
    run()
