"""What a shipped MirrorGAN carries beyond the generator `ship_model_lib.ship` packs for every model.

A MirrorGAN folder also holds the measuring instruments of its table, so the table re-scores from
the folder alone: `damsm/` (the DAMSM encoders of R-precision, without optimizer slots) and
`attribute_probe/` (the probe that read the colours); then the text-to-image benchmark on the
TEST scenes, scored once (benchmark.json / benchmark.md), its first captions on their own
(benchmark_subset.json, re-scored by tests/test_shipped_model.py) and a README.md stating how the
model was trained and what it scores.
"""
from __future__ import annotations

import os
import shutil
from typing import Callable

import tensorflow as tf

from mimnet_tf.apps import benchmark_generation_lib as generation
from mimnet_tf.apps import benchmark_subset
from mimnet_tf import files
from mimnet_tf.data.synthbirds import phrasings
from mimnet_tf.metrics import attribute_probe
from mimnet_tf.models.damsm import damsm_from_dir
from mimnet_tf.models.model_dir import SUBSET_FILENAME, ModelDir
from mimnet_tf.apps.pretrain_damsm_lib import damsm_checkpoint
from mimnet_tf.training.summaries import training_minutes

README_FILENAME = "README.md"
SHIP_SPLIT = "test"
SHIP_PHRASINGS = (phrasings.TEMPLATE, phrasings.HELD_OUT, phrasings.NO_BIRD, phrasings.TYPO)
SUBSET_PHRASING = phrasings.TEMPLATE
# The measures a re-run of the subset must reproduce (the rest are wall-clock or counts).
SUBSET_KEYS = ("attribute_accuracy", "r_precision", "r_precision_real", "fid", "diversity_l1", "diversity_features",
               "unknown_words")


def copy_damsm(damsm_dir: str, folder: str) -> list[str]:
    """Writes `folder/damsm/` with the DAMSM of `damsm_dir`: config, vocabulary and a checkpoint of
    the two encoders alone (no optimizer slots: a third of a pretraining checkpoint)."""
    source = ModelDir(damsm_dir)
    damsm = damsm_from_dir(damsm_dir)
    target = ModelDir(os.path.join(folder, generation.DAMSM_SUBDIR))
    os.makedirs(target.checkpoint_dir)
    step = int(tf.train.latest_checkpoint(source.checkpoint_dir).rsplit("-", 1)[-1])
    checkpoint = tf.train.CheckpointManager(damsm_checkpoint(damsm), target.checkpoint_dir, max_to_keep=1).save(
        checkpoint_number=step)
    return [shutil.copy(source.config_path, target.config_path), shutil.copy(source.vocab_path, target.vocab_path),
            checkpoint]


def copy_probe(probe, folder: str) -> list[str]:
    """Writes the probe that measured the table into `folder/attribute_probe/`."""
    directory = os.path.join(folder, generation.PROBE_SUBDIR)
    probe.save(directory)
    return [os.path.join(directory, name) for name in (attribute_probe.WEIGHTS_FILENAME, attribute_probe.META_FILENAME)]


def subset_settings(num_captions: int) -> generation.Settings:
    return generation.Settings(num_captions=num_captions, split=SHIP_SPLIT, phrasings=(SUBSET_PHRASING,),
                               diversity_captions=min(4, num_captions), diversity_samples=4)


def score_subset(model_dir: str, num_captions: int) -> dict:
    """The subset measures of the MirrorGAN in `model_dir` (its own DAMSM and probe) on the first
    `num_captions` test scenes."""
    output = generation.run(generation.BenchmarkConfig(checkpoint=model_dir, settings=subset_settings(num_captions)),
                            log=lambda _: None)
    column = output["columns"][generation.column_name(SUBSET_PHRASING)]
    return {key: column.get(key) for key in SUBSET_KEYS}


