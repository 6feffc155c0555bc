"""Building models from a RunConfig, and loading trained ones from a model directory.

A model directory (written by `python -m mimnet_tf.train`) holds:
- `config.json`: the RunConfig of the run (so edit/export/evaluate rebuild the same model);
- `vocab.txt`: the vocabulary the model was trained with;
- `checkpoints/`: `tf.train.CheckpointManager` files (model, both optimizers, step).
"""
from __future__ import annotations

import dataclasses
import os
from typing import NamedTuple, Optional

import numpy as np
import tensorflow as tf

from mimnet_tf.config import INITIALISATION_FIELDS, RunConfig, model_differences
from mimnet_tf.data.text import VOCAB_FILENAME, Vocabulary
from mimnet_tf.training.checkpoint_files import checkpoint_files, newest_checkpoint
from mimnet_tf.training.checkpointing import layer_variables, restore_generator
from mimnet_tf.training.colour_names import vocabulary_colours

CONFIG_FILENAME = "config.json"
CHECKPOINT_SUBDIR = "checkpoints"
DAMSM_CHECKPOINT = "damsm"


class TrainedGenerator(NamedTuple):
    generator: "object"  # MIMNetGenerator
    vocab: Vocabulary
    config: RunConfig
    checkpoint_path: str


def with_vocab(config: RunConfig, vocab: Vocabulary) -> RunConfig:
    """The config with ModelConfig.vocab_size / image_size / max_words taken from data and vocab."""
    model = dataclasses.replace(config.model, vocab_size=len(vocab), image_size=config.data.image_size,
                                max_words=config.data.max_words)
    return dataclasses.replace(config, model=model)


def load_word_vectors(path: str, vocab: Vocabulary, embed_dim: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """Embedding matrix from a local fastText `.vec` or GloVe `.txt` file.

    Words missing from the file keep a random normal row; returns (matrix, words found).
    """
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"Word-vector file not found: {path}. Pass a local fastText .vec or GloVe .txt file with "
            f"--word_vectors (vectors of width --embed_dim={embed_dim}), or leave the flag empty to train "
            "embeddings from scratch.")
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, 1.0, (len(vocab), embed_dim)).astype(np.float32)
    matrix[0] = 0.0
    found = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line_number, line in enumerate(f):
            parts = line.rstrip().split(" ")
            if line_number == 0 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # fastText header: "<count> <dim>"
            word, values = parts[0], parts[1:]
            if word not in vocab:
                continue
            if len(values) != embed_dim:
                raise ValueError(f"{path}:{line_number + 1}: vector of width {len(values)}, expected --embed_dim={embed_dim}")
            matrix[vocab.lookup(word)] = np.asarray(values, dtype=np.float32)
            found += 1
    return matrix, found


def damsm_from_dir(damsm_dir: str, vocab: Optional[Vocabulary] = None):
    """Loads a DAMSM written by `pretrain_damsm` (config.json + vocab.txt + checkpoint)."""
    from mimnet_tf.models.damsm import DAMSM

    config_path = os.path.join(damsm_dir, CONFIG_FILENAME)
    if not os.path.exists(config_path):
        raise FileNotFoundError(
            f"No pretrained DAMSM in {damsm_dir} (expected {CONFIG_FILENAME}, {VOCAB_FILENAME} and a checkpoint). "
            "Write one with: python -m mimnet_tf.pretrain_damsm --flagfile=configs/<dataset>.flags")
    run = RunConfig.load(config_path)
    damsm_vocab = Vocabulary.load(damsm_dir)
    if vocab is not None and damsm_vocab.words != vocab.words:
        raise ValueError(f"The DAMSM in {damsm_dir} was trained with another vocabulary than this run's: "
                         "pretrain it on the same prepared data.")
    m = run.model
    damsm = DAMSM(len(damsm_vocab), m.embed_dim, m.text_dim, m.base_channels, m.feature_downsample, name="damsm")
    size = run.data.image_size
    damsm({"image": tf.zeros((1, size, size, 3)), "token_ids": tf.ones((1, run.data.max_words), tf.int32)})
    path = tf.train.latest_checkpoint(os.path.join(damsm_dir, CHECKPOINT_SUBDIR))
    if path is None:
        raise FileNotFoundError(f"No DAMSM checkpoint in {os.path.join(damsm_dir, CHECKPOINT_SUBDIR)}")
    status = tf.train.Checkpoint(text_encoder=layer_variables(damsm.text_encoder),
                                 image_encoder=layer_variables(damsm.image_encoder)).restore(path)
    status.expect_partial()
    status.assert_existing_objects_matched()
    damsm.trainable = False
    return damsm


