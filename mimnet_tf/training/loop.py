"""The one training loop: distributed steps, exact resume, clean stops, and hooks for the rest.

MIM-Net, MirrorGAN, and the DAMSM and STREAM pretraining all train through `fit(trainee, config,
hooks)`. A `Trainee` is what to train: a Keras model whose `train_step(batch) -> {name: scalar}`
adds exactly 1 to a step variable, the `tf.train.Checkpoint` that holds everything a resume needs
(weights, optimizers, that step), and `make_dataset(start_step)`, its global batches as a pure
function of the step. Two kinds of model fit it:
- the GANs (`gan_trainee`): `compile(g_optimizer=..., d_optimizer=...)` inside
  `strategy.scope()`, losses averaged over the *global* batch
  (`tf.nn.compute_average_loss(..., global_batch_size=model.global_batch_size)`, set here) so
  the replicas' values sum to the global mean, `step_counter`, `checkpoint_layers()`, optionally
  `phases` (set before each step from a schedule) and `sample_images(batch)`;
- Keras-style models (DAMSM, STREAM): `compile(optimizer=...)`, `train_step` returning the
  running means of `model.metrics` (reset before every step here, so each step reports its
  own values), the optimizer's `iterations` as the step (what their checkpoints always held).
Each replica's batch has a static batch dimension (global batch / replicas).

The loop itself only steps, resumes and saves at the end or on a signal; the NaN guard, logs,
progress and periodic checkpoints are hooks (hooks.py). Resume is exact: it restores the newest
checkpoint that restores, never starts from step 0 while one does (damaged ones are moved aside:
see checkpoint_files.py), and `make_dataset(start_step)` skips what was consumed. Every replica
sees its rows of the same global batch that one device would see, so a step does not depend on
the device layout.
"""
from __future__ import annotations

import dataclasses
import shutil
import signal
import tempfile
import threading
import time
from typing import Callable, Optional, Sequence

import tensorflow as tf

