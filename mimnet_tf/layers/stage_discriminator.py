"""The per-stage discriminator of MirrorGAN (AttnGAN's): an unconditional and a sentence-conditional logit."""
from __future__ import annotations

import math

import keras
from keras import layers, ops

from mimnet_tf.layers.blocks import LEAK, DownBlock

FINAL_SIZE = 4  # the trunk stops at 4 x 4; both heads end in a 4 x 4 valid convolution


def downsamples_for(size: int) -> int:
    """Trunk halvings that bring a `size` image to 4 x 4 (size a power of two >= 8)."""
    halvings = math.log2(size / FINAL_SIZE) if size >= 2 * FINAL_SIZE else 0
    if halvings < 1 or halvings != int(halvings):
        raise ValueError(f"StageDiscriminator image size {size}: expected a power of two >= {2 * FINAL_SIZE}")
    return int(halvings)


@keras.saving.register_keras_serializable(package="mimnet_tf")
class StageDiscriminator(layers.Layer):
    """Logits that an image is real (unconditional) and real and matching a sentence (conditional).

    A trunk of `DownBlock`s brings the image to 4 x 4. The unconditional head is a 4 x 4 valid
    convolution of the trunk features; the conditional head first concatenates the sentence
    feature at every position, mixes it with a 3 x 3 convolution, then applies its own 4 x 4
    valid convolution (AttnGAN `D_GET_LOGITS`). Logits, not probabilities: the losses take
    `log_sigmoid` of them (`losses.real_loss` / `fake_loss`).

    Args:
        channels: trunk width at the first halving (doubled per halving, capped at 8x).
        num_downsamples: halvings from the stage's resolution to 4 x 4 (log2(size) - 2).

    Call: images (batch, s, s, 3), sentence (batch, d) -> dict(
        unconditional_logit=(batch,), conditional_logit=(batch,)) as float32.

    Example:
        >>> d = StageDiscriminator(8, num_downsamples=2)
        >>> d(keras.ops.zeros((2, 16, 16, 3)), keras.ops.zeros((2, 6)))["conditional_logit"].shape
        (2,)
    """

    def __init__(self, channels: int = 32, num_downsamples: int = 4, **kwargs):
        super().__init__(**kwargs)
        if num_downsamples < 1:
            raise ValueError(f"num_downsamples={num_downsamples}: expected >= 1")
        self.channels = channels
        self.num_downsamples = num_downsamples
        self.widths = [channels * min(2**i, 8) for i in range(num_downsamples)]
        self.stem = layers.Conv2D(channels, 3, padding="same", name="stem")
        self.downs = [DownBlock(w, name=f"down{i}") for i, w in enumerate(self.widths)]
        self.unconditional = layers.Conv2D(1, FINAL_SIZE, padding="valid", name="unconditional")
        self.joint = layers.Conv2D(self.widths[-1], 3, padding="same", name="joint")
        self.conditional = layers.Conv2D(1, FINAL_SIZE, padding="valid", name="conditional")

    def build(self, images_shape, sentence_shape=None):
        batch = images_shape[0]
        self.stem.build(images_shape)
        width = self.channels
        for block, out_width in zip(self.downs, self.widths):
            block.build((batch, None, None, width))
            width = out_width
        trunk = (batch, FINAL_SIZE, FINAL_SIZE, width)
        self.unconditional.build(trunk)
        text_dim = sentence_shape[-1] if sentence_shape is not None else None
        if text_dim is not None:
            self.joint.build((batch, FINAL_SIZE, FINAL_SIZE, width + text_dim))
            self.conditional.build(trunk)

    def image_features(self, images):
        """The trunk: (batch, s, s, 3) -> (batch, 4, 4, width)."""
        x = ops.leaky_relu(self.stem(images), LEAK)
        for block in self.downs:
            x = block(x)
        if x.shape[1] is not None and x.shape[1] != FINAL_SIZE:
            raise ValueError(f"StageDiscriminator(num_downsamples={self.num_downsamples}) brought a "
                             f"{images.shape[1]} px image to {x.shape[1]} px; expected {FINAL_SIZE} "
                             f"(num_downsamples = log2(size) - 2)")
        return x

    def unconditional_logit(self, features):
        """(batch, 4, 4, width) -> (batch,) float32."""
        return ops.cast(ops.reshape(self.unconditional(features), (-1,)), "float32")

    def conditional_logit(self, features, sentence):
        """(batch, 4, 4, width), (batch, d) -> (batch,) float32."""
        sentence = ops.cast(sentence, features.dtype)
        tiled = ops.broadcast_to(sentence[:, None, None, :],
                                 (ops.shape(features)[0], FINAL_SIZE, FINAL_SIZE, sentence.shape[-1]))
        joint = ops.leaky_relu(self.joint(ops.concatenate([features, tiled], axis=-1)), LEAK)
        return ops.cast(ops.reshape(self.conditional(joint), (-1,)), "float32")

    def call(self, images, sentence):
        features = self.image_features(images)
        return {"unconditional_logit": self.unconditional_logit(features),
                "conditional_logit": self.conditional_logit(features, sentence)}

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "num_downsamples": self.num_downsamples}
