"""Building a MIM-Net from a RunConfig, and loading a trained generator from a model directory
(its layout: models/model_dir.py).
"""
from __future__ import annotations

import dataclasses
import os
from typing import NamedTuple

import numpy as np

from mimnet_tf.config import INITIALISATION_FIELDS, RunConfig, model_differences
from mimnet_tf.data.text import VOCAB_FILENAME, Vocabulary
from mimnet_tf.models.checkpoint_files import checkpoint_files
from mimnet_tf.models.checkpointing import restore_generator
from mimnet_tf.models.colour_names import vocabulary_colours
from mimnet_tf.models.damsm import damsm_from_dir
from mimnet_tf.models.generator import MIMNetGenerator
from mimnet_tf.models.mimnet import MIMNet
from mimnet_tf.models.model_dir import CHECKPOINT_SUBDIR, CONFIG_FILENAME, ModelDir, with_vocab
from mimnet_tf.models.stream import stream_from_dir


class TrainedGenerator(NamedTuple):
    generator: "object"  # MIMNetGenerator
    vocab: Vocabulary
    config: RunConfig
    checkpoint_path: str


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


def build_mimnet(config: RunConfig, vocab: Vocabulary, log=print):
    """A MIMNet for training, with pretrained parts loaded as the config asks."""
    config = with_vocab(config, vocab)
    damsm = None
    if config.model.damsm_dir:
        damsm = damsm_from_dir(config.model.damsm_dir, vocab)
    redescriber = None
    if config.loss.redescription > 0:
        redescriber = stream_from_dir(config.model.stream_dir, vocab)
    colour_words = None
    if config.train.colour_swap.described:
        colour_words = vocabulary_colours(config.train.colour_swap.described, vocab.words)
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
        own_dir = ModelDir(config.train.model_dir).checkpoint_dir if config.train.model_dir else ""
        if own_dir and checkpoint_files(own_dir):  # a resumed run: its own checkpoint replaces the weights anyway
            log(f"--generator_init_dir not read: resuming from {own_dir}")
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
    source_dir = ModelDir(model_dir)
    path = source_dir.newest_checkpoint()
    if not source_dir.has_config() or not path:
        raise FileNotFoundError(f"--generator_init_dir={model_dir}: expected a model directory written by "
                                f"mimnet_tf.train ({CONFIG_FILENAME}, {VOCAB_FILENAME}, {CHECKPOINT_SUBDIR}/)")
    if source_dir.vocab().words != vocab.words:
        raise ValueError(f"--generator_init_dir={model_dir}: trained with another vocabulary than this run's")
    source = source_dir.config().model
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
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"Model directory not found: {model_dir} (a --model_dir written by mimnet_tf.train)")
    directory = ModelDir(model_dir)
    config = directory.config()
    if image_size:
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, image_size=image_size))
    vocab = directory.vocab()
    config = with_vocab(config, vocab)
    path = checkpoint or directory.newest_checkpoint()
    if not path:
        raise FileNotFoundError(f"No checkpoint in {directory.checkpoint_dir}: train first")
    generator = MIMNetGenerator(config.model, name="generator")
    generator.build()
    restore_generator(generator, path)
    return TrainedGenerator(generator, vocab, config, path)
