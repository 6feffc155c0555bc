"""STREAM (MirrorGAN): an image captioner that "mirrors" an image back to its text.

Encoder: the project's `ImageEncoder` pyramid, the same one as the DAMSM image encoder
(`base_channels`, `feature_downsample`), so that it can start from the pretrained DAMSM's (or
from a local weights file, or from scratch) -> mean and max pooling -> Dense(embed_dim) ->
BatchNormalization. Decoder: word embedding (embed_dim) -> LSTM (hidden_dim) -> vocabulary
logits, teacher-forced.

Sequences. Token ids are right-padded with `<pad>` (0) and carry no `<start>`/`<end>` tokens,
so for a caption `w_1 .. w_n` padded to L (n <= L):
- decoder inputs (L + 1 steps): the image feature at t = 0, then the embeddings of the L
  token ids (`w_1 .. w_n`, then pads);
- targets (L + 1 steps): `w_1 .. w_n`, then `<pad>` at t = n, which plays `<end>`;
- mask: 1 for t <= n (the words and the one end prediction), 0 after.
The LSTM is causal, so the pads fed after the end never change a prediction the mask keeps.
Greedy decoding feeds the image feature, then each argmax word, and stops at `<pad>`.

`redescription_loss(images, token_ids)` is MirrorGAN's L_STREAM per example: the masked
cross-entropy of the caption regenerated from the image (`losses.caption_cross_entropy`, mean
over the n + 1 kept steps). A frozen STREAM (`stream_from_dir`) still passes gradients to the
images it scores: that is how the redescription loss trains a generator.
"""
from __future__ import annotations

from typing import Optional

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from mimnet_tf import losses
from mimnet_tf.data.text import PAD_ID, Vocabulary
from mimnet_tf.layers.image_encoder import ImageEncoder
from mimnet_tf.layers.text_encoder import token_mask
from mimnet_tf.models.checkpointing import layer_variables, optimizer_variables
from mimnet_tf.models.model_dir import CONFIG_FILENAME, ModelDir

MAX_LENGTH = 20  # the longest sequence the decoder runs: L + 1 <= MAX_LENGTH
BATCH_NORM_MOMENTUM = 0.9  # moving statistics settle within a short pretraining


def decoder_sequences(token_ids):
    """Targets and mask of the teacher-forced decoder (see the module docstring).

    Args:
        token_ids: int (batch, L), right-padded with 0.

    Returns:
        (targets int32 (batch, L + 1), mask float32 (batch, L + 1)).
    """
    token_ids = ops.cast(token_ids, "int32")
    words = token_mask(token_ids)
    targets = ops.pad(token_ids, [[0, 0], [0, 1]], constant_values=PAD_ID)
    lengths = ops.cast(ops.sum(words, axis=1), "int32")
    end = ops.one_hot(lengths, token_ids.shape[1] + 1)
    mask = ops.pad(words, [[0, 0], [0, 1]]) + end
    return targets, mask


