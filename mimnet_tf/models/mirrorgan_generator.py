"""The MirrorGAN generator: STEM (text encoder + conditioning augmentation) and the GLAM cascade."""
from __future__ import annotations

import math

import keras
from keras import layers, ops

from mimnet_tf.layers.blocks import ToImage
from mimnet_tf.layers.conditioning_augmentation import ConditioningAugmentation
from mimnet_tf.layers.glam import INITIAL_SIZE, InitialStage, RefinementStage
from mimnet_tf.layers.text_encoder import TextEncoder


def stage_sizes(image_size: int, num_stages: int) -> tuple[int, ...]:
    """Resolutions of the cascade, finest last: (64, 2) -> (32, 64); (256, 3) -> (64, 128, 256).

    Raises:
        ValueError: the first stage would not be 4 * 2**k with k >= 1.
    """
    if num_stages < 1:
        raise ValueError(f"mirrorgan_stages={num_stages}: expected >= 1")
    first = image_size // 2 ** (num_stages - 1)
    doublings = math.log2(first / INITIAL_SIZE) if first >= INITIAL_SIZE else -1
    if first * 2 ** (num_stages - 1) != image_size or doublings < 1 or doublings != int(doublings):
        raise ValueError(f"image_size={image_size} with mirrorgan_stages={num_stages}: the first stage would be "
                         f"{image_size / 2 ** (num_stages - 1):g} px; expected image_size / 2**(stages - 1) to be "
                         f"{INITIAL_SIZE} * 2**k with k >= 1 (8, 16, 32, ...)")
    return tuple(first * 2**i for i in range(num_stages))


@keras.saving.register_keras_serializable(package="mimnet_tf")
class MirrorGANGenerator(layers.Layer):
    """Caption + noise -> one image per stage, coarse to fine.

    STEM: the project's `TextEncoder` (word features `w` and sentence feature `s`), then
    conditioning augmentation `c = mu + sigma * eps`. GLAM: `InitialStage([z, c])`, then
    `RefinementStage`s attending to `w` (word level) and `c` (sentence level); each stage's
    features become an image in [-1, 1] through `ToImage`.

    Args:
        vocab_size, embed_dim, text_dim, text_dropout: the text encoder (the DAMSM's widths).
        noise_dim: width of z.
        condition_dim: width of the CA condition.
        channels: feature width of every stage (the initial 4 x 4 grid is up to 8x wider).
        image_size: the final resolution.
        num_stages: stages of the cascade (see `stage_sizes`).
        num_residual_blocks: residual blocks per refinement stage.

    Call: {"token_ids": int32 (batch, L), "noise": (batch, noise_dim), optional
        "condition_noise": (batch, condition_dim) (eps; omitted: c = mu)} -> dict(
        images=[(batch, s_k, s_k, 3) in [-1, 1] per stage], image=the finest, mu, logvar,
        condition=(batch, condition_dim), word_attention=[(batch, s*s, L) per refinement],
        sentence_attention=[(batch, s, s, channels) per refinement]).

    Example:
        >>> g = MirrorGANGenerator(20, 8, 16, noise_dim=4, condition_dim=4, channels=8, image_size=32, num_stages=2)
        >>> out = g({"token_ids": keras.ops.ones((2, 5), "int32"), "noise": keras.ops.zeros((2, 4))})
        >>> [tuple(x.shape) for x in out["images"]]
        [(2, 16, 16, 3), (2, 32, 32, 3)]
    """

    def __init__(self, vocab_size: int, embed_dim: int = 300, text_dim: int = 256, noise_dim: int = 100,
                 condition_dim: int = 100, channels: int = 32, image_size: int = 64, num_stages: int = 2,
                 num_residual_blocks: int = 2, text_dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.text_dim = text_dim
        self.noise_dim = noise_dim
        self.condition_dim = condition_dim
        self.channels = channels
        self.image_size = image_size
        self.num_stages = num_stages
        self.num_residual_blocks = num_residual_blocks
        self.text_dropout = text_dropout
        self.sizes = stage_sizes(image_size, num_stages)
        self.text_encoder = TextEncoder(vocab_size, embed_dim, text_dim, text_dropout, name="text_encoder")
        self.conditioning = ConditioningAugmentation(condition_dim, name="conditioning")
        self.initial = InitialStage(channels, int(round(math.log2(self.sizes[0] / INITIAL_SIZE))), name="stage0")
        self.refinements = [RefinementStage(channels, num_residual_blocks, name=f"stage{k}")
                            for k in range(1, num_stages)]
        self.to_images = [ToImage(name=f"to_image{k}") for k in range(num_stages)]

    def build(self, inputs_shape=None):
        batch, words = None, None
        if isinstance(inputs_shape, dict) and "token_ids" in inputs_shape:
            batch, words = inputs_shape["token_ids"][0], inputs_shape["token_ids"][1]
        self.text_encoder.build((batch, words))
        self.conditioning.build((batch, self.text_dim))
        self.initial.build((batch, self.noise_dim + self.condition_dim))
        for k, stage in enumerate(self.refinements):
            size = self.sizes[k]
            stage.build((batch, size, size, self.channels), (batch, words, self.text_dim), (batch, words),
                        (batch, self.condition_dim))
        for k, to_image in enumerate(self.to_images):
            to_image.build((batch, self.sizes[k], self.sizes[k], self.channels))

    def encode_text(self, token_ids, training=False):
        """STEM's text half: dict(words, sentence, mask), see `TextEncoder`."""
        return self.text_encoder(token_ids, training=training)

    def generate(self, text, noise, condition_noise=None):
        """The cascade from encoded text: `text` is `encode_text`'s dict. Returns `call`'s dict."""
        augmented = self.conditioning(text["sentence"], condition_noise)
        condition = augmented["condition"]
        features = self.initial(ops.concatenate([ops.cast(noise, condition.dtype), condition], axis=-1))
        images = [self.to_images[0](features)]
        word_attention, sentence_attention = [], []
        for k, stage in enumerate(self.refinements):
            out = stage(features, text["words"], text["mask"], condition)
            features = out["features"]
            images.append(self.to_images[k + 1](features))
            word_attention.append(out["word_attention"])
            sentence_attention.append(out["sentence_attention"])
        return {"images": images, "image": images[-1], "mu": augmented["mu"], "logvar": augmented["logvar"],
                "condition": condition, "word_attention": word_attention, "sentence_attention": sentence_attention}

    def call(self, inputs, training=False):
        text = self.encode_text(inputs["token_ids"], training=training)
        return self.generate(text, inputs["noise"], inputs.get("condition_noise"))

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "embed_dim": self.embed_dim,
                "text_dim": self.text_dim, "noise_dim": self.noise_dim, "condition_dim": self.condition_dim,
                "channels": self.channels, "image_size": self.image_size, "num_stages": self.num_stages,
                "num_residual_blocks": self.num_residual_blocks, "text_dropout": self.text_dropout}