def readme(out: str, checkpoint: str, trained, benchmark: dict, damsm_dir: str) -> str:
    """The shipped folder's README: how it was trained and packed, and its test table."""
    config, summary_path = trained.config, ModelDir(checkpoint).summary_path
    step = int(trained.checkpoint_path.rsplit("-", 1)[-1])
    log_path = ModelDir(checkpoint).log_path
    minutes = training_minutes(log_path) if os.path.exists(log_path) else {}
    timing = (f"{step:,} steps in {minutes[max(minutes)]:.1f} min of training (train_log.jsonl, resumed runs "
              "added up)" if minutes else f"{step:,} steps (no train_log.jsonl in the run)")
    m, loss, train = config.model, config.loss, config.train
    settings = benchmark["metadata"]
    lines = [
        f"# {out}: MirrorGAN on SynthBirds, {m.image_size} px",
        "",
        "Trained and packed by:",
        "",
        "```",
        f"python -m mimnet_tf.train --model=mirrorgan ...   # the settings in config.json, --model_dir={train.model_dir}",
        f"python -m mimnet_tf.ship_model --checkpoint={checkpoint} --out={out}",
        "```",
        "",
        f"{timing}; {'summary in train_summary.json' if os.path.exists(summary_path) else 'no train_summary.json'}.",
        "",
        "**Phase schedule: none.** MirrorGAN has no phases: every step updates the discriminators, then the "
        f"generator. Loss weights: redescription (STREAM) {loss.stream:g}, CA KL {loss.kl:g}, DAMSM {loss.damsm:g}. "
        f"{m.mirrorgan_stages} stages up to {m.image_size} px, generator width {m.base_channels}, discriminator width "
        f"{m.disc_channels}, noise {m.noise_dim}, text encoder (STEM) from the DAMSM in {m.damsm_dir or '(none)'}"
        f"{' (frozen)' if m.freeze_text_encoder else ''}; Adam {train.g_learning_rate:g} / {train.d_learning_rate:g}, "
        f"batch {config.data.batch_size}.",
        "",
        f"What is here: `config.json`, `vocab.txt` ({len(trained.vocab)} words), `checkpoints/` (the generator only, "
        f"step {step:,}: it draws but does not resume training), the training log, "
        + (f"`damsm/` (the DAMSM of R-precision, copied from {damsm_dir}, encoders only), " if damsm_dir else "")
        + "`attribute_probe/` (the probe that read the colours), `benchmark.json` / `benchmark.md` (the "
        f"text-to-image benchmark on {settings['num_captions']:,} **test** scenes, scored once, by `ship_model`) "
        f"and `{SUBSET_FILENAME}` (the first scenes, which `tests/test_shipped_model.py` re-scores).",
        "",
        benchmark["table"].rstrip("\n"),
        "",
        settings["notes"],
        "",
        f"Draw with it: `python -m mimnet_tf.generate --checkpoint={out} --text=\"a bird with a red crown and blue "
        "wings\" --num=8 --out=generated`. Score it again: `python -m mimnet_tf.benchmark_generation "
        f"--checkpoint={out} --phrasing=template,held_out,no_bird` (validation scenes).",
        "",
    ]
    return "\n".join(lines)


def pack(checkpoint: str, out: str, trained, folder: str, benchmark_captions: int, subset_captions: int,
         log: Callable[[str], None], damsm_dir: str = "", probe_dir: str = "") -> list[str]:
    """Writes the MirrorGAN extras into `folder` (the staged `out`, generator already packed);
    returns the paths written."""
    damsm_dir = damsm_dir or trained.config.model.damsm_dir
    paths = []
    if damsm_dir and ModelDir(damsm_dir).has_config():
        paths += copy_damsm(damsm_dir, folder)
        log(f"Packed the DAMSM encoders of {damsm_dir}")
    else:
        damsm_dir = ""
        log("No DAMSM to pack (--damsm_dir, or the run's): the benchmark has no R-precision")
    if benchmark_captions > 0:
        probe = generation.load_probe(checkpoint, probe_dir, log)
        paths += copy_probe(probe, folder)
        settings = generation.Settings(num_captions=benchmark_captions, split=SHIP_SPLIT, phrasings=SHIP_PHRASINGS)
        output = generation.run(generation.BenchmarkConfig(checkpoint=folder, settings=settings, out=folder,
                                                           model_name=out), log, probe=probe)
        paths.extend(output["paths"])
        paths.append(benchmark_subset.write(folder, subset_captions, SHIP_SPLIT, SUBSET_PHRASING,
                                            score_subset(folder, subset_captions)))
        paths.append(files.write_text(os.path.join(folder, README_FILENAME),
                                      readme(out, checkpoint, trained, output, damsm_dir)))
    return paths
