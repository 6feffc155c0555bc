"""A model-agnostic custom training loop: distributed steps, resume, logs, NaN guard, clean stops.

The loop drives any Keras model with this contract (MIMNet; MirrorGAN follows it too):
- `compile(g_optimizer=..., d_optimizer=...)` done by the caller, inside `strategy.scope()`;
- `train_step(batch) -> {name: scalar}`: per-example losses averaged over the *global* batch
  (`tf.nn.compute_average_loss(..., global_batch_size=model.global_batch_size)`), so summing
  the replicas' values gives the global mean; it increments `model.step_counter`;
- `step_counter` (int64 variable), `global_batch_size` (set here), `checkpoint_layers()`;
- optionally `phases` (set here before each step from the `phases` schedule) and
  `sample_images(batch)` (the images logged every `image_log_every` steps; see summaries.py).
Each replica's batch has a static batch dimension (global batch / replicas).

Resume is exact: the checkpoint holds the weights, both optimizers and the step, and the input
pipeline is a pure function of the step (`make_dataset(start_step)` skips what was consumed).
It starts from the newest checkpoint that restores, never from step 0 while one does (damaged
ones are moved aside: see checkpoint_files.py).
Every replica sees its rows of the same global batch that one device would see, so a step does
not depend on the device layout.
"""
from __future__ import annotations

import math
import shutil
import signal
import tempfile
import threading
import time
from typing import Callable, Optional

import tensorflow as tf
from tqdm import tqdm

from mimnet_tf.models import checkpoint_files
from mimnet_tf.models.checkpoint_files import CheckpointMismatchError, NoRestorableCheckpointError  # noqa: F401
from mimnet_tf.models.checkpointing import training_checkpoint
from mimnet_tf.models.model_dir import ModelDir
from mimnet_tf.training import summaries
from mimnet_tf.training.strategy import is_chief, task_id


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


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on SIGINT (Ctrl-C) or SIGTERM after saving a checkpoint.

    Attributes:
        signum: the signal (signal.SIGINT or signal.SIGTERM).
        step: the steps completed when training stopped.
        checkpoint: the checkpoint holding that step (None if nothing could be saved).
    """

    def __init__(self, signum: int, step: int, checkpoint: Optional[str]):
        self.signum, self.step, self.checkpoint = signum, step, checkpoint
        name = signal.Signals(signum).name
        where = f"saved {checkpoint}" if checkpoint else "no new checkpoint (the last step was not verified)"
        super().__init__(f"{name} at step {step}: {where}; run the same command again to resume.")


class InputDataError(RuntimeError):
    """The input pipeline could not read its data (a corrupt or truncated record); nothing saved.

    Attributes:
        step: the step (1-based) whose batch could not be read.
        checkpoint: the last checkpoint on disk (untouched), or None.
    """

    def __init__(self, step: int, reason: str, checkpoint: Optional[str]):
        self.step, self.reason, self.checkpoint = step, reason, checkpoint
        super().__init__(f"the training data could not be read at step {step} ({reason})")


def _is_input_error(error: tf.errors.OpError) -> bool:
    """A failure of the iterator's read (corrupt record, undecodable image), not of the model."""
    return isinstance(error, tf.errors.DataLossError) or "IteratorGetNext" in str(error)


