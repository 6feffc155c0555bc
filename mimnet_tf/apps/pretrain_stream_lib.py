"""STREAM pretraining: the captioner MirrorGAN (and MIM-Net's optional redescription loss) freeze.

Writes `<stream_dir>/{config.json, vocab.txt, checkpoints/, stream_log.jsonl, stream_summary.json}`;
`models.stream.stream_from_dir` reads it back. The captioner learns the training captions of
the prepared data (teacher forcing, Adam), and is evaluated on the test split: teacher-forced
cross-entropy and token accuracy, plus a few greedy captions to read. It trains through the one
loop (training/pretraining.py).
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable

import keras
import tensorflow as tf

from mimnet_tf import files
from mimnet_tf.config import RunConfig
from mimnet_tf.data import pipeline
from mimnet_tf.data.text import Vocabulary
from mimnet_tf.models.damsm import damsm_from_dir
from mimnet_tf.models.model_dir import with_vocab
from mimnet_tf.models.stream import STREAM, build_stream, decoder_sequences, stream_checkpoint
from mimnet_tf.training import pretraining

LOG_FILENAME = "stream_log.jsonl"
SUMMARY_FILENAME = "stream_summary.json"


@dataclasses.dataclass(frozen=True)
class StreamPretrainConfig:
    """How long and how fast STREAM pretrains (the rest comes from the RunConfig)."""

    steps: int = 2000
    learning_rate: float = 1e-3
    encoder_weights: str = ""  # a local .weights.h5 of an ImageEncoder of the same widths, or ""
    encoder_from_damsm: bool = True  # without encoder_weights: start from --damsm_dir's image encoder if it fits
    eval_batches: int = 10  # test batches scored after training
    sample_captions: int = 4  # greedy captions written to the summary


def load_encoder_weights(stream: STREAM, path: str) -> None:
    """Initialises STREAM's CNN encoder from a local Keras weights file."""
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"STREAM encoder weights not found: {path}. Pass a local .weights.h5 saved from an ImageEncoder with "
            f"base_channels={stream.base_channels} and downsample={stream.downsample} (--stream_encoder_weights), "
            "or leave the flag empty to train the encoder from scratch.")
    stream.backbone.load_weights(path)


def initialise_encoder(stream: STREAM, config: RunConfig, options: StreamPretrainConfig, vocab: Vocabulary,
                       log: Callable[[str], None] = print) -> str:
    """Starts STREAM's CNN from a weights file, or from the pretrained DAMSM's image pyramid.

    A captioner trained from scratch on captions alone learns to use the image slowly (the
    decoder first learns the captions' language); a CNN that already tells colours and parts
    apart (the DAMSM's, trained to match words with regions) shortens that a lot.

    Returns:
        Where the encoder comes from: the weights file, the DAMSM directory, or "scratch".
    """
    if options.encoder_weights:
        load_encoder_weights(stream, options.encoder_weights)
        return options.encoder_weights
    if not (options.encoder_from_damsm and config.model.damsm_dir):
        return "scratch"
    backbone = damsm_from_dir(config.model.damsm_dir, vocab).image_encoder.backbone
    if (backbone.base_channels, backbone.downsample) != (stream.backbone.base_channels, stream.backbone.downsample):
        log(f"The DAMSM in {config.model.damsm_dir} has another image pyramid (base_channels={backbone.base_channels}, "
            f"feature_downsample={backbone.downsample}): STREAM's encoder starts from scratch")
        return "scratch"
    stream.backbone.set_weights(backbone.get_weights())
    return config.model.damsm_dir


