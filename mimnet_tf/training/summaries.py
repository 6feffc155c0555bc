"""What a training run writes for people and reports: TensorBoard, a JSON-lines log, sample edits.

Under `<model_dir>`:
- `logs/train/`: TensorBoard scalars (`loss/<name>`, `perf/images_per_second`, `lr/<optimizer>`)
  and images (`samples/<name>`: a fixed batch edited with mismatched captions);
- `train_log.jsonl`: one JSON object per logged step, `{"step", "losses", "images_per_second",
  "elapsed", "time", ...}`, so benchmarks and reports need no TensorBoard reader. A resumed run
  appends; `elapsed` counts seconds since the current process started training, `time` is Unix
  time. Non-finite floats are written as the strings "nan", "inf", "-inf" (JSON has no NaN).
  On resume the records of steps after the restored checkpoint are dropped first (those steps
  run and log again), so every step has at most one record.

Sample images come from `model.sample_images(batch) -> {name: images in [0, 1]}` when the model
has that method (MIMNet and MirrorGAN do); other models log no images.
"""
from __future__ import annotations

import json
import math
import os
import time
from typing import Optional

import tensorflow as tf
from keras import ops

from mimnet_tf import files
from mimnet_tf.images import to_unit_range
from mimnet_tf.models.model_dir import ModelDir

LOG_SUBDIR = os.path.join("logs", "train")


def json_safe(value):
    """Floats as JSON can carry them: non-finite values become "nan" / "inf" / "-inf"."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def read_train_log(model_dir: str) -> list[dict]:
    """The records of `<model_dir>/train_log.jsonl` (empty when the run logged nothing yet)."""
    path = ModelDir(model_dir).log_path
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def training_minutes(log_path: str) -> dict[int, float]:
    """{step: minutes of training up to it} from a train_log.jsonl; `elapsed` restarts at each
    resume, so every process's time is added to the total of the ones before it."""
    minutes, offset, last = {}, 0.0, 0.0
    with open(log_path, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if "step" not in record or "elapsed" not in record:
                continue
            if record["elapsed"] < last:  # a resumed process: its clock starts again
                offset += last
            last = record["elapsed"]
            minutes[int(record["step"])] = (offset + last) / 60.0
    return minutes


def drop_records_after(path: str, step: int) -> int:
    """Removes the records of steps after `step` from the JSON-lines log `path` (train_log.jsonl,
    a pretraining log: a resumed run re-runs and re-logs them); the file is replaced in one
    rename. Returns how many were dropped."""
    if not os.path.exists(path):
        return 0
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    kept = [line for line in lines if not _after(line, step)]
    if len(kept) < len(lines):
        files.write_text(path, "".join(line if line.endswith("\n") else line + "\n" for line in kept))
    return len(lines) - len(kept)


def _after(line: str, step: int) -> bool:
    """Whether a log line records a step after `step` (a torn last line of a killed run counts too)."""
    if not line.strip():
        return False
    try:
        return int(json.loads(line)["step"]) > step
    except (ValueError, KeyError, TypeError):
        return True


class TrainingLog:
    """TensorBoard + JSON-lines writer of one run; a no-op when `enabled` is False (non-chief).

    Args:
        model_dir: the run's directory.
        enabled: write anything at all (only the chief task writes in a cluster).
    """

    def __init__(self, model_dir: str, enabled: bool = True):
        self.model_dir = model_dir
        self.enabled = enabled
        self._writer = None
        self._jsonl = None
        if enabled:
            os.makedirs(model_dir, exist_ok=True)
            self._writer = tf.summary.create_file_writer(os.path.join(model_dir, LOG_SUBDIR))
            self._jsonl = open(ModelDir(model_dir).log_path, "a", encoding="utf-8")

    def scalars(self, step: int, losses: dict, images_per_second: Optional[float], elapsed: float,
                extra: Optional[dict] = None) -> dict:
        """Writes one step's losses (and rates) to TensorBoard and the JSON-lines log."""
        record = {"step": int(step), "losses": {k: float(v) for k, v in losses.items()},
                  "images_per_second": images_per_second, "elapsed": round(elapsed, 3),
                  "time": round(time.time(), 3), **(extra or {})}
        if not self.enabled:
            return record
        with self._writer.as_default(step=int(step)):
            for name, value in record["losses"].items():
                tf.summary.scalar(f"loss/{name}", value)
            if images_per_second is not None:
                tf.summary.scalar("perf/images_per_second", images_per_second)
            for name, value in (extra or {}).get("learning_rates", {}).items():
                tf.summary.scalar(f"lr/{name}", value)
        self._jsonl.write(json.dumps(json_safe(record), sort_keys=True) + "\n")
        self._jsonl.flush()
        return record

    def images(self, step: int, images: dict, captions=None) -> None:
        """Writes `{name: (N, H, W, C) in [0, 1]}` as TensorBoard images (and the captions)."""
        if not self.enabled or not images:
            return
        with self._writer.as_default(step=int(step)):
            for name, value in images.items():
                tf.summary.image(f"samples/{name}", value, max_outputs=int(value.shape[0]))
            if captions is not None:
                tf.summary.text("samples/captions", captions)

    def flush(self) -> None:
        if self.enabled:
            self._writer.flush()
            self._jsonl.flush()

    def close(self) -> None:
        if self.enabled and self._jsonl is not None:
            self._writer.flush()
            self._writer.close()
            self._jsonl.close()
            self._jsonl = None


def sample_images(model, batch) -> dict:
    """`{name: images in [0, 1]}` to log for `model` (empty when it has no way to make them)."""
    if hasattr(model, "sample_images"):
        return model.sample_images(batch)
    return {}