def _op_reason(error: tf.errors.OpError) -> str:
    """The line of a graph error that says what failed ("corrupted record at 12"), without the
    Python stack and node names TF wraps it in."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reasons = [line for line in lines if not line.startswith(("[[", "File ", "Detected at node", "Graph execution"))]
    return (reasons or lines or [type(error).__name__])[-1][:300]


def total_steps(config, steps_per_epoch: int) -> int:
    """`max_steps` when given, else `epochs * steps_per_epoch`."""
    if config.max_steps > 0:
        return int(config.max_steps)
    if config.epochs <= 0 or steps_per_epoch <= 0:
        raise ValueError(f"--max_steps={config.max_steps}, --epochs={config.epochs} with {steps_per_epoch} steps "
                         "per epoch: give --max_steps > 0 or --epochs > 0")
    return int(config.epochs) * int(steps_per_epoch)


def distribute_batches(strategy: tf.distribute.Strategy, make_dataset: Callable[[int], tf.data.Dataset],
                       start_step: int, global_batch_size: int):
    """A distributed dataset giving each replica its rows of the same global batches.

    Every input pipeline (one per worker) builds the global batches of `make_dataset(start_step)`
    and keeps the rows of its local replicas: global replica r gets rows
    `[r * B / R, (r + 1) * B / R)` of each batch of B, the layout MIMNet's per-example random
    draws assume. String features (captions, keys) are dropped: they cannot live on devices.

    Args:
        strategy: the distribution strategy.
        make_dataset: `start_step -> tf.data.Dataset` of dicts of global batches (batch size B,
            batch dimension static).
        start_step: the first step to read.
        global_batch_size: B; a multiple of `strategy.num_replicas_in_sync`.
    """
    replicas = strategy.num_replicas_in_sync
    if global_batch_size % replicas:
        raise ValueError(f"--batch_size={global_batch_size} (the global batch) must be a multiple of the "
                         f"{replicas} replicas")
    per_replica = global_batch_size // replicas

    def input_fn(context: tf.distribute.InputContext):
        local = context.num_replicas_in_sync // context.num_input_pipelines
        first = context.input_pipeline_id * local * per_replica
        dataset = make_dataset(start_step)

        def split(batch):
            rows = {}
            for name, value in batch.items():
                if value.dtype == tf.string:
                    continue
                if value.shape[0] is not None and value.shape[0] != global_batch_size:
                    raise ValueError(f"make_dataset gave batches of {value.shape[0]} for {name!r}; expected the "
                                     f"global batch of {global_batch_size}")
                mine = value[first:first + local * per_replica]
                shaped = tf.reshape(mine, tf.concat([[local, per_replica], tf.shape(mine)[1:]], axis=0))
                shaped.set_shape(tf.TensorShape([local, per_replica]).concatenate(value.shape[1:]))
                rows[name] = shaped
            return tf.data.Dataset.from_tensor_slices(rows)

        return dataset.flat_map(split).prefetch(tf.data.AUTOTUNE)

    return strategy.distribute_datasets_from_function(input_fn)


class StepFunctions:
    """`strategy.run(model.train_step)` compiled once per phase set, losses summed over replicas.

    `model.phases` is read while a function traces, so it is set before every call; the traced
    functions are cached by phase set (a schedule that switches phases traces each set once).
    Never XLA-compiled: the steps use stateless random ops and optimizers across strategies.
    """

    def __init__(self, model, strategy: tf.distribute.Strategy):
        self.model = model
        self.strategy = strategy
        self._functions: dict = {}

    def __call__(self, phases, iterator) -> dict:
        if phases is not None:
            self.model.phases = tuple(phases)
        key = tuple(phases) if phases is not None else None
        function = self._functions.get(key)
        if function is None:
            function = self._functions[key] = tf.function(self._step, jit_compile=False)
        return function(iterator)

    def _step(self, iterator):
        per_replica = self.model.global_batch_size // self.strategy.num_replicas_in_sync

        def replica_step(batch):
            # A multi-worker iterator forgets the static batch size (workers could run out at
            # different times); the data here never runs out, so give it back to the model.
            batch = {name: tf.ensure_shape(value, tf.TensorShape([per_replica]).concatenate(value.shape[1:]))
                     for name, value in batch.items()}
            return self.model.train_step(batch)

        results = self.strategy.run(replica_step, args=(next(iterator),))
        return {name: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                for name, value in results.items()}

    @property
    def traced(self) -> tuple:
        """The phase sets traced so far."""
        return tuple(self._functions)


class _StopRequest:
    """Turns the first SIGINT / SIGTERM into a request to stop at the end of the current step.

    A second signal of either kind raises KeyboardInterrupt at once. Handlers are installed only
    from the main thread (Python's rule) and the previous ones are put back afterwards.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum: Optional[int] = None
        self._previous: dict = {}

    def _handle(self, signum, frame):
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        return False


class _Window:
    """Losses and timing accumulated since the last log line."""

    def __init__(self, step: int):
        self.reset(step)

    def reset(self, step: int):
        self.start_step, self.start_time, self.sums, self.count = step, time.perf_counter(), {}, 0

    def add(self, values: dict):
        for name, value in values.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
        self.count += 1

    def means(self) -> dict:
        return {name: total / max(self.count, 1) for name, total in self.sums.items()}

    def images_per_second(self, batch: int) -> Optional[float]:
        seconds = time.perf_counter() - self.start_time
        return round(self.count * batch / seconds, 2) if self.count and seconds > 0 else None


def _progress_names(results: dict) -> list[str]:
    """Which losses the progress bar shows: the totals, then reconstruction, at most four."""
    names = [n for n in results if n.endswith("total")]
    names += [n for n in results if n == "reconstruction"]
    return names[:4] or list(results)[:4]


def _learning_rates(model) -> dict:
    rates = {}
    for name in ("g_optimizer", "d_optimizer"):
        optimizer = getattr(model, name, None)
        if optimizer is not None:
            rates[name.split("_")[0]] = float(f"{float(optimizer.learning_rate):.6g}")
    return rates


def restore_latest(checkpoint: tf.train.Checkpoint, directory: str) -> Optional[str]:
    """Restores the newest restorable checkpoint of `directory` into `checkpoint` without touching
    the folder; returns its path or None (see checkpoint_files.resume for what it raises)."""
    return checkpoint_files.resume(checkpoint, directory, log=lambda _: None, write=False)


def fit(model, make_dataset: Callable[[int], tf.data.Dataset], config, strategy: tf.distribute.Strategy,
        global_batch_size: int, steps_per_epoch: int, writer: Optional[summaries.TrainingLog] = None,
        phases: Optional[Callable[[int], tuple]] = None, sample_batch: Optional[dict] = None,
        step_hook: Optional[Callable[[int, dict], None]] = None, step_functions: Optional[StepFunctions] = None,
        log: Callable[[str], None] = print) -> dict:
    """Trains `model` to `total_steps(config, steps_per_epoch)`, resuming from its model directory.

    Args:
        model: a compiled model with the contract of this module's docstring, built (with its
            optimizers) inside `strategy.scope()`.
        make_dataset: `start_step -> tf.data.Dataset` of global batches, deterministic in the step.
        config: TrainConfig (model_dir, max_steps / epochs, checkpoint_every, keep_checkpoints,
            log_every, image_log_every, progress).
        strategy: where the steps run (see `strategy.make_strategy`).
        global_batch_size: examples per step over all replicas.
        steps_per_epoch: steps in one pass over the training data (for `--epochs`).
        writer: where logs go; default `summaries.TrainingLog(config.model_dir)` on the chief.
        phases: `step -> phase set` (e.g. MIMNet's `--phase_schedule`); None keeps `model.phases`.
        sample_batch: a small fixed batch for `summaries.sample_images` every `image_log_every`.
        step_hook: called as `step_hook(step, losses)` after every verified step.
        step_functions: reuse the compiled steps of an earlier `fit` of the same model.
        log: where one-line messages go.

    Returns:
        {"start_step", "step", "total_steps", "steps_run", "losses" (means over the last log
        window), "last_losses", "images_per_second" (after the first step: no tracing),
        "elapsed", "checkpoint", "model_dir"}.

    Raises:
        NonFiniteLossError: a loss was NaN/Inf (nothing saved; the model's weights in memory
            are then not usable, restore them from the checkpoint).
        TrainingInterrupted: SIGINT/SIGTERM; the step reached was saved first.
        InputDataError: a batch could not be read (corrupt data); nothing saved.
        CheckpointMismatchError: the model directory holds another model's checkpoint.
        NoRestorableCheckpointError: it holds checkpoints, none restores, and not
            `config.start_over_if_damaged` (see checkpoint_files.resume).
    """
    total = total_steps(config, steps_per_epoch)
    chief = is_chief(strategy)
    model.global_batch_size = int(global_batch_size)
    checkpoint_dir = ModelDir(config.model_dir).checkpoint_dir
    say = log if chief else (lambda _: None)
    checkpoint = training_checkpoint(model, g_optimizer=getattr(model, "g_optimizer", None),
                                     d_optimizer=getattr(model, "d_optimizer", None))
    # Only the chief tidies the folder; the manager reads the `checkpoint` file resume rewrote.
    restored = checkpoint_files.resume(checkpoint, checkpoint_dir, start_over=config.start_over_if_damaged,
                                       log=say, write=chief)
    start = step = int(model.step_counter.numpy())
    # In a cluster every worker saves (TF's rule), but only the chief into the model directory.
    save_dir = checkpoint_dir if chief else tempfile.mkdtemp(prefix=f"mimnet_{task_id(strategy)}_")
    manager = tf.train.CheckpointManager(checkpoint, save_dir, max_to_keep=max(1, config.keep_checkpoints))
    own_writer = writer is None
    if own_writer:
        if chief:  # steps after the checkpoint run again and log again: keep one record per step
            summaries.drop_records_after(config.model_dir, start)
        writer = summaries.TrainingLog(config.model_dir, enabled=chief)
    say(f"Resumed from {restored} at step {start}" if restored else f"Starting at step 0 in {config.model_dir}")
    if start >= total:
        say(f"Step {start} >= the run's {total} steps: nothing to train")

    steps = step_functions or StepFunctions(model, strategy)
    sample_function = tf.function(lambda batch: summaries.sample_images(model, batch)) if sample_batch else None
    bar = tqdm(total=total, initial=start, disable=not (config.progress and chief), unit="step", dynamic_ncols=True)
    window = _Window(start)
    saved_step = start if restored else None
    started = time.perf_counter()
    first_step_done = None
    results: dict = {}
    logged: dict = {}

    def save() -> Optional[str]:
        nonlocal saved_step
        if saved_step == step:
            return manager.latest_checkpoint if chief else None
        path = manager.save(checkpoint_number=step)
        saved_step = step
        return path if chief else None

    stop = _StopRequest()
    try:
        with stop:
            iterator = None
            if start < total:
                iterator = iter(distribute_batches(strategy, make_dataset, start, global_batch_size))
            while step < total and stop.signum is None:
                try:
                    outputs = steps(phases(step) if phases else None, iterator)
                except tf.errors.OpError as error:
                    if not _is_input_error(error):
                        raise
                    raise InputDataError(step + 1, _op_reason(error), manager.latest_checkpoint if chief else None) \
                        from None
                results = {name: float(value) for name, value in outputs.items()}
                previous, step = step, int(model.step_counter.numpy())
                if step != previous + 1:
                    raise RuntimeError(f"{type(model).__name__}.train_step moved step_counter from {previous} to "
                                       f"{step}; it must add exactly 1 per step (resume depends on it)")
                bad = {name: value for name, value in results.items() if not math.isfinite(value)}
                if bad:
                    writer.scalars(step, results, None, time.perf_counter() - started, {"non_finite": sorted(bad)})
                    raise NonFiniteLossError(step, bad, manager.latest_checkpoint if chief else None)
                if first_step_done is None:
                    first_step_done = time.perf_counter()
                window.add(results)
                bar.update(1)
                bar.set_postfix({n: f"{results[n]:.3f}" for n in _progress_names(results)}
                                | {"img/s": window.images_per_second(global_batch_size)}, refresh=False)
                if (config.log_every and step % config.log_every == 0) or step == total:
                    logged = window.means()
                    writer.scalars(step, logged, window.images_per_second(global_batch_size),
                                   time.perf_counter() - started,
                                   {"phases": list(getattr(model, "phases", ()) or ()),
                                    "learning_rates": _learning_rates(model)})
                    window.reset(step)
                if sample_function is not None and chief and config.image_log_every and \
                        step % config.image_log_every == 0:
                    writer.images(step, sample_function(sample_batch), sample_batch.get("mismatched_caption"))
                if config.checkpoint_every and step % config.checkpoint_every == 0:
                    save()
                if step_hook is not None:
                    step_hook(step, results)
            if stop.signum is not None:
                path = save()
                say(f"Stopped by {signal.Signals(stop.signum).name} at step {step}; saved {path}")
                raise TrainingInterrupted(stop.signum, step, path)
            path = save() if step > 0 else None
    except KeyboardInterrupt as interrupt:
        if isinstance(interrupt, TrainingInterrupted):
            raise
        # A forced stop (second signal) between steps: the state is that of a finished step.
        verified = results and all(math.isfinite(v) for v in results.values()) and \
            int(model.step_counter.numpy()) == step
        path = save() if verified and step > start else None
        raise TrainingInterrupted(signal.SIGINT, step, path) from None
    finally:
        bar.close()
        writer.flush()
        if own_writer:
            writer.close()
        if not chief:
            shutil.rmtree(save_dir, ignore_errors=True)

    elapsed = time.perf_counter() - started
    steady = None
    if first_step_done is not None and step - start > 1:
        steady = round((step - start - 1) * global_batch_size / max(time.perf_counter() - first_step_done, 1e-9), 2)
    return {"start_step": start, "step": step, "total_steps": total, "steps_run": step - start,
            "losses": logged or window.means(), "last_losses": results, "images_per_second": steady,
            "elapsed": round(elapsed, 3), "checkpoint": path if chief else None, "model_dir": config.model_dir}
