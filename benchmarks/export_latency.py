"""Every export format of the shipped models, side by side: size, latency, GFLOP, accuracy. One table.

    python -m benchmarks.export_latency                          # 64, 128 and 256 px, shipped models
    python -m benchmarks.export_latency --sizes=64 --cases=200 --reference_kernels

Each size is exported with the project's exporters (SavedModel, TFLite fp32/fp16/dynamic/int8,
ONNX) from a shipped model: 64 px from pretrained/synthbirds64, 128 and 256 px from
pretrained/synthbirds128 (no generator weight depends on the image size, so the weights load
into a model of any size; only 64 and 128 px are sizes a model was trained at). Per format:
- file MB; p50 latency of an edit at batch 1 on --threads CPU threads (the formats take turns,
  --rounds rounds of --repeats/--rounds runs each, so load from other processes hits them alike);
- GFLOP per edit: 2 x the multiply-adds of the CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and
  BATCH_MATMUL ops of the fp32 TFLite graph (static shapes), the same for every format;
- achieved GFLOP/s and its share of this machine's float32 matmul peak, measured in the same run
  (TF matmul of 1024 x 1024 on the same thread count);
- PSNR of the edited image against Keras, and at a trained size the SynthBirds edit benchmark's
  attribute accuracy on the first --cases cases.
TFLite runs in the LiteRT interpreter with its default XNNPACK delegate; --reference_kernels adds
rows for fp32 and int8 without it (LiteRT's builtin kernels).

Progress goes to stderr; the table to stdout.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import time

import numpy as np

SHIPPED = {64: "pretrained/synthbirds64", 128: "pretrained/synthbirds128", 256: "pretrained/synthbirds128"}
MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL")


@dataclasses.dataclass(frozen=True)
class BenchmarkConfig:
    sizes: tuple[int, ...] = (64, 128, 256)
    checkpoints: tuple[tuple[int, str], ...] = ()  # (size, model dir) overriding SHIPPED
    out: str = ""
    repeats: int = 20
    rounds: int = 4
    warmup: int = 3
    threads: int = 2
    cases: int = 64
    psnr_examples: int = 8
    reference_kernels: bool = False


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def graph_gflop(tflite_path: str) -> float:
    """2 x multiply-adds of the matmul-like ops of a (static-shape) TFLite graph, in GFLOP."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=tflite_path)
    shapes = {t["index"]: t["shape"] for t in interpreter.get_tensor_details()}
    macs = 0
    for op in interpreter._get_ops_details():
        name = op["op_name"]
        if name not in MAC_OPS:
            continue
        output = np.prod(shapes[op["outputs"][0]])
        weights = shapes[op["inputs"][1]]
        if name == "CONV_2D":  # filter (out, kh, kw, in)
            macs += output * np.prod(weights[1:])
        elif name == "DEPTHWISE_CONV_2D":  # filter (1, kh, kw, channels)
            macs += output * weights[1] * weights[2]
        elif name == "FULLY_CONNECTED":  # filter (out, in)
            macs += output * weights[-1]
        else:  # BATCH_MATMUL: (..., m, k) x (..., k, n)
            macs += output * shapes[op["inputs"][0]][-1]
    return float(2 * macs / 1e9)