@keras.saving.register_keras_serializable(package="mimnet_tf")
class STREAM(keras.Model):
    """Image captioner: CNN encoder -> 256-d feature + batch norm; LSTM decoder (MirrorGAN STREAM).

    Args:
        vocab_size: vocabulary size (0 = `<pad>`, which doubles as `<end>`).
        embed_dim: image feature and word embedding width (256).
        hidden_dim: LSTM width (512).
        base_channels: the encoder pyramid's width at full resolution.
        downsample: the pyramid's total reduction (ModelConfig.feature_downsample, as the DAMSM's).
        max_length: the longest decoded sequence (20).

    Call: {"image": (batch, S, S, 3) in [-1, 1], "token_ids": int (batch, L)} -> logits
        (batch, L + 1, vocab_size), float32.

    Example:
        >>> stream = STREAM(20, 8, 16, base_channels=4, downsample=4)
        >>> stream({"image": keras.ops.zeros((2, 16, 16, 3)), "token_ids": keras.ops.ones((2, 6), "int32")}).shape
        (2, 7, 20)
    """

    def __init__(self, vocab_size: int, embed_dim: int = 256, hidden_dim: int = 512, base_channels: int = 32,
                 downsample: int = 8, max_length: int = MAX_LENGTH, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.hidden_dim = hidden_dim
        self.base_channels = base_channels
        self.downsample = downsample
        self.max_length = max_length
        self.backbone = ImageEncoder(base_channels, downsample, name="backbone")
        self.feature_projection = layers.Dense(embed_dim, name="feature_projection")
        self.feature_norm = layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name="feature_norm")
        self.word_embedding = layers.Embedding(vocab_size, embed_dim, name="word_embedding")
        self.lstm = layers.LSTM(hidden_dim, return_sequences=True, return_state=True, name="lstm")
        self.vocab_projection = layers.Dense(vocab_size, name="vocab_projection")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name="token_accuracy")

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    def build_all(self, image_size: int, max_words: int):
        """Creates every variable with a dummy batch."""
        self({"image": ops.zeros((2, image_size, image_size, 3)), "token_ids": ops.ones((2, max_words), "int32")})

    # ------------------------------------------------------------------ encoder / decoder
    def encode_images(self, images, training=False):
        """(batch, S, S, 3) in [-1, 1] -> (batch, embed_dim): pooled, projected, batch-normalised."""
        grid = self.backbone(images)[-1]
        pooled = ops.concatenate([ops.mean(grid, axis=(1, 2)), ops.max(grid, axis=(1, 2))], axis=-1)
        return self.feature_norm(self.feature_projection(pooled), training=training)

    def _vocabulary_logits(self, hidden):
        return ops.cast(self.vocab_projection(hidden), "float32")

    def decoder_logits(self, features, token_ids):
        """Teacher-forced logits: features (batch, E), token_ids (batch, L) -> (batch, L + 1, V)."""
        if token_ids.shape[1] is not None and token_ids.shape[1] + 1 > self.max_length:
            raise ValueError(f"token_ids of {token_ids.shape[1]} words: STREAM decodes at most "
                             f"{self.max_length} steps (the words and one end), so at most {self.max_length - 1} words")
        embedded = self.word_embedding(ops.cast(token_ids, "int32"))
        inputs = ops.concatenate([ops.cast(features, embedded.dtype)[:, None, :], embedded], axis=1)
        hidden = self.lstm(inputs)[0]
        return self._vocabulary_logits(hidden)

    def call(self, inputs, training=False):
        features = self.encode_images(inputs["image"], training=training)
        return self.decoder_logits(features, inputs["token_ids"])

    # ------------------------------------------------------------------ losses
    def caption_loss(self, logits, token_ids):
        """Masked cross-entropy of the caption under `logits`: (batch,)."""
        targets, mask = decoder_sequences(token_ids)
        return losses.caption_cross_entropy(logits, targets, mask)

    def redescription_loss(self, images, token_ids):
        """L_STREAM: cross-entropy of `token_ids` regenerated from `images` (inference mode). -> (batch,)."""
        return self.caption_loss(self({"image": images, "token_ids": token_ids}, training=False), token_ids)

    def train_step(self, data):
        """One pretraining step on (image, caption) pairs: the mean caption loss."""
        token_ids = data["token_ids"]
        with tf.GradientTape() as tape:
            logits = self({"image": data["image"], "token_ids": token_ids}, training=True)
            per_example = self.caption_loss(logits, token_ids)
            loss = ops.mean(per_example)
        variables = self.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        targets, mask = decoder_sequences(token_ids)
        correct = ops.cast(ops.equal(ops.argmax(logits, axis=-1), ops.cast(targets, "int64")), "float32")
        accuracy = ops.sum(correct * mask) / ops.maximum(ops.sum(mask), 1.0)
        self.loss_tracker.update_state(loss)
        self.accuracy_tracker.update_state(accuracy)
        return {m.name: m.result() for m in self.metrics}

    # ------------------------------------------------------------------ decoding
    def greedy_ids(self, images, max_length: Optional[int] = None):
        """Greedy decoding: (batch, S, S, 3) -> int32 (batch, max_length); words after the first 0 are 0."""
        steps = max_length or self.max_length
        state = None
        step_input = ops.cast(self.encode_images(images, training=False), self.compute_dtype)[:, None, :]
        decoded = []
        for _ in range(steps):
            output, hidden, cell = self.lstm(step_input, initial_state=state)
            word = ops.cast(ops.argmax(self._vocabulary_logits(output[:, 0]), axis=-1), "int32")
            decoded.append(word)
            state = [hidden, cell]
            step_input = self.word_embedding(word)[:, None, :]
        ids = ops.stack(decoded, axis=1)
        ended = ops.cumsum(ops.cast(ops.equal(ids, PAD_ID), "int32"), axis=1) > 0
        return ops.where(ended, ops.zeros_like(ids), ids)

    def caption(self, images, vocab: Vocabulary) -> list[str]:
        """Greedy captions of a batch of images, as text (for inspection)."""
        return [vocab.decode(row) for row in np.asarray(self.greedy_ids(images))]

    def get_config(self):
        return {"vocab_size": self.vocab_size, "embed_dim": self.embed_dim, "hidden_dim": self.hidden_dim,
                "base_channels": self.base_channels, "downsample": self.downsample, "max_length": self.max_length,
                "name": self.name}