def evaluate_stream(stream: STREAM, config: RunConfig, vocab: Vocabulary, max_batches: int = 10,
                    sample_captions: int = 4) -> dict:
    """Teacher-forced loss and token accuracy on the test split, and a few greedy captions."""
    total_loss, correct, counted, examples = 0.0, 0.0, 0.0, 0
    samples = []
    for i, batch in enumerate(pipeline.make_dataset(config.data, "test", training=False)):
        if i >= max_batches:
            break
        logits = stream({"image": batch["image"], "token_ids": batch["token_ids"]}, training=False)
        total_loss += float(tf.reduce_sum(stream.caption_loss(logits, batch["token_ids"])))
        targets, mask = decoder_sequences(batch["token_ids"])
        hits = tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), targets), tf.float32)
        correct += float(tf.reduce_sum(hits * mask))
        counted += float(tf.reduce_sum(mask))
        examples += int(batch["token_ids"].shape[0])
        if len(samples) < sample_captions:
            keep = sample_captions - len(samples)
            generated = stream.caption(batch["image"][:keep], vocab)
            truths = [c.decode("utf-8") for c in batch["caption"][:keep].numpy()]
            samples += [{"caption": t, "generated": g} for t, g in zip(truths, generated)]
    if not examples:
        raise ValueError(f"No test examples in {config.data.resolved_prepared_dir}: STREAM is evaluated on the test split")
    return {"test_loss": total_loss / examples, "test_token_accuracy": correct / max(counted, 1.0),
            "test_examples": examples, "samples": samples}


def check_options(config: RunConfig, options: StreamPretrainConfig) -> None:
    """Raises ValueError naming the flag when pretraining cannot start (before any data is made)."""
    if not config.model.stream_dir:
        raise ValueError("--stream_dir is empty: name the directory the pretrained STREAM is written to")
    if options.steps < 1:
        raise ValueError(f"--stream_steps={options.steps}: expected >= 1")
    if options.learning_rate <= 0:
        raise ValueError(f"--stream_learning_rate={options.learning_rate}: expected > 0")


def pretrain_stream(config: RunConfig, options: StreamPretrainConfig = StreamPretrainConfig(),
                    log: Callable[[str], None] = print) -> dict:
    """Pretrains STREAM on the prepared data of `config` into `config.model.stream_dir` (resumable).

    Returns:
        The summary written to stream_summary.json: last training losses, test loss, token
        accuracy, sample captions, steps and seconds.

    Raises:
        ValueError: no --stream_dir, or bad options.
        FileNotFoundError: no prepared data (the message gives the prepare command).
        training.hooks.NonFiniteLossError: the loss became NaN/Inf (the last checkpoint is kept).
        training.loop.TrainingInterrupted: SIGINT/SIGTERM (the step reached was saved first).
    """
    check_options(config, options)
    began = time.time()
    out_dir = config.model.stream_dir
    vocab = Vocabulary.load(pipeline.vocab_path(config.data))
    config = with_vocab(config, vocab)
    keras.utils.set_random_seed(config.train.seed)
    stream = build_stream(config.model, config.data.image_size)
    encoder_source = initialise_encoder(stream, config, options, vocab, log)
    log(f"STREAM encoder starts from {encoder_source}")
    optimizer = keras.optimizers.Adam(options.learning_rate)
    stream.compile(optimizer=optimizer)
    optimizer.build(stream.trainable_variables)

    trained = pretraining.pretrain(
        stream, stream_checkpoint(stream, optimizer), config, vocab, out_dir, options.steps, LOG_FILENAME,
        "stream step {step}/{total} loss {loss:.3f} token accuracy {token_accuracy:.3f}", log)
    evaluation = evaluate_stream(stream, config, vocab, options.eval_batches, options.sample_captions)
    summary = {**trained["losses"], **evaluation, "steps": options.steps, "seconds": round(time.time() - began, 1),
               "encoder_source": encoder_source}
    files.write_json(os.path.join(out_dir, SUMMARY_FILENAME), summary, indent=2)
    log(f"STREAM written to {out_dir}: test loss {evaluation['test_loss']:.3f}, "
        f"token accuracy {evaluation['test_token_accuracy']:.3f}")
    for sample in evaluation["samples"]:
        log(f"  {sample['caption']!r} -> {sample['generated']!r}")
    return summary
