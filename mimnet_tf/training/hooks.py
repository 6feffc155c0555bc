"""The hooks of the training loop: what a run does besides stepping (guard, logs, checkpoints).

`loop.fit` calls every hook of its list, in order, at five points of a run:
- `begin(run)`: after the checkpoint was restored, before the first step;
- `after_step(run, losses)`: after every step, with that step's `{name: float}`; a hook that
  raises stops the run there (`NonFiniteGuard` does), and the step counts as good (an
  interrupted run saves it) only once every hook returned;
- `after_log(run, means, images_per_second)`: every `log_every` steps and at the last step,
  with the means of the losses since the previous log;
- `end_of_step(run, losses)`: after every step's hooks and log line (the periodic checkpoint is
  saved here, so a checkpoint never holds a step the log lacks);
- `end(run)`: always, last, even after an error (close files and bars).

`run` is the loop's `loop.Run`: `step`, `start_step`, `total_steps`, `config`, `trainee`, `chief`,
`log`, `elapsed()`, `images_per_second()`, `save()` (a checkpoint of the current step) and
`latest_checkpoint()`. Within a point, order matters: a log that records bad steps comes before
the guard (whose `after_step` stops the run before any `end_of_step` saves). `standard_hooks` is the list MIM-Net and MirrorGAN
train with; the pretraining commands use `PretrainLog` instead of the bar and `TrainingLog`.
"""
from __future__ import annotations

import json
import math
import os
from typing import Callable, Optional

import tensorflow as tf
from tqdm import tqdm

from mimnet_tf.models.model_dir import ModelDir
from mimnet_tf.training import summaries


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or Inf; training stopped without saving.

    Attributes:
        step: the step (1-based count of steps run) whose losses were not finite.
        losses: {name: value} of the non-finite losses.
        checkpoint: the last checkpoint on disk (untouched), or None.
    """

    def __init__(self, step: int, losses: dict, checkpoint: Optional[str]):
        self.step, self.losses, self.checkpoint = step, dict(losses), checkpoint
        names = ", ".join(f"{name}={value}" for name, value in sorted(losses.items()))
        kept = f"the last checkpoint {checkpoint} is unchanged" if checkpoint else "no checkpoint was written"
        super().__init__(f"non-finite loss at step {step}: {names}. Training stopped without saving; {kept}. "
                         "Lower the learning rates or check the data, then resume.")


def non_finite(losses: dict) -> dict:
    """The NaN / Inf entries of `{name: float}`."""
    return {name: value for name, value in losses.items() if not math.isfinite(value)}


class Hook:
    """A no-op at every point; subclasses override what they need (see the module docstring)."""

    def begin(self, run) -> None:
        pass

    def after_step(self, run, losses: dict) -> None:
        pass

    def after_log(self, run, means: dict, images_per_second: Optional[float]) -> None:
        pass

    def end_of_step(self, run, losses: dict) -> None:
        """After the step's log line: a checkpoint saved here never holds a step the log lacks."""

    def end(self, run) -> None:
        pass


class NonFiniteGuard(Hook):
    """Stops the run at the first NaN / Inf loss, before anything saves that step."""

    def after_step(self, run, losses):
        bad = non_finite(losses)
        if bad:
            raise NonFiniteLossError(run.step, bad, run.latest_checkpoint())


class PeriodicCheckpoint(Hook):
    """Saves a checkpoint every `every` steps (0: only the loop's own save at the end)."""

    def __init__(self, every: int):
        self.every = int(every)

    def end_of_step(self, run, losses):
        if self.every and run.step % self.every == 0:
            run.save()


class OnStep(Hook):
    """Calls `function(step, losses)` after every good step, once it is logged and saved (tests,
    pauses, custom stops)."""

    def __init__(self, function: Callable[[int, dict], None]):
        self.function = function

    def end_of_step(self, run, losses):
        self.function(run.step, losses)


