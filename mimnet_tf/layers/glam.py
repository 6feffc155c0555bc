"""GLAM (MirrorGAN): the global sentence attention and the stages of the generator cascade.

Stage 0 turns `[z, c]` (noise and the CA condition) into the coarsest features. Every later
stage looks at the text twice before doubling the resolution: word-level attention (AttnGAN,
the project's `WordAttention`: each position attends over the non-pad words) and
sentence-level attention (MirrorGAN Eq. 5, `SentenceAttention` below), and concatenates both
contexts with the previous features. Images come from the features of each stage through
`blocks.ToImage`.
"""
from __future__ import annotations

import keras
from keras import layers, ops

from mimnet_tf.layers.attention import WordAttention
from mimnet_tf.layers.blocks import ResBlock, UpBlock

INITIAL_SIZE = 4  # stage 0 starts from a 4 x 4 grid (StackGAN / AttnGAN)
MAX_WIDTH_FACTOR = 8


@keras.saving.register_keras_serializable(package="mimnet_tf")
class SentenceAttention(layers.Layer):
    """Global attention of the sentence condition over feature channels (MirrorGAN Eq. 5).

    The condition is projected to the feature width, `s' = U c`; every position weighs the
    channels of `s'` by a softmax over channels of `conv1x1(h * s')`, and the context is
    `s' * weights`. So the sentence reaches every position, but each position takes the parts
    of it that its own features ask for.

    Args:
        channels: the width of the features `h` (and of the context).

    Call: features (batch, h, w, channels), condition (batch, c) -> (context (batch, h, w,
        channels), weights (batch, h, w, channels), which sum to 1 over channels).

    Example:
        >>> context, weights = SentenceAttention(8)(keras.ops.ones((2, 4, 4, 8)), keras.ops.ones((2, 5)))
        >>> context.shape
        (2, 4, 4, 8)
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.projection = layers.Dense(channels, name="projection")
        self.mix = layers.Conv2D(channels, 1, use_bias=False, name="mix")

    def build(self, features_shape, condition_shape=None):
        if features_shape[-1] is not None and features_shape[-1] != self.channels:
            raise ValueError(f"SentenceAttention({self.channels}) got features of width {features_shape[-1]}: "
                             "expected the same width as `channels`")
        if condition_shape is not None:
            self.projection.build(condition_shape)
        self.mix.build(features_shape)

    def call(self, features, condition):
        projected = self.projection(condition)[:, None, None, :]
        weights = ops.softmax(self.mix(features * projected), axis=-1)
        return projected * weights, weights

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package="mimnet_tf")
class InitialStage(layers.Layer):
    """Stage 0 of GLAM: `[z, c]` -> dense 4 x 4 grid -> nearest-upsampling blocks.

    Widths halve at every doubling, from `channels * min(2 ** num_upsamples, 8)` at 4 x 4 down
    to `channels` at the stage's resolution.

    Args:
        channels: width of the output features.
        num_upsamples: doublings after the 4 x 4 grid (the output is 4 * 2**num_upsamples).

    Call: code (batch, noise_dim + condition_dim) -> (batch, s, s, channels), s = 4 * 2**num_upsamples.
    """

    def __init__(self, channels: int, num_upsamples: int, **kwargs):
        super().__init__(**kwargs)
        if num_upsamples < 1:
            raise ValueError(f"num_upsamples={num_upsamples}: expected >= 1 (a stage is at least 8 x 8)")
        self.channels = channels
        self.num_upsamples = num_upsamples
        self.initial_width = self.width(0)
        self.dense = layers.Dense(INITIAL_SIZE * INITIAL_SIZE * self.initial_width, name="dense")
        self.ups = [UpBlock(self.width(i + 1), name=f"up{i + 1}") for i in range(num_upsamples)]

    def width(self, level: int) -> int:
        """Channels after `level` doublings."""
        return self.channels * min(2 ** (self.num_upsamples - level), MAX_WIDTH_FACTOR)

    @property
    def output_size(self) -> int:
        return INITIAL_SIZE * 2**self.num_upsamples

    def build(self, code_shape):
        self.dense.build(code_shape)
        width = self.initial_width
        for level, block in enumerate(self.ups):
            block.build((code_shape[0], None, None, width))
            width = self.width(level + 1)

    def call(self, code):
        x = ops.reshape(self.dense(code), (-1, INITIAL_SIZE, INITIAL_SIZE, self.initial_width))
        for block in self.ups:
            x = block(x)
        return x

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "num_upsamples": self.num_upsamples}


@keras.saving.register_keras_serializable(package="mimnet_tf")
class RefinementStage(layers.Layer):
    """Stage k > 0 of GLAM: word and sentence attention, residual blocks, one doubling.

    `h_k = Up(Res([h_{k-1}, word_context, sentence_context]))` (MirrorGAN Eq. 3-6).

    Args:
        channels: width of the input and output features (and of both contexts).
        num_residual_blocks: residual blocks before the upsampling (>= 1; the first one
            projects the concatenation of 3 x channels back to channels).

    Call: features (batch, s, s, channels), words (batch, L, d), mask (batch, L), condition
        (batch, c) -> dict(features=(batch, 2s, 2s, channels), word_attention=(batch, s*s, L)
        (rows sum to 1 over the non-pad words), sentence_attention=(batch, s, s, channels)).
    """

    def __init__(self, channels: int, num_residual_blocks: int = 2, **kwargs):
        super().__init__(**kwargs)
        if num_residual_blocks < 1:
            raise ValueError(f"num_residual_blocks={num_residual_blocks}: expected >= 1")
        self.channels = channels
        self.num_residual_blocks = num_residual_blocks
        self.word_attention = WordAttention(channels, name="word_attention")
        self.sentence_attention = SentenceAttention(channels, name="sentence_attention")
        self.residuals = [ResBlock(channels, name=f"res{i}") for i in range(num_residual_blocks)]
        self.up = UpBlock(channels, name="up")

    def build(self, features_shape, words_shape=None, mask_shape=None, condition_shape=None):
        self.word_attention.build(features_shape, words_shape)
        self.sentence_attention.build(features_shape, condition_shape)
        shape = tuple(features_shape[:-1]) + (3 * self.channels,)
        for block in self.residuals:
            block.build(shape)
            shape = tuple(features_shape[:-1]) + (self.channels,)
        self.up.build(shape)

    def call(self, features, words, mask, condition):
        word_context, word_weights = self.word_attention(features, words, mask)
        sentence_context, sentence_weights = self.sentence_attention(features, condition)
        x = ops.concatenate([features, ops.cast(word_context, features.dtype),
                             ops.cast(sentence_context, features.dtype)], axis=-1)
        for block in self.residuals:
            x = block(x)
        return {"features": self.up(x), "word_attention": word_weights, "sentence_attention": sentence_weights}

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "num_residual_blocks": self.num_residual_blocks}