from mimnet_tf.models import checkpoint_files
from mimnet_tf.models.checkpoint_files import CheckpointMismatchError, NoRestorableCheckpointError  # noqa: F401
from mimnet_tf.models.checkpointing import training_checkpoint
from mimnet_tf.models.model_dir import ModelDir
from mimnet_tf.training import hooks as hooks_lib
from mimnet_tf.training.hooks import NonFiniteLossError  # noqa: F401 - raised by hooks.NonFiniteGuard
from mimnet_tf.training.strategy import is_chief, task_id


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
    With `reset_metrics`, `model.metrics` are reset before every step (a `train_step` that
    returns their running means then returns that step's values).
    """

    def __init__(self, model, strategy: tf.distribute.Strategy, reset_metrics: bool = False):
        self.model = model
        self.strategy = strategy
        self.reset_metrics = reset_metrics
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

        if self.reset_metrics:
            for metric in self.model.metrics:
                metric.reset_state()
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


@dataclasses.dataclass
class Trainee:
    """What `fit` trains (see the module docstring for the model's side of the contract).

    Attributes:
        model: the compiled model (built in `strategy`'s scope).
        checkpoint: everything a resume restores: weights, optimizers and `step`.
        step: the int64 variable `train_step` adds 1 to (a GAN's `step_counter`, a Keras-style
            model's `optimizer.iterations`).
        make_dataset: `start_step -> tf.data.Dataset` of global batches, deterministic in the step.
        global_batch_size: examples per step over all replicas.
        steps_per_epoch: steps in one pass over the training data (for `--epochs`).
        strategy: where the steps run; None: the default strategy (one device).
        phases: `step -> phase set` (MIMNet's `--phase_schedule`); None keeps `model.phases`.
        sample_batch: a small fixed batch whose `model.sample_images` hooks.TrainingLog logs.
        running_metrics: `train_step` returns the running means of `model.metrics` (Keras' fit
            contract); they are reset before every step.
        step_functions: the compiled steps, made on the first `fit` and reused by later ones.
    """

    model: object
    checkpoint: tf.train.Checkpoint
    step: object
    make_dataset: Callable[[int], tf.data.Dataset]
    global_batch_size: int
    steps_per_epoch: int
    strategy: Optional[tf.distribute.Strategy] = None
    phases: Optional[Callable[[int], tuple]] = None
    sample_batch: Optional[dict] = None
    running_metrics: bool = False
    step_functions: Optional[StepFunctions] = None

    def compiled_steps(self) -> StepFunctions:
        if self.step_functions is None:
            self.step_functions = StepFunctions(self.model, self.strategy or tf.distribute.get_strategy(),
                                                reset_metrics=self.running_metrics)
        return self.step_functions


def gan_trainee(model, make_dataset: Callable[[int], tf.data.Dataset], global_batch_size: int,
                steps_per_epoch: int, **options) -> Trainee:
    """The Trainee of a GAN-style model (MIMNet, MirrorGAN): its checkpoint layers, both
    optimizers and `step_counter`. `options`: the other Trainee fields (strategy, phases, ...)."""
    checkpoint = training_checkpoint(model, g_optimizer=getattr(model, "g_optimizer", None),
                                     d_optimizer=getattr(model, "d_optimizer", None))
    return Trainee(model, checkpoint, model.step_counter, make_dataset, global_batch_size, steps_per_epoch,
                   **options)


class Run:
    """A run in progress, as the hooks see it (hooks.py).

    Attributes:
        trainee, config: what trains and how long (TrainConfig).
        start_step, total_steps: where the run started and where it ends.
        step: the steps completed so far.
        chief: whether this task writes the model directory.
        log: where one-line messages go (a no-op on other tasks).
    """

    def __init__(self, trainee: Trainee, config, start_step: int, total_steps: int, chief: bool,
                 log: Callable[[str], None], manager: tf.train.CheckpointManager, restored: bool):
        self.trainee, self.config, self.chief, self.log = trainee, config, chief, log
        self.start_step = self.step = start_step
        self.total_steps = total_steps
        self.good_step = start_step  # the last step every hook's after_step accepted
        self.window = _Window(start_step)
        self._manager = manager
        self._saved_step = start_step if restored else None
        self._started = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds since this `fit` started."""
        return time.perf_counter() - self._started

    def images_per_second(self) -> Optional[float]:
        """Over the steps since the last log."""
        return self.window.images_per_second(self.trainee.global_batch_size)

    def latest_checkpoint(self) -> Optional[str]:
        """The newest checkpoint in the model directory (None on other tasks of a cluster)."""
        return self._manager.latest_checkpoint if self.chief else None

    def save(self) -> Optional[str]:
        """Checkpoints the current step (once: a second call returns the same checkpoint)."""
        if self._saved_step == self.step:
            return self.latest_checkpoint()
        path = self._manager.save(checkpoint_number=self.step)
        self._saved_step = self.step
        return path if self.chief else None


def restore_latest(checkpoint: tf.train.Checkpoint, directory: str) -> Optional[str]:
    """Restores the newest restorable checkpoint of `directory` into `checkpoint` without touching
    the folder; returns its path or None (see checkpoint_files.resume for what it raises)."""
    return checkpoint_files.resume(checkpoint, directory, log=lambda _: None, write=False)


def fit(trainee: Trainee, config, hooks: Optional[Sequence[hooks_lib.Hook]] = None,
        log: Callable[[str], None] = print) -> dict:
    """Trains `trainee` to `total_steps(config, trainee.steps_per_epoch)`, resuming from its model directory.

    Args:
        trainee: what to train.
        config: TrainConfig (model_dir, max_steps / epochs, keep_checkpoints, log_every,
            start_over_if_damaged; the standard hooks also read progress, image_log_every and
            checkpoint_every).
        hooks: what runs besides the steps, in order (see hooks.py); default
            `hooks.standard_hooks(config)`. Without a `hooks.NonFiniteGuard` a NaN trains on.
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
    hooks = list(hooks_lib.standard_hooks(config) if hooks is None else hooks)
    total = total_steps(config, trainee.steps_per_epoch)
    strategy = trainee.strategy or tf.distribute.get_strategy()
    chief = is_chief(strategy)
    model = trainee.model
    batch = int(trainee.global_batch_size)
    model.global_batch_size = batch
    checkpoint_dir = ModelDir(config.model_dir).checkpoint_dir
    say = log if chief else (lambda _: None)
    # Only the chief tidies the folder; the manager reads the `checkpoint` file resume rewrote.
    restored = checkpoint_files.resume(trainee.checkpoint, checkpoint_dir, start_over=config.start_over_if_damaged,
                                       log=say, write=chief)
    start = int(trainee.step.numpy())
    # In a cluster every worker saves (TF's rule), but only the chief into the model directory.
    save_dir = checkpoint_dir if chief else tempfile.mkdtemp(prefix=f"mimnet_{task_id(strategy)}_")
    manager = tf.train.CheckpointManager(trainee.checkpoint, save_dir, max_to_keep=max(1, config.keep_checkpoints))
    run = Run(trainee, config, start, total, chief, say, manager, restored is not None)
    say(f"Resumed from {restored} at step {start}" if restored else f"Starting at step 0 in {config.model_dir}")
    if start >= total:
        say(f"Step {start} >= the run's {total} steps: nothing to train")
    steps = trainee.compiled_steps()
    first_step_done = None
    results: dict = {}
    logged: dict = {}
    begun: list = []
    stop = _StopRequest()
    try:
        for hook in hooks:
            begun.append(hook)
            hook.begin(run)
        with stop:
            iterator = None
            if start < total:
                iterator = iter(distribute_batches(strategy, trainee.make_dataset, start, batch))
            while run.step < total and stop.signum is None:
                try:
                    outputs = steps(trainee.phases(run.step) if trainee.phases else None, iterator)
                except tf.errors.OpError as error:
                    if not _is_input_error(error):
                        raise
                    raise InputDataError(run.step + 1, _op_reason(error), run.latest_checkpoint()) from None
                results = {name: float(value) for name, value in outputs.items()}
                previous, run.step = run.step, int(trainee.step.numpy())
                if run.step != previous + 1:
                    raise RuntimeError(f"{type(model).__name__}.train_step moved step_counter from {previous} to "
                                       f"{run.step}; it must add exactly 1 per step (resume depends on it)")
                if first_step_done is None:
                    first_step_done = time.perf_counter()
                run.window.add(results)
                for hook in hooks:
                    hook.after_step(run, results)
                run.good_step = run.step
                if (config.log_every and run.step % config.log_every == 0) or run.step == total:
                    logged = run.window.means()
                    rate = run.images_per_second()
                    for hook in hooks:
                        hook.after_log(run, logged, rate)
                    run.window.reset(run.step)
                for hook in hooks:
                    hook.end_of_step(run, results)
            if stop.signum is not None:
                path = run.save()
                say(f"Stopped by {signal.Signals(stop.signum).name} at step {run.step}; saved {path}")
                raise TrainingInterrupted(stop.signum, run.step, path)
            path = run.save() if run.step > 0 else None
    except KeyboardInterrupt as interrupt:
        if isinstance(interrupt, TrainingInterrupted):
            raise
        # A forced stop (second signal): save only a step every hook accepted, whose update is whole.
        verified = run.good_step == run.step == int(trainee.step.numpy())
        path = run.save() if verified and run.step > start else None
        raise TrainingInterrupted(signal.SIGINT, run.step, path) from None
    finally:
        for hook in reversed(begun):
            hook.end(run)
        if not chief:
            shutil.rmtree(save_dir, ignore_errors=True)

    step = run.step
    steady = None
    if first_step_done is not None and step - start > 1:
        steady = round((step - start - 1) * batch / max(time.perf_counter() - first_step_done, 1e-9), 2)
    return {"start_step": start, "step": step, "total_steps": total, "steps_run": step - start,
            "losses": logged or run.window.means(), "last_losses": results, "images_per_second": steady,
            "elapsed": round(run.elapsed(), 3), "checkpoint": path if chief else None, "model_dir": config.model_dir}
