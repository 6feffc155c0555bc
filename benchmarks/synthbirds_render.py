"""How fast SynthBirds renders: images per second, rendering alone and the full writer.

    python benchmarks/synthbirds_render.py --num=10000 --size=64 --workers=2

Prints one table row per setting: rendering only (sample_scene + render, no files) and the
whole writer (PNG images, masks, captions, index files, edit cases), in one process and with
`--workers` processes. The project's target is 10,000 images at 64 px in under 60 s on 2 cores.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import time

from absl import app, flags

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from mimnet_tf.data.synthbirds.render import render, sample_scene  # noqa: E402
from mimnet_tf.data.synthbirds.writer import write_dataset  # noqa: E402

_NUM = flags.DEFINE_integer("num", 10000, "Images per measurement (train + test for the writer).")
_SIZE = flags.DEFINE_integer("size", 64, "Image side in pixels.")
_WORKERS = flags.DEFINE_integer("workers", 2, "Processes of the parallel measurements.")
_SEED = flags.DEFINE_integer("seed", 0, "Dataset seed.")
_WRITER_DIR = flags.DEFINE_string(
    "writer_dir", "", "Parent directory of the writer's temporary output ('' = the system temp dir; "
    "/dev/shm separates the CPU cost from the file system's)."
)


def _render_range(args) -> int:
    seed, size, start, stop = args
    for index in range(start, stop):
        render(sample_scene(seed, "train", index), size)
    return stop - start


def _render_only(num: int, size: int, seed: int, workers: int) -> float:
    """Seconds to sample and render `num` scenes with `workers` processes (no files)."""
    started = time.perf_counter()
    if workers <= 1:
        _render_range((seed, size, 0, num))
    else:
        step = max(1, num // (8 * workers))
        chunks = [(seed, size, i, min(num, i + step)) for i in range(0, num, step)]
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            assert sum(pool.imap_unordered(_render_range, chunks)) == num
    return time.perf_counter() - started


def _writer(num: int, size: int, seed: int, workers: int) -> float:
    """Seconds for write_dataset of `num` images (10 % test) into a temporary directory."""
    num_test = max(1, num // 10)
    with tempfile.TemporaryDirectory(prefix="synthbirds_bench_", dir=_WRITER_DIR.value or None) as out:
        started = time.perf_counter()
        write_dataset(out, num - num_test, num_test, size=size, seed=seed, workers=workers, progress=False)
        return time.perf_counter() - started


def main(argv):
    del argv
    num, size, seed, workers = _NUM.value, _SIZE.value, _SEED.value, _WORKERS.value
    target = _WRITER_DIR.value or tempfile.gettempdir()
    print(f"SynthBirds rendering: {num} images at {size} px, {os.cpu_count()} CPUs visible, writer into {target}")
    # CPU ms per image (this process and its workers) stays meaningful when other jobs share the
    # cores; wall-clock images/s is what a user sees.
    print(f"{'measurement':<38}{'workers':>8}{'seconds':>10}{'images/s':>10}{'cpu ms/img':>12}")
    for label, measure in (("render only (no files)", _render_only), ("full writer (PNG + captions + edits)", _writer)):
        for count in sorted({1, workers}):
            before = os.times()
            seconds = measure(num, size, seed, count)
            after = os.times()
            fields = ("user", "system", "children_user", "children_system")
            cpu = sum(getattr(after, f) - getattr(before, f) for f in fields)
            print(f"{label:<38}{count:>8}{seconds:>10.2f}{num / seconds:>10.1f}{1000 * cpu / num:>12.2f}", flush=True)
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    app.run(main)
