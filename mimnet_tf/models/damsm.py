"""DAMSM (AttnGAN): text and image encoders trained to match words with regions.

Used to pretrain the text encoder (STEM) of MIM-Net and MirrorGAN, for MIM-Net's Sim metric
and R-precision, and as an optional generator loss. The text encoder is the project's one
`TextEncoder`; the image encoder is the project's `ImageEncoder` pyramid (trained from scratch,
or initialised from a local weights file) with projections of its regions and of its pooled
features into the text space.
"""
from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf
from keras import layers, ops

from mimnet_tf import losses
from mimnet_tf.data.text import VOCAB_FILENAME, Vocabulary
from mimnet_tf.layers.image_encoder import ImageEncoder
from mimnet_tf.layers.text_encoder import TextEncoder
from mimnet_tf.models.checkpointing import layer_variables
from mimnet_tf.models.model_dir import CONFIG_FILENAME, ModelDir


@keras.saving.register_keras_serializable(package="mimnet_tf")
class DAMSMImageEncoder(layers.Layer):
    """Images -> local region features and a global feature in the text space.

    Args:
        text_dim: width of the text space.
        base_channels, downsample: the ImageEncoder pyramid (regions at S / downsample).

    Call: images (batch, S, S, 3) in [-1, 1] -> dict(regions=(batch, R, text_dim),
        global=(batch, text_dim)), R = (S / downsample)^2.
    """

    def __init__(self, text_dim: int, base_channels: int = 32, downsample: int = 8, **kwargs):
        super().__init__(**kwargs)
        self.text_dim = text_dim
        self.base_channels = base_channels
        self.downsample = downsample
        self.backbone = ImageEncoder(base_channels, downsample, name="backbone")
        self.region_projection = layers.Dense(text_dim, name="region_projection")
        self.global_projection = layers.Dense(text_dim, name="global_projection")

    def call(self, images):
        features = self.backbone(images)[-1]
        batch = ops.shape(features)[0]
        regions = ops.reshape(features, (batch, -1, features.shape[-1]))
        return {
            "regions": self.region_projection(regions),
            "global": self.global_projection(ops.concatenate(
                [ops.mean(regions, axis=1), ops.max(regions, axis=1)], axis=-1)),
        }

    def get_config(self):
        return {**super().get_config(), "text_dim": self.text_dim, "base_channels": self.base_channels,
                "downsample": self.downsample}


