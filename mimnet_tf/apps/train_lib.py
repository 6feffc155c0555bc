"""Training a model from a RunConfig: data, strategy, model and optimizers, then the loop.

`train(config)` is everything `python -m mimnet_tf.train` does after reading its flags:
1. makes sure the prepared data exists: SynthBirds is rendered and prepared on first use,
   other datasets must be prepared beforehand (the error gives the command);
2. makes the distribution strategy (for a cluster, first of all: a multi-worker strategy must
   precede any TF work, and the data must already be prepared);
3. builds the model (`MODEL_BUILDERS[--model]`) and two Adam optimizers inside the strategy's
   scope, under the mixed_float16 policy with loss scaling when `--mixed_precision`;
4. locks the model directory (one trainer per directory: training/model_dir_lock.py) and
   writes config.json and vocab.txt into it, each by an atomic replace (models/builder.py's layout);
5. runs `training.loop.fit`, which resumes from the directory's newest checkpoint that restores.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Callable, NamedTuple, Optional, Sequence

from mimnet_tf import config as config_lib
from mimnet_tf import files
from mimnet_tf.config import DataConfig, RunConfig, TrainConfig
from mimnet_tf.data import records, text
from mimnet_tf.data.prepare import prepare
from mimnet_tf.data.synthbirds.writer import FORMAT_VERSION, METADATA_FILENAME, OutputDirError, write_dataset
from mimnet_tf.models.model_dir import ModelDir, with_vocab
from mimnet_tf.training import model_dir_lock
from mimnet_tf.training.precision import cpu_has_bfloat16, dtype_policy, precision_policy

SAMPLE_IMAGES = 4  # examples in the fixed batch of edits logged to TensorBoard
SYNTHBIRDS_EDIT_CASES = 200
FIRST_CHUNK_STEPS = 10  # train_for_minutes measures the speed on this many steps before sizing chunks
PARALLEL_RENDER_MIN = 256  # below this many images, starting render processes costs more than it saves


class SetupError(ValueError):
    """Training cannot start: missing or unprepared data, a bad configuration, a model directory
    holding another model, in use by another trainer, or holding no checkpoint that restores.
    The message says what to do."""


class DataError(SetupError):
    """A prepared data file is corrupt (a TFRecord shard, vocab.txt, meta.json); the message names
    it. Found before or during training; checkpoints are never touched."""


def corrupt_data_error(data: DataConfig, reason: str, stopped: str = "") -> DataError:
    """A DataError naming the prepared shards that do not read back (each one is read to find
    them), else the folder and `reason`; `stopped` says where training stopped, if it ran."""
    bad = records.unreadable_shards(data.resolved_prepared_dir)
    where = "; ".join(f"{path} ({problem})" for path, problem in bad) or f"{data.resolved_prepared_dir} ({reason})"
    return DataError(f"corrupt prepared data: {where}{'; ' + stopped if stopped else ''}. "
                     f"Write it again: {prepare_command(data)}")


def load_vocabulary(folder: str, what: str):
    """vocab.txt of `folder`; DataError naming the file when it is empty or not a vocabulary."""
    try:
        return text.Vocabulary.load(folder)
    except ValueError as error:  # empty, no <pad>/<unk> header, duplicates, not UTF-8
        raise DataError(f"{os.path.join(folder, text.VOCAB_FILENAME)} ({what}) is corrupt: {error}") from None


class ModelEntry(NamedTuple):
    """How to train one `--model`.

    build: `(config, vocab, log) -> model`, called inside `strategy.scope()` (and the precision
        policy); the model is compiled by `train`.
    phases: optional `TrainConfig -> (step -> phase set)` (the model's phase schedule).
    """

    build: Callable
    phases: Optional[Callable[[TrainConfig], Callable[[int], tuple]]] = None


def _build_mimnet(config: RunConfig, vocab, log):
    from mimnet_tf.models.builder import build_mimnet

    return build_mimnet(config, vocab, log=log)


def _mimnet_phases(train: TrainConfig) -> Callable[[int], tuple]:
    from mimnet_tf.models.mimnet import phases_for_step

    return lambda step: phases_for_step(train.phase_schedule, step, train.reconstruction_steps)


def _build_mirrorgan(config: RunConfig, vocab, log):
    from mimnet_tf.models.mirrorgan import build_mirrorgan

    return build_mirrorgan(config, vocab, log=log)


# One line per model (`--model`).
MODEL_BUILDERS: dict[str, ModelEntry] = {
    "mimnet": ModelEntry(_build_mimnet, _mimnet_phases),
    "mirrorgan": ModelEntry(_build_mirrorgan),  # no phases: every step is D then G
}


# ----------------------------------------------------------------------------- data
def _prepared(data: DataConfig) -> bool:
    folder = data.resolved_prepared_dir
    try:
        records.shard_files(folder, "train")
    except FileNotFoundError:
        return False
    return os.path.exists(os.path.join(folder, text.VOCAB_FILENAME))


def _stale_synthbirds(data: DataConfig) -> str:
    """Why `data.data_dir` must be rendered again ('' when it need not): it holds SynthBirds of an
    older format (other captions or scenes), which would otherwise train without a word said."""
    if data.dataset != "synthbirds":
        return ""

    try:
        with open(os.path.join(data.data_dir, METADATA_FILENAME), encoding="utf-8") as f:
            version = json.load(f).get("format_version")
    except (OSError, ValueError, AttributeError):
        return ""
    if version == FORMAT_VERSION:
        return ""
    return (f"{data.data_dir} holds SynthBirds format {version} and this version reads format {FORMAT_VERSION}: "
            f"rendering it again (only the renderer's own files and the prepared records are replaced)")


def prepare_command(data: DataConfig) -> str:
    """The command that prepares `data` (for error messages)."""
    parts = ["python -m mimnet_tf.data.prepare", f"--dataset={data.dataset}", f"--data_dir={data.data_dir}",
             f"--out={data.resolved_prepared_dir}", f"--image_size={data.image_size}"]
    if data.manifest:
        parts.append(f"--manifest={data.manifest}")
    if data.caption_file:
        parts.append(f"--caption_file={data.caption_file}")
    return " ".join(parts)


def ensure_prepared_data(data: DataConfig, allow_render: bool = True, progress: bool = True,
                         log: Callable[[str], None] = print) -> None:
    """Makes sure `data.resolved_prepared_dir` holds TFRecords and vocab.txt.

    SynthBirds is rendered into `data.data_dir` (`synthbirds_num_train` / `_num_test` images at
    `image_size`, at most 200 edit cases) and prepared; for any other dataset a missing
    prepared folder is a SetupError giving the prepare command.

    Raises:
        SetupError: the data is missing and cannot be made here.
    """
    stale = _stale_synthbirds(data)
    if stale:
        log(stale)
    elif _prepared(data):
        return
    if data.dataset != "synthbirds":
        raise SetupError(f"No prepared {data.dataset} data in {data.resolved_prepared_dir} (expected train-*.tfrecord "
                         f"and {text.VOCAB_FILENAME}). Prepare it first: {prepare_command(data)}")
    if not allow_render:
        raise SetupError(f"No prepared SynthBirds data in {data.resolved_prepared_dir}; in a multi-worker run prepare "
                         f"it before starting the workers: {prepare_command(data)}")

    log(f"Rendering SynthBirds ({data.synthbirds_num_train} train / {data.synthbirds_num_test} test images at "
        f"{data.image_size} px) into {data.data_dir}")
    try:
        count = data.synthbirds_num_train + data.synthbirds_num_test
        write_dataset(data.data_dir, data.synthbirds_num_train, data.synthbirds_num_test, size=data.image_size,
                      seed=data.seed, num_edit_cases=min(SYNTHBIRDS_EDIT_CASES, data.synthbirds_num_test),
                      workers=1 if count < PARALLEL_RENDER_MIN else 2, progress=progress, overwrite=bool(stale))
        log(f"Preparing TFRecords in {data.resolved_prepared_dir}")
        prepare(data, data.resolved_prepared_dir, progress=progress)
    except (OutputDirError, ValueError, FileNotFoundError) as error:
        raise SetupError(f"SynthBirds could not be written to {data.data_dir}: {error}") from None


def _sample_batch(data: DataConfig, make_dataset: Callable) -> dict:
    """A fixed batch for the logged edits: the first test examples, else the first training ones."""
    import tensorflow as tf

    from mimnet_tf.data import pipeline

    try:
        batch = next(iter(pipeline.make_dataset(data, "test", training=False, batch_size=SAMPLE_IMAGES)))
    except (FileNotFoundError, StopIteration, tf.errors.OutOfRangeError):
        batch = next(iter(make_dataset(0)))
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
        raise corrupt_data_error(data, str(error).strip().splitlines()[0]) from None
    return {name: value[:SAMPLE_IMAGES] for name, value in batch.items()}


# ----------------------------------------------------------------------------- model directory
def check_model_dir(model_dir: str, config: RunConfig, vocab) -> None:
    """Refuses a model directory whose config.json or vocab.txt describes another model.

    Training settings (learning rates, steps, logging) may change between runs of one directory;
    the model section (and the image size and caption length that shape it) and the vocabulary
    may not.
    """
    directory = ModelDir(model_dir)
    if not directory.has_config():
        return
    if os.path.exists(directory.vocab_path) and \
            load_vocabulary(model_dir, "the model directory's").words != vocab.words:
        raise SetupError(f"{model_dir} holds a model trained with another vocabulary than "
                         f"{config.data.resolved_prepared_dir}: choose a new --model_dir")
    try:
        previous = directory.config()
    except ValueError as error:
        raise SetupError(str(error)) from None
    changed = [f"--{name}: {old!r} -> {new!r}" for name, old, new in
               config_lib.model_differences(previous.model, config.model, ignore=config_lib.INITIALISATION_FIELDS)]
    if previous.data.image_size != config.data.image_size:
        changed.append(f"--image_size: {previous.data.image_size} -> {config.data.image_size}")
    if previous.data.max_words != config.data.max_words:
        changed.append(f"--max_words: {previous.data.max_words} -> {config.data.max_words}")
    if changed:
        raise SetupError(f"{model_dir} holds a run of another model ({'; '.join(changed)}): "
                         "choose a new --model_dir or the same model flags")


# ----------------------------------------------------------------------------- optimizers
def learning_rate_schedules(train: TrainConfig, total_steps: int) -> tuple:
    """(generator, discriminator) schedules of `--lr_schedule`; ValueError naming a bad flag."""
    from mimnet_tf.training import schedules

    return (schedules.make_schedule(train, train.g_learning_rate, total_steps),
            schedules.make_schedule(train, train.d_learning_rate, total_steps))


def make_optimizers(train: TrainConfig, rate_schedules: tuple, step_variable) -> tuple:
    """(g_optimizer, d_optimizer): Adam with `--beta_1/--beta_2`, learning rates from
    `rate_schedules` evaluated at the training step (`step_variable`), wrapped in a
    LossScaleOptimizer under `--mixed_precision`. Call inside `strategy.scope()`."""
    import keras

    from mimnet_tf.training import schedules

    optimizers = []
    for schedule, name in zip(rate_schedules, ("g_optimizer", "d_optimizer")):
        optimizer = keras.optimizers.Adam(schedules.optimizer_learning_rate(schedule, step_variable),
                                          beta_1=train.beta_1, beta_2=train.beta_2, name=name,
                                          global_clipnorm=train.gradient_clip_norm or None)
        if train.mixed_precision:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer, name=f"{name}_loss_scale")
        optimizers.append(optimizer)
    return tuple(optimizers)


def validate(config: RunConfig) -> None:
    """config.validate plus the training-only checks; raises SetupError naming the flag.

    (`--lr_schedule` is checked where the schedules are made, so that this needs no TensorFlow.)
    """
    try:
        config_lib.validate(config)
    except ValueError as error:
        raise SetupError(str(error)) from None
    train = config.train
    checks = [
        (train.max_steps > 0 or train.epochs > 0, "--max_steps or --epochs must be > 0"),
        (min(train.checkpoint_every, train.log_every, train.image_log_every, train.max_steps) >= 0,
         "--checkpoint_every, --log_every, --image_log_every and --max_steps must be >= 0 (0 turns them off)"),
        (train.keep_checkpoints >= 1, f"--keep_checkpoints={train.keep_checkpoints}: expected >= 1"),
        (train.g_learning_rate > 0 and train.d_learning_rate > 0,
         "--g_learning_rate and --d_learning_rate must be > 0"),
        (bool(train.model_dir), "--model_dir is required"),
        (config.data.batch_size >= 2,
         f"--batch_size={config.data.batch_size}: training needs >= 2 (mismatched captions)"),
    ]
    for ok, message in checks:
        if not ok:
            raise SetupError(message)
    if config.model.model not in MODEL_BUILDERS:
        raise SetupError(f"--model={config.model.model!r} cannot be trained by this build yet "
                         f"(trainable: {sorted(MODEL_BUILDERS)})")


# ----------------------------------------------------------------------------- train
@dataclasses.dataclass
class Training:
    """A run ready to train: what `setup` built. `fit()` trains (and can be called again).

    Attributes:
        config: the RunConfig (vocab_size filled in).
        strategy: the distribution strategy; `model` lives in its scope.
        model: the compiled model.
        vocab: the vocabulary of the prepared data.
        chief: whether this task writes files (False on non-chief workers of a cluster).
        steps_per_epoch, total_steps: the run's length.
        trainee: what `training.loop.fit` trains: the model, its checkpoint, `make_dataset`
            (`start_step -> tf.data.Dataset` of global training batches), `phases` (`step ->
            phase set`, or None), `sample_batch` (the fixed batch of logged edits, chief only, or
            None) and the compiled steps, reused by every `fit` of this object.
    """

    config: RunConfig
    strategy: object
    model: object
    vocab: object
    chief: bool
    steps_per_epoch: int
    total_steps: int
    trainee: object
    log: Callable[[str], None] = print

    @property
    def make_dataset(self) -> Callable:
        return self.trainee.make_dataset

    @property
    def phases(self) -> Optional[Callable]:
        return self.trainee.phases

    def fit(self, train_config: Optional[TrainConfig] = None, extra_hooks: Sequence = (), **trainee_changes) -> dict:
        """Runs `training.loop.fit` with the standard hooks; returns its summary plus "replicas",
        "strategy" and "parameters".

        Args:
            train_config: another TrainConfig for this call (e.g. a chunk's max_steps).
            extra_hooks: hooks run after the standard ones (training/hooks.py).
            **trainee_changes: Trainee fields replaced for this call (make_dataset, sample_batch).
        """
        from mimnet_tf.training import hooks, loop

        train_config = train_config or self.config.train
        trainee = dataclasses.replace(self.trainee, **trainee_changes) if trainee_changes else self.trainee
        try:
            summary = loop.fit(trainee, train_config, [*hooks.standard_hooks(train_config), *extra_hooks],
                               log=self.log)
        except (loop.CheckpointMismatchError, loop.NoRestorableCheckpointError) as error:
            raise SetupError(str(error)) from None
        except loop.InputDataError as error:
            kept = f" (the last checkpoint {error.checkpoint} is unchanged)" if error.checkpoint else ""
            raise corrupt_data_error(self.config.data, error.reason,
                                     f"training stopped at step {error.step} without saving{kept}") from None
        summary.update(replicas=self.strategy.num_replicas_in_sync, strategy=type(self.strategy).__name__,
                       parameters=parameter_counts(self.model))
        if self.chief:
            files.write_json(ModelDir(self.config.train.model_dir).summary_path, summary, indent=2,
                             sort_keys=True, default=str)
        return summary


def setup(config: RunConfig, devices: Optional[Sequence[str]] = None, log: Callable[[str], None] = print) -> Training:
    """Everything before the first step: strategy, data, model, optimizers, model directory.

    Args:
        config: the run (data, model, loss weights, training).
        devices: devices for `--strategy=mirrored` (default: all local GPUs).
        log: where one-line progress messages go.

    Raises:
        SetupError: bad configuration, missing data, a model directory of another model or in
            use by another trainer.
        DataError: a corrupt prepared data file (named).
    """
    validate(config)
    multiworker = config.train.strategy == "multiworker"
    if not multiworker:  # missing data fails fast, before TensorFlow starts
        ensure_prepared_data(config.data, progress=config.train.progress, log=log)
    from mimnet_tf.training import strategy as strategy_lib

    try:  # a multi-worker strategy must configure the runtime before any TF op runs
        strategy = strategy_lib.make_strategy(config.train.strategy, devices)
    except strategy_lib.StrategyError as error:
        raise SetupError(str(error)) from None
    chief = strategy_lib.is_chief(strategy)
    say = log if chief else (lambda _: None)
    if multiworker:  # every worker reads the data; none may write it while others read
        ensure_prepared_data(config.data, allow_render=False, log=say)

    import keras
    import tensorflow as tf

    from mimnet_tf.data import pipeline
    from mimnet_tf.training import loop

    vocab = load_vocabulary(config.data.resolved_prepared_dir, "the prepared data's")
    config = with_vocab(config, vocab)
    global_batch = config.data.batch_size
    replicas = strategy.num_replicas_in_sync
    if global_batch % replicas:
        raise SetupError(f"--batch_size={global_batch} (the global batch) must be a multiple of the "
                         f"{replicas} replicas")
    try:
        steps_per_epoch = pipeline.steps_per_epoch(config.data, global_batch)
    except ValueError as error:  # meta.json not a JSON object
        raise DataError(str(error)) from None
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:  # counting the records
        raise corrupt_data_error(config.data, str(error).strip().splitlines()[0]) from None
    if steps_per_epoch < 1:
        raise SetupError(f"{config.data.resolved_prepared_dir} has fewer training images than one batch of "
                         f"{global_batch}")
    total = loop.total_steps(config.train, steps_per_epoch)
    try:
        rate_schedules = learning_rate_schedules(config.train, total)
    except ValueError as error:  # --lr_schedule and its decay settings
        raise SetupError(str(error)) from None
    if config.train.jit_compile:
        say("--jit_compile is ignored: training steps are never XLA-compiled (stateless random ops, strategies)")
    if chief:  # only the chief writes the model directory; from here on no other trainer may
        try:
            model_dir_lock.lock_model_dir(config.train.model_dir)
        except model_dir_lock.ModelDirLockedError as error:
            raise SetupError(str(error)) from None
        check_model_dir(config.train.model_dir, config, vocab)

    if config.train.bfloat16 and not tf.config.list_physical_devices("GPU") and not cpu_has_bfloat16():
        say("--bfloat16 on a CPU without native bfloat16 (no AVX512_BF16 or AMX in /proc/cpuinfo): "
            "--nobfloat16 trains in float32")
    entry = MODEL_BUILDERS[config.model.model]
    keras.utils.set_random_seed(config.train.seed)  # the same initial weights for the same seed
    policy = dtype_policy(config.train)
    with precision_policy(policy), strategy.scope():
        try:
            model = entry.build(config, vocab, say)
        except (FileNotFoundError, ValueError) as error:  # pretrained parts missing or of another shape
            raise SetupError(str(error)) from None
        g_optimizer, d_optimizer = make_optimizers(config.train, rate_schedules, model.step_counter)
        model.compile(g_optimizer=g_optimizer, d_optimizer=d_optimizer)
    if chief:
        ModelDir(config.train.model_dir).write(config, vocab)

    def make_dataset(start_step: int):
        return pipeline.make_dataset(config.data, "train", training=True, batch_size=global_batch,
                                     start_step=start_step)

    sample = None
    if chief and config.train.image_log_every:
        sample = _sample_batch(config.data, make_dataset)
    say(f"{config.model.model}: {replicas} replica(s) ({type(strategy).__name__}), global batch {global_batch}, "
        f"{steps_per_epoch} steps per epoch, {total} steps"
        + (f", {policy}" if policy else ""))
    trainee = loop.gan_trainee(model, make_dataset, global_batch, steps_per_epoch, strategy=strategy,
                               phases=entry.phases(config.train) if entry.phases else None, sample_batch=sample)
    return Training(config=config, strategy=strategy, model=model, vocab=vocab, chief=chief,
                    steps_per_epoch=steps_per_epoch, total_steps=total, trainee=trainee, log=say)


def train(config: RunConfig, devices: Optional[Sequence[str]] = None, log: Callable[[str], None] = print,
          extra_hooks: Sequence = ()) -> dict:
    """Sets up and trains `config.model.model` as the RunConfig says; returns the loop's summary.

    Args:
        config, devices, log: see `setup`.
        extra_hooks: hooks run after the standard ones (training/hooks.py), e.g. `hooks.OnStep(f)`.

    Returns:
        The summary of `training.loop.fit` plus "replicas", "strategy" and "parameters"
        ({"generator": n, "discriminators": n} when the model has them).

    Raises:
        SetupError: bad configuration, missing data, a model directory of another model, in use
            by another trainer, or holding checkpoints none of which restores.
        DataError: a corrupt prepared data file (named), found before or during training.
        training.loop.NonFiniteLossError, training.loop.TrainingInterrupted: see `fit`.
    """
    return setup(config, devices, log).fit(extra_hooks=extra_hooks)


def train_for_minutes(config: RunConfig, minutes: float, chunk_steps: int = 50,
                      log: Callable[[str], None] = print) -> dict:
    """Trains until `minutes` of training wall time have passed (a rerun resumes and adds more).

    Runs `fit` in chunks (each ends with a checkpoint) and checks the clock between chunks: the
    first chunk is at most FIRST_CHUNK_STEPS, each next one as many steps as fit in the time left
    at the last chunk's speed (at most `chunk_steps`), and training stops when not one more step
    fits, so a slow or busy machine ends within a step of the budget instead of a whole chunk
    past it. `config.train.max_steps`, when set, still caps the run.

    Returns:
        {"training": the Training, "train_seconds", "setup_seconds", "steps_run", "step",
        "last_losses"}.
    """
    began = time.perf_counter()
    training = setup(config, log=log)
    setup_seconds = time.perf_counter() - began
    trained_seconds, summary = 0.0, {}
    step = first = int(training.model.step_counter.numpy())
    cap = config.train.max_steps or None
    chunk = min(chunk_steps, FIRST_CHUNK_STEPS)
    while trained_seconds < minutes * 60 and (cap is None or step < cap):
        target = step + chunk if cap is None else min(step + chunk, cap)
        chunk_config = dataclasses.replace(training.config.train, max_steps=target, progress=False)
        started = time.perf_counter()
        summary = training.fit(train_config=chunk_config)
        elapsed = time.perf_counter() - started
        trained_seconds += elapsed
        steps_done, step = summary["step"] - step, summary["step"]
        # The last chunk's speed (the first one's includes compiling the step: a pessimistic start).
        fits = int((minutes * 60 - trained_seconds) / max(elapsed / max(steps_done, 1), 1e-9))
        if fits < 1:
            break
        chunk = min(chunk_steps, fits)
    return {"training": training, "train_seconds": round(trained_seconds, 1), "setup_seconds": round(setup_seconds, 1),
            "steps_run": step - first, "step": step, "last_losses": summary.get("last_losses", {})}


def parameter_counts(model) -> dict:
    """Trainable + non-trainable parameters of a GAN's generator and discriminators."""
    counts = {}
    if hasattr(model, "generator"):
        counts["generator"] = int(model.generator.count_params())
    if hasattr(model, "checkpoint_layers"):
        counts["discriminators"] = int(sum(layer.count_params() for name, layer in model.checkpoint_layers().items()
                                           if "discriminator" in name))
    return counts