def _progress_names(losses: dict) -> list[str]:
    """Which losses the progress bar shows: the totals, then reconstruction, at most four."""
    names = [n for n in losses if n.endswith("total")]
    names += [n for n in losses if n == "reconstruction"]
    return names[:4] or list(losses)[:4]


class ProgressBar(Hook):
    """A tqdm bar of the run's steps with its main losses and images/s (chief only, `--progress`)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._bar = None

    def begin(self, run):
        self._bar = tqdm(total=run.total_steps, initial=run.start_step, disable=not (self.enabled and run.chief),
                         unit="step", dynamic_ncols=True)

    def after_step(self, run, losses):
        self._bar.update(1)
        self._bar.set_postfix({n: f"{losses[n]:.3f}" for n in _progress_names(losses)}
                              | {"img/s": run.images_per_second()}, refresh=False)

    def end(self, run):
        if self._bar is not None:
            self._bar.close()


def _learning_rates(model) -> dict:
    rates = {}
    for name in ("g_optimizer", "d_optimizer"):
        optimizer = getattr(model, name, None)
        if optimizer is not None:
            rates[name.split("_")[0]] = float(f"{float(optimizer.learning_rate):.6g}")
    return rates


class TrainingLog(Hook):
    """TensorBoard + `train_log.jsonl` of the model directory (summaries.py), and the sample edits.

    On resume the records of steps after the restored checkpoint are dropped first (those steps
    run and log again). A step with a non-finite loss is recorded with `"non_finite": [names]`.

    Args:
        image_log_every: steps between logged sample edits of the trainee's `sample_batch` (0: none).
    """

    def __init__(self, image_log_every: int = 0):
        self.image_log_every = image_log_every
        self.writer: Optional[summaries.TrainingLog] = None
        self._samples = None

    def begin(self, run):
        model_dir = run.config.model_dir
        if run.chief:
            summaries.drop_records_after(ModelDir(model_dir).log_path, run.start_step)
        self.writer = summaries.TrainingLog(model_dir, enabled=run.chief)
        sample = run.trainee.sample_batch
        if sample is not None and run.chief and self.image_log_every:
            model = run.trainee.model
            self._samples = tf.function(lambda batch: summaries.sample_images(model, batch))

    def after_step(self, run, losses):
        bad = non_finite(losses)
        if bad:
            self.writer.scalars(run.step, losses, None, run.elapsed(), {"non_finite": sorted(bad)})
        elif self._samples is not None and run.step % self.image_log_every == 0:
            sample = run.trainee.sample_batch
            self.writer.images(run.step, self._samples(sample), sample.get("mismatched_caption"))

    def after_log(self, run, means, images_per_second):
        model = run.trainee.model
        self.writer.scalars(run.step, means, images_per_second, run.elapsed(),
                            {"phases": list(getattr(model, "phases", ()) or ()),
                             "learning_rates": _learning_rates(model)})

    def end(self, run):
        if self.writer is not None:
            self.writer.close()


class PretrainLog(Hook):
    """The pretraining commands' log: one JSON line `{"step", <loss>: mean, ..., "elapsed_s"}` per
    logged step in `path`, and one printed line `line.format(step=, total=, **means)`.

    On resume the records of steps after the restored checkpoint are dropped first.
    """

    def __init__(self, path: str, line: str):
        self.path, self.line = path, line

    def begin(self, run):
        if run.chief:
            summaries.drop_records_after(self.path, run.start_step)

    def after_log(self, run, means, images_per_second):
        entry = {"step": run.step, **means, "elapsed_s": round(run.elapsed(), 1)}
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(summaries.json_safe(entry)) + "\n")
        run.log(self.line.format(step=run.step, total=run.total_steps, **means))


def standard_hooks(config) -> list[Hook]:
    """What MIM-Net and MirrorGAN train with: the bar, TensorBoard + train_log.jsonl (bad steps
    included), the NaN guard, then a checkpoint every `config.checkpoint_every` steps."""
    return [ProgressBar(config.progress), TrainingLog(config.image_log_every), NonFiniteGuard(),
            PeriodicCheckpoint(config.checkpoint_every)]