@keras.saving.register_keras_serializable(package="mimnet_tf")
class DAMSM(keras.Model):
    """The pair of DAMSM encoders and their pretraining step.

    Args:
        vocab_size, embed_dim, text_dim: the text encoder (must match the model that reuses it).
        base_channels, downsample: the image encoder.
        gammas: (gamma1, gamma2, gamma3) of AttnGAN (4, 5, 10).
        rnn_clip_norm: gradient-norm clip of the text encoder's variables (AttnGAN: 0.25).

    Call: {"image", "token_ids"} -> dict(regions, global, words, sentence, mask).
    """

    def __init__(self, vocab_size: int, embed_dim: int = 300, text_dim: int = 256, base_channels: int = 32,
                 downsample: int = 8, gammas=(4.0, 5.0, 10.0), rnn_clip_norm: float = 0.25, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.text_dim = text_dim
        self.base_channels = base_channels
        self.downsample = downsample
        self.gammas = tuple(float(g) for g in gammas)
        self.rnn_clip_norm = rnn_clip_norm
        self.text_encoder = TextEncoder(vocab_size, embed_dim, text_dim, name="text_encoder")
        self.image_encoder = DAMSMImageEncoder(text_dim, base_channels, downsample, name="image_encoder")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.word_tracker = keras.metrics.Mean(name="word_loss")
        self.sentence_tracker = keras.metrics.Mean(name="sentence_loss")

    @property
    def metrics(self):
        return [self.loss_tracker, self.word_tracker, self.sentence_tracker]

    def call(self, inputs, training=False):
        return {**self.image_encoder(inputs["image"]), **self.text_encoder(inputs["token_ids"], training=training)}

    def losses_of(self, outputs, labels=None):
        """(word_loss, sentence_loss), each (batch,), for a batch of matched pairs."""
        same_class = None
        if labels is not None:
            labels = ops.cast(labels, "int32")
            same_class = ops.logical_and(ops.equal(labels[:, None], labels[None, :]), labels[:, None] >= 0)
        g1, g2, g3 = self.gammas
        word = losses.matching_loss(
            losses.damsm_word_scores(outputs["regions"], outputs["words"], outputs["mask"], g1, g2), g3, same_class)
        sentence = losses.matching_loss(
            losses.cosine_matrix(outputs["global"], outputs["sentence"]), g3, same_class)
        return word, sentence

    def train_step(self, data):
        with tf.GradientTape() as tape:
            outputs = self(data, training=True)
            word, sentence = self.losses_of(outputs, data.get("label"))
            loss = ops.mean(word + sentence)
        text_vars = self.text_encoder.trainable_variables
        image_vars = self.image_encoder.trainable_variables
        text_grads, image_grads = tape.gradient(loss, [text_vars, image_vars])
        if self.rnn_clip_norm > 0:
            text_grads, _ = tf.clip_by_global_norm(text_grads, self.rnn_clip_norm)
        self.optimizer.apply_gradients(zip(list(text_grads) + list(image_grads), text_vars + image_vars))
        self.loss_tracker.update_state(loss)
        self.word_tracker.update_state(ops.mean(word))
        self.sentence_tracker.update_state(ops.mean(sentence))
        return {m.name: m.result() for m in self.metrics}

    def similarity(self, images, token_ids):
        """Cosine of global image and sentence features of matched pairs: (batch,) (the Sim metric)."""
        image = self.image_encoder(images)["global"]
        sentence = self.text_encoder(token_ids)["sentence"]
        image = image / (ops.norm(image, axis=-1, keepdims=True) + 1e-8)
        sentence = sentence / (ops.norm(sentence, axis=-1, keepdims=True) + 1e-8)
        return ops.sum(image * sentence, axis=-1)

    def get_config(self):
        return {"vocab_size": self.vocab_size, "embed_dim": self.embed_dim, "text_dim": self.text_dim,
                "base_channels": self.base_channels, "downsample": self.downsample, "gammas": self.gammas,
                "rnn_clip_norm": self.rnn_clip_norm, "name": self.name}


def damsm_from_dir(damsm_dir: str, vocab: Optional[Vocabulary] = None):
    """Loads a DAMSM written by `pretrain_damsm` (config.json + vocab.txt + checkpoint)."""
    directory = ModelDir(damsm_dir)
    if not directory.has_config():
        raise FileNotFoundError(
            f"No pretrained DAMSM in {damsm_dir} (expected {CONFIG_FILENAME}, {VOCAB_FILENAME} and a checkpoint). "
            "Write one with: python -m mimnet_tf.pretrain_damsm --flagfile=configs/<dataset>.flags")
    run = directory.config()
    damsm_vocab = directory.vocab()
    if vocab is not None and damsm_vocab.words != vocab.words:
        raise ValueError(f"The DAMSM in {damsm_dir} was trained with another vocabulary than this run's: "
                         "pretrain it on the same prepared data.")
    m = run.model
    damsm = DAMSM(len(damsm_vocab), m.embed_dim, m.text_dim, m.base_channels, m.feature_downsample, name="damsm")
    size = run.data.image_size
    damsm({"image": tf.zeros((1, size, size, 3)), "token_ids": tf.ones((1, run.data.max_words), tf.int32)})
    path = tf.train.latest_checkpoint(directory.checkpoint_dir)
    if path is None:
        raise FileNotFoundError(f"No DAMSM checkpoint in {directory.checkpoint_dir}")
    status = tf.train.Checkpoint(text_encoder=layer_variables(damsm.text_encoder),
                                 image_encoder=layer_variables(damsm.image_encoder)).restore(path)
    status.expect_partial()
    status.assert_existing_objects_matched()
    damsm.trainable = False
    return damsm