def build_mimnet(config: RunConfig, vocab: Vocabulary, log=print):
    """A MIMNet for training, with pretrained parts loaded as the config asks."""
    from mimnet_tf.models.mimnet import MIMNet

    config = with_vocab(config, vocab)
    damsm = None
    if config.model.damsm_dir:
        damsm = damsm_from_dir(config.model.damsm_dir, vocab)
    redescriber = None
    if config.loss.redescription > 0:
        from mimnet_tf.models.stream import stream_from_dir

        redescriber = stream_from_dir(config.model.stream_dir, vocab)
    colour_words = None
    if config.train.colour_swap_described:
        colour_words = vocabulary_colours(config.train.colour_swap_described, vocab.words)
    model = MIMNet(config.model, config.loss, config.train,
                   damsm=damsm if config.loss.damsm > 0 else None, redescriber=redescriber,
                   colour_words=colour_words, name="mimnet")
    model.build_all()
    encoder = model.generator.text_encoder
    if damsm is not None:
        encoder.set_weights(damsm.text_encoder.get_weights())
        log(f"Text encoder initialised from the DAMSM in {config.model.damsm_dir}")
    else:
        if config.model.word_vectors:
            matrix, found = load_word_vectors(config.model.word_vectors, vocab, config.model.embed_dim,
                                              config.train.seed)
            encoder.embedding.embeddings.assign(matrix)
            log(f"Embeddings initialised from {config.model.word_vectors}: {found}/{len(vocab)} words found")
        if config.model.freeze_text_encoder:  # a random Bi-LSTM must not stay frozen
            log("No --damsm_dir: the text encoder trains with the generator "
                "(the paper starts from a DAMSM-pretrained one; see pretrain_damsm).")
            model.model_config = dataclasses.replace(model.model_config, freeze_text_encoder=False)
    if config.model.image_encoder_from_damsm:
        if damsm is None:
            raise ValueError("--image_encoder_from_damsm needs --damsm_dir (a pretrained DAMSM)")
        backbone = damsm.image_encoder.backbone
        if (backbone.base_channels, backbone.downsample) != (config.model.base_channels, config.model.feature_downsample):
            raise ValueError(f"--image_encoder_from_damsm: the DAMSM's image encoder has base_channels="
                             f"{backbone.base_channels}, downsample={backbone.downsample}; this model has "
                             f"{config.model.base_channels}, {config.model.feature_downsample}")
        model.generator.image_encoder.set_weights(backbone.get_weights())
        log(f"Image encoder initialised from the DAMSM in {config.model.damsm_dir}")
    if config.model.image_encoder_weights:
        load_image_encoder_weights(model.generator, config.model.image_encoder_weights)
        log(f"Image encoder initialised from {config.model.image_encoder_weights}")
    if config.model.generator_init_dir:
        own = config.train.model_dir and checkpoint_files(os.path.join(config.train.model_dir, CHECKPOINT_SUBDIR))
        if own:  # a resumed run: its own checkpoint replaces the weights anyway
            log(f"--generator_init_dir not read: resuming from {os.path.join(config.train.model_dir, CHECKPOINT_SUBDIR)}")
        else:
            path = init_generator_from(model.generator, config.model.generator_init_dir, config.model, vocab)
            log(f"Generator initialised from {path}")
    return model


# Model fields a generator initialisation may differ in: where weights came from, whether the text
# encoder trains, and the image size (every generator weight is a convolution, an attention
# projection or the memory, none shaped by it).
_SIZE_FREE_FIELDS = INITIALISATION_FIELDS + ("image_size", "image_encoder_from_damsm", "freeze_text_encoder")


def init_generator_from(generator, model_dir: str, model_config, vocab: Vocabulary) -> str:
    """Loads the latest generator weights of another run (e.g. 64 px ones into a 128 px model).

    Raises:
        FileNotFoundError: `model_dir` has no config, vocabulary or checkpoint.
        ValueError: its vocabulary or architecture differs from this model's (named).
    """
    config_path = os.path.join(model_dir, CONFIG_FILENAME)
    path = newest_checkpoint(os.path.join(model_dir, CHECKPOINT_SUBDIR))
    if not os.path.exists(config_path) or not path:
        raise FileNotFoundError(f"--generator_init_dir={model_dir}: expected a model directory written by "
                                f"mimnet_tf.train ({CONFIG_FILENAME}, {VOCAB_FILENAME}, {CHECKPOINT_SUBDIR}/)")
    if Vocabulary.load(model_dir).words != vocab.words:
        raise ValueError(f"--generator_init_dir={model_dir}: trained with another vocabulary than this run's")
    source = RunConfig.load(config_path).model
    changed = [f"--{name}: {there!r} there, {here!r} here"
               for name, there, here in model_differences(source, model_config, ignore=_SIZE_FREE_FIELDS)]
    if changed:
        raise ValueError(f"--generator_init_dir={model_dir} holds another architecture ({'; '.join(changed)})")
    restore_generator(generator, path)
    return path


def load_image_encoder_weights(generator, path: str) -> None:
    """Initialises the generator's image encoder from a local Keras weights file."""
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"Image-encoder weights not found: {path}. Pass a local .weights.h5 file saved from an "
            "ImageEncoder of the same widths (--image_encoder_weights), or leave the flag empty to train it "
            "from scratch.")
    generator.image_encoder.load_weights(path)


def load_generator(model_dir: str, checkpoint: str = "", image_size: int = 0) -> TrainedGenerator:
    """Rebuilds the generator of a model directory and restores its latest (or given) checkpoint.

    `image_size` (0: the trained size) builds it for another size: no generator weight depends on
    the image size (the same reason --generator_init_dir loads 64 px weights into a 128 px run).
    """
    from mimnet_tf.models.generator import MIMNetGenerator

    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"Model directory not found: {model_dir} (a --model_dir written by mimnet_tf.train)")
    config = RunConfig.load(os.path.join(model_dir, CONFIG_FILENAME))
    if image_size:
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, image_size=image_size))
    vocab = Vocabulary.load(model_dir)
    config = with_vocab(config, vocab)
    path = checkpoint or newest_checkpoint(os.path.join(model_dir, CHECKPOINT_SUBDIR))
    if not path:
        raise FileNotFoundError(f"No checkpoint in {os.path.join(model_dir, CHECKPOINT_SUBDIR)}: train first")
    generator = MIMNetGenerator(config.model, name="generator")
    generator.build()
    restore_generator(generator, path)
    return TrainedGenerator(generator, vocab, config, path)