def build_stream(model_config, image_size: Optional[int] = None) -> STREAM:
    """A STREAM sized by a ModelConfig (vocab_size set): stream_embed_dim, stream_hidden_dim, and the
    DAMSM's pyramid (base_channels, feature_downsample)."""
    size = image_size or model_config.image_size
    if model_config.vocab_size < 2:
        raise ValueError(f"ModelConfig.vocab_size={model_config.vocab_size}: set it from the vocabulary first "
                         "(models.model_dir.with_vocab)")
    # The decoder runs the caption's words and one end: at least MAX_LENGTH steps, more for longer captions.
    stream = STREAM(model_config.vocab_size, model_config.stream_embed_dim, model_config.stream_hidden_dim,
                    model_config.base_channels, model_config.feature_downsample,
                    max_length=max(MAX_LENGTH, model_config.max_words + 1), name="stream")
    stream.build_all(size, model_config.max_words)
    return stream


def stream_checkpoint(stream: STREAM, optimizer=None) -> tf.train.Checkpoint:
    """The explicit-variable checkpoint of a STREAM (batch-norm statistics included)."""
    children = {"stream": layer_variables(stream)}
    if optimizer is not None:
        children["optimizer"] = optimizer_variables(optimizer)
    return tf.train.Checkpoint(**children)


def stream_from_dir(stream_dir: str, vocab: Optional[Vocabulary] = None) -> STREAM:
    """Loads a frozen STREAM written by `python -m mimnet_tf.pretrain_stream`.

    Args:
        stream_dir: the directory (config.json, vocab.txt, checkpoints/).
        vocab: the run's vocabulary; must be the one the STREAM was pretrained with.

    Raises:
        FileNotFoundError: no pretrained STREAM there (the message gives the command).
        ValueError: another vocabulary.
    """
    directory = ModelDir(stream_dir or "")
    if not stream_dir or not directory.has_config():
        raise FileNotFoundError(
            f"No pretrained STREAM captioner in {stream_dir or '(empty --stream_dir)'} (expected {CONFIG_FILENAME}, "
            "vocab.txt and checkpoints/). Pretrain one on the same prepared data with: python -m "
            "mimnet_tf.pretrain_stream --flagfile=configs/<dataset>.flags --stream_dir=DIR, then pass --stream_dir=DIR")
    stream_vocab = directory.vocab()
    if vocab is not None and stream_vocab.words != vocab.words:
        raise ValueError(f"The STREAM in {stream_dir} was trained with another vocabulary than this run's: "
                         "pretrain it on the same prepared data.")
    run = directory.run_config(stream_vocab)
    stream = build_stream(run.model, run.data.image_size)
    path = tf.train.latest_checkpoint(directory.checkpoint_dir)
    if path is None:
        raise FileNotFoundError(f"No STREAM checkpoint in {directory.checkpoint_dir}: "
                                "pretraining did not finish; run python -m mimnet_tf.pretrain_stream again")
    status = stream_checkpoint(stream).restore(path)
    status.expect_partial()
    status.assert_existing_objects_matched()
    stream.trainable = False
    return stream
