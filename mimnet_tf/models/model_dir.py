"""The layout of a model directory, in one place.

A model directory is what `python -m mimnet_tf.train` writes into `--model_dir`, and also what
`pretrain_damsm` / `pretrain_stream` write into `--damsm_dir` / `--stream_dir` and what
`ship_model` packs into `pretrained/<name>/` (there the checkpoint holds the generator alone):

    config.json          the RunConfig of the run (edit, export and evaluate rebuild the same model)
    vocab.txt            the vocabulary the model was trained with
    checkpoints/         tf.train.CheckpointManager files: ckpt-<step>.index + .data-*, `checkpoint`
    train_log.jsonl      one record per logged step (training/summaries.py)
    train_summary.json   the run's final figures
    train.lock           held by the one process that trains into the directory

A shipped folder (`ship_model`) also holds benchmark.json / benchmark.md, benchmark_subset.json
(the first cases of the benchmark, which tests/test_shipped_model.py re-scores) and README.md.

No TensorFlow here: the entry points read a directory's config before they load TensorFlow.
Checking and resuming checkpoints is models/checkpoint_files.py. The loaders that build a model
from a directory live beside their model (`builder.load_generator`,
`damsm.damsm_from_dir`, `stream.stream_from_dir`, `mirrorgan.load_mirrorgan`); they all read the
directory through `ModelDir`.
"""
from __future__ import annotations

import dataclasses
import os
import re
from typing import Optional

from mimnet_tf import files
from mimnet_tf.config import RunConfig
from mimnet_tf.data.text import VOCAB_FILENAME, Vocabulary

CONFIG_FILENAME = "config.json"
CHECKPOINT_SUBDIR = "checkpoints"
LOG_FILENAME = "train_log.jsonl"
SUMMARY_FILENAME = "train_summary.json"
LOCK_FILENAME = "train.lock"
SUBSET_FILENAME = "benchmark_subset.json"
PREFIX = "ckpt"  # tf.train.CheckpointManager's default checkpoint_name
_PAIR_FILE = re.compile(rf"^{PREFIX}-(\d+)\.(index|data-(\d+)-of-(\d+))$")


def checkpoint_files(directory: str) -> dict[int, list[str]]:
    """`{step: [file names of ckpt-<step>]}` in `directory` (.index and .data shards)."""
    found: dict[int, list[str]] = {}
    if os.path.isdir(directory):
        for name in os.listdir(directory):
            match = _PAIR_FILE.match(name)
            if match:
                found.setdefault(int(match.group(1)), []).append(name)
    return found


def newest_checkpoint(directory: str) -> Optional[str]:
    """The prefix of the highest-step checkpoint in `directory` by its file names, or None (the
    `checkpoint` file may be missing or garbage; a damaged newest one fails when restored)."""
    steps = checkpoint_files(directory)
    return os.path.join(directory, f"{PREFIX}-{max(steps)}") if steps else None


def with_vocab(config: RunConfig, vocab: Vocabulary) -> RunConfig:
    """The config with ModelConfig.vocab_size / image_size / max_words taken from data and vocab."""
    model = dataclasses.replace(config.model, vocab_size=len(vocab), image_size=config.data.image_size,
                                max_words=config.data.max_words)
    return dataclasses.replace(config, model=model)


@dataclasses.dataclass(frozen=True)
class ModelDir:
    """One model directory: the paths of its files and the readers of its config, vocabulary and
    checkpoints. Nothing is read until asked; `path` may not exist yet (a run about to start)."""

    path: str

    @classmethod
    def of_checkpoint(cls, checkpoint: str) -> tuple["ModelDir", str]:
        """A model directory, or one checkpoint prefix in its checkpoints/ folder
        (`runs/x/checkpoints/ckpt-500`) -> (the ModelDir, that prefix or "" for the newest).

        Raises:
            FileNotFoundError: neither a directory nor a checkpoint (no `<prefix>.index`).
        """
        if os.path.isdir(checkpoint):
            return cls(checkpoint), ""
        if os.path.exists(checkpoint + ".index"):
            return cls(os.path.dirname(os.path.dirname(os.path.abspath(checkpoint)))), checkpoint
        raise FileNotFoundError(f"--checkpoint={checkpoint}: no such model directory (expected a directory written "
                                f"by `python -m mimnet_tf.train`, holding {CONFIG_FILENAME}, {VOCAB_FILENAME} and "
                                f"{CHECKPOINT_SUBDIR}/, or a {PREFIX}-<step> checkpoint in its {CHECKPOINT_SUBDIR}/)")

    @property
    def config_path(self) -> str:
        return os.path.join(self.path, CONFIG_FILENAME)

    @property
    def vocab_path(self) -> str:
        return os.path.join(self.path, VOCAB_FILENAME)

    @property
    def checkpoint_dir(self) -> str:
        return os.path.join(self.path, CHECKPOINT_SUBDIR)

    @property
    def log_path(self) -> str:
        return os.path.join(self.path, LOG_FILENAME)

    @property
    def summary_path(self) -> str:
        return os.path.join(self.path, SUMMARY_FILENAME)

    @property
    def lock_path(self) -> str:
        """The lock file of the directory's real path (two spellings of one folder share the lock)."""
        return os.path.join(os.path.realpath(self.path), LOCK_FILENAME)

    def write(self, config: RunConfig, vocab: Vocabulary) -> None:
        """config.json + vocab.txt, what edit, export and evaluate rebuild the model from (each
        replaced in one rename, so a killed process leaves the old file or the new one)."""
        os.makedirs(self.path, exist_ok=True)
        config.save(self.config_path)
        with files.replaced_file(self.vocab_path) as temporary:
            vocab.save(temporary)

    def has_config(self) -> bool:
        return os.path.exists(self.config_path)

    def config(self) -> RunConfig:
        """The RunConfig saved with the run, as written (see `run_config` for the model's sizes)."""
        return RunConfig.load(self.config_path)

    def vocab(self) -> Vocabulary:
        return Vocabulary.load(self.path)

    def run_config(self, vocab: Optional[Vocabulary] = None) -> RunConfig:
        """The saved RunConfig with vocab_size, image_size and max_words filled in (`with_vocab`)."""
        return with_vocab(self.config(), vocab if vocab is not None else self.vocab())

    def newest_checkpoint(self) -> Optional[str]:
        """The highest-step checkpoint by its file names (the `checkpoint` state file may be missing
        or garbage; a damaged newest one fails when restored), or None."""
        return newest_checkpoint(self.checkpoint_dir)