def matmul_peak_gflops(threads: int, size: int = 1024, repeats: int = 10) -> float:
    """Best float32 GFLOP/s of a TF matmul on this machine with the benchmark's thread count."""
    import tensorflow as tf

    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    matmul = tf.function(lambda x, y: tf.matmul(x, y))
    matmul(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        matmul(a, b).numpy()
        best = min(best, time.perf_counter() - started)
    return 2 * size ** 3 / best / 1e9


def litert_runner(path: str, threads: int, xnnpack: bool = True):
    """(image, token_ids) -> outputs in the LiteRT interpreter, with or without its default XNNPACK."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from mimnet_tf.inference.exported_model import LiteRTModel

    if xnnpack:
        return LiteRTModel(path, threads).run
    model = LiteRTModel(path, threads)
    model.interpreter = Interpreter(model_path=path, num_threads=threads,
                                    experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    model.runner = model.interpreter.get_signature_runner(model.signature_key)
    return model.run


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


def export_formats(trained, out: str, threads: int, reference_kernels: bool) -> list[tuple[str, str, object, int]]:
    """Writes every format of `trained` into `out`; [(name, path, runner, static batch or 0)]."""
    from mimnet_tf.export.onnx import export_onnx
    from mimnet_tf.export.saved_model import export_saved_model, saved_model_runner
    from mimnet_tf.export.tflite import VARIANTS, export_tflite

    # A rerun replaces the benchmark's own exports (files it did not write are kept aside).
    saved = export_saved_model(trained, os.path.join(out, "saved_model", "mimnet", "1"), overwrite=True)
    tflite_paths = export_tflite(trained, os.path.join(out, "tflite"), VARIANTS, overwrite=True)
    onnx_path = export_onnx(trained, os.path.join(out, "onnx"), overwrite=True)
    formats = [("SavedModel edit_tensors", saved, saved_model_runner(saved), 0)]
    formats += [(f"TFLite {variant}", path, litert_runner(path, threads), 1) for variant, path in tflite_paths.items()]
    if reference_kernels:
        formats += [(f"TFLite {variant}, no XNNPACK", tflite_paths[variant],
                     litert_runner(tflite_paths[variant], threads, xnnpack=False), 1) for variant in ("fp32", "int8")]
    formats.append(("ONNX Runtime", onnx_path, onnx_runner(onnx_path, threads), 0))
    return formats


def interleaved_p50(formats, example: dict, config: BenchmarkConfig) -> dict[str, float]:
    """p50 milliseconds per format; the formats take turns so a busy machine slows them alike."""
    times = {name: [] for name, *_ in formats}
    for _, _, run, _ in formats:
        for _ in range(config.warmup):
            run(example["image"], example["token_ids"])
    per_round = max(1, config.repeats // config.rounds)
    for _ in range(config.rounds):
        for name, _, run, _ in formats:
            for _ in range(per_round):
                started = time.perf_counter()
                run(example["image"], example["token_ids"])
                times[name].append(time.perf_counter() - started)
    return {name: float(np.median(values) * 1000) for name, values in times.items()}


def benchmark_size(size: int, model_dir: str, root: str, config: BenchmarkConfig, peak: float) -> list[dict]:
    """Exports every format of one model at `size` and measures it; returns table rows."""
    from mimnet_tf.config import ExportConfig, RunConfig
    from mimnet_tf.export import common, verify
    from mimnet_tf.models.builder import load_generator
    from mimnet_tf.models.model_dir import CONFIG_FILENAME

    trained = load_generator(model_dir, image_size=size)
    trained_size = RunConfig.load(os.path.join(model_dir, CONFIG_FILENAME)).data.image_size
    out = os.path.join(root, f"exports_{size}")
    log(f"[{size} px] exporting {model_dir} (trained at {trained_size} px) to {out}")
    formats = export_formats(trained, out, config.threads, config.reference_kernels)
    gflop = graph_gflop(os.path.join(out, "tflite", "mimnet_fp32.tflite"))
    cases = config.cases if size == trained_size else 0
    # The PSNR examples come after the int8 calibration set (export_tflite's default count).
    checks = verify.CheckConfig(cases=cases, examples=config.psnr_examples,
                                skip_examples=ExportConfig.representative_samples, keep_failing=True)
    log(f"[{size} px] checking {len(formats)} formats against Keras ({cases} benchmark cases)")
    written = {name: verify.Written(path, os.path.join(root, f"checks_{size}_{i}.json"), run, batch or None)
               for i, (name, path, run, batch) in enumerate(formats)}
    results = verify.check_exports(trained, written, checks)
    log(f"[{size} px] timing")
    example = common.parity_batches(trained, 1)[0]
    latency = interleaved_p50(formats, example, config)
    rows = []
    for name, path, _, _ in formats:
        figures = results[name]
        rows.append({"format": name, "size": size, "megabytes": common.file_megabytes(path), "p50_ms": latency[name],
                     "gflop": gflop, "gflops": gflop / (latency[name] / 1000), "peak_share": gflop / (latency[name] / 1000) / peak,
                     "psnr": figures["psnr_vs_keras_db"], "accuracy": figures.get("attribute_accuracy"),
                     "keras_accuracy": figures.get("keras_attribute_accuracy")})
    return rows


def format_table(rows: list[dict], config: BenchmarkConfig, peak: float) -> str:
    title = (f"Edits at batch 1 on {config.threads} CPU threads (p50 of {config.repeats} runs per format, formats "
             f"interleaved in {config.rounds} rounds); matmul peak of this machine in the same run: {peak:.1f} GFLOP/s; "
             f"attribute accuracy on {config.cases} SynthBirds cases at the trained sizes")
    columns = ("format", "size", "file MB", "p50 ms", "vs TFLite fp32", "GFLOP/edit", "GFLOP/s", "% of peak",
               "PSNR vs Keras", "attr. acc (Keras)")
    lines = [title, "", "| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    fp32 = {row["size"]: row["p50_ms"] for row in rows if row["format"] == "TFLite fp32"}
    for row in rows:
        psnr = row["psnr"] if isinstance(row["psnr"], str) else f"{row['psnr']:.1f} dB"
        accuracy = "-" if row["accuracy"] is None else f"{row['accuracy']:.3f} ({row['keras_accuracy']:.3f})"
        speedup = fp32[row["size"]] / row["p50_ms"] if row["size"] in fp32 else float("nan")
        lines.append(f"| {row['format']} | {row['size']} | {row['megabytes']:.2f} | {row['p50_ms']:.1f} | "
                     f"{speedup:.2f}x | {row['gflop']:.2f} | {row['gflops']:.1f} | {100 * row['peak_share']:.0f} % | "
                     f"{psnr} | {accuracy} |")
    return "\n".join(lines)


def run_benchmark(config: BenchmarkConfig) -> str:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(config.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    models = {**SHIPPED, **dict(config.checkpoints)}
    for size in config.sizes:
        if size not in models:
            raise ValueError(f"--sizes: no model for {size} px; give one with --checkpoint_{size} or use 64, 128, 256")
        if not os.path.isdir(models[size]):
            raise FileNotFoundError(f"{models[size]}: no such model directory (the shipped model for {size} px)")
    peak = matmul_peak_gflops(config.threads)
    log(f"float32 matmul peak on {config.threads} threads: {peak:.1f} GFLOP/s")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        root = config.out or scratch
        os.makedirs(root, exist_ok=True)
        for size in config.sizes:
            rows += benchmark_size(size, models[size], root, config, peak)
    return format_table(rows, config, peak)


def main(argv) -> None:
    from absl import app, flags

    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    values = flags.FLAGS
    checkpoints = tuple((size, path) for size, path in ((64, values.checkpoint_64), (128, values.checkpoint_128),
                                                        (256, values.checkpoint_256)) if path)
    config = BenchmarkConfig(sizes=tuple(int(s) for s in values.sizes), checkpoints=checkpoints, out=values.out,
                             repeats=values.repeats, rounds=values.rounds, warmup=values.warmup,
                             threads=values.threads, cases=values.cases, reference_kernels=values.reference_kernels)
    try:
        print(run_benchmark(config))
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def run() -> None:
    from absl import app, flags

    flags.DEFINE_list("sizes", ["64", "128", "256"], "Image sizes to benchmark.")
    flags.DEFINE_string("checkpoint_64", "", f"Model directory for 64 px (default {SHIPPED[64]}).")
    flags.DEFINE_string("checkpoint_128", "", f"Model directory for 128 px (default {SHIPPED[128]}).")
    flags.DEFINE_string("checkpoint_256", "", f"Model directory for 256 px (default {SHIPPED[256]}).")
    flags.DEFINE_string("out", "", "Keep the exports here (default: a temporary directory).")
    flags.DEFINE_integer("repeats", 20, "Timed runs per format.")
    flags.DEFINE_integer("rounds", 4, "Rounds the timed runs are interleaved in.")
    flags.DEFINE_integer("warmup", 3, "Untimed runs per format first.")
    flags.DEFINE_integer("threads", 2, "CPU threads for TF, LiteRT and ONNX Runtime.")
    flags.DEFINE_integer("cases", 64, "SynthBirds benchmark cases for the attribute accuracy (0: skip).")
    flags.DEFINE_bool("reference_kernels", False, "Also time TFLite fp32 and int8 without XNNPACK.")
    app.run(main)


if __name__ == "__main__":
    run()
