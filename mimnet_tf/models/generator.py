"""The MIM-Net generator: text encoder, memory, encoders, ICM with TLU, FIR."""
from __future__ import annotations

import dataclasses

import keras
from keras import layers, ops

from mimnet_tf.config import ModelConfig
from mimnet_tf.layers.coarse_manipulation import CoarseManipulation
from mimnet_tf.layers.image_encoder import ImageEncoder, boundary_image
from mimnet_tf.layers.memory_bank import MemoryBank
from mimnet_tf.layers.refinement import FineRefinement
from mimnet_tf.layers.text_encoder import TextEncoder


def model_config_of(config) -> ModelConfig:
    if isinstance(config, ModelConfig):
        return config
    names = {f.name for f in dataclasses.fields(ModelConfig)}
    return ModelConfig(**{k: v for k, v in dict(config).items() if k in names})


# What ICM's and FIR's word attentions attend by, and what ICM's queries with (picked once per model).
def _words(words, texture):
    return words


def _texture(words, texture):
    return texture


def _coarsest_level(image_levels):
    return image_levels[-1]


def _nothing(image_levels):
    return None


@keras.saving.register_keras_serializable(package="mimnet_tf")
class MIMNetGenerator(keras.Model):
    """Edits an image so that it matches a description.

    `MIMNetGenerator({"image": I, "token_ids": T})` returns a dict with
    - `fine`: the edited image at S, (batch, S, S, 3) in [-1, 1];
    - `coarse`: the ICM image at S/2, (batch, S/2, S/2, 3);
    - `localisation_map`: the TLU map A, (batch, S/ds, S/ds, 1) in [0, 1], and (TLU enabled)
      `localisation_logits`, its logits, for losses on A;
    - `word_attention`: FIR's word attention weights (batch, (S/2)^2, L); with `icm_word_attention`
      also `icm_word_attention` (batch, (S/ds)^2, L);
    plus the internals the losses need (`texture_global`, `image_features`, `memory_attention`).

    Args:
        config: a ModelConfig (or its dict). `vocab_size` must be set.

    Example:
        >>> g = MIMNetGenerator(ModelConfig(vocab_size=20, image_size=32, embed_dim=8,
        ...     text_dim=8, memory_size=4, base_channels=8, feature_downsample=4))
        >>> out = g({"image": keras.ops.zeros((2, 32, 32, 3)),
        ...          "token_ids": keras.ops.ones((2, 18), "int32")})
        >>> out["fine"].shape, out["coarse"].shape, out["localisation_map"].shape
        ((2, 32, 32, 3), (2, 16, 16, 3), (2, 8, 8, 1))
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        config = model_config_of(config)
        if config.vocab_size <= 2:
            raise ValueError(f"vocab_size={config.vocab_size}: build the model from a vocabulary file")
        self.config = config
        self.text_encoder = TextEncoder(config.vocab_size, config.embed_dim, config.text_dim,
                                        config.text_dropout, name="text_encoder")
        self.image_encoder = ImageEncoder(config.base_channels, config.feature_downsample, name="image_encoder")
        self.boundary_encoder = ImageEncoder(config.base_channels, config.feature_downsample, name="boundary_encoder")
        feature_dim = self.image_encoder.feature_dim
        self.feature_dim = feature_dim
        if config.use_memory:
            self.memory = MemoryBank(config.memory_size, feature_dim, config.text_dim, config.memory_temperature,
                                     config.memory_similarity, name="memory_bank")
        if not config.use_memory or config.texture_word_residual:  # texture features (also) straight from the words
            self.word_projection = layers.Dense(feature_dim, name="word_projection")
        levels = self.image_encoder.num_levels
        self.icm = CoarseManipulation(feature_dim, levels - 1, config.use_tlu, config.tlu_init_bias,
                                      config.num_residual_blocks, config.image_skips,
                                      word_attention=config.icm_word_attention, name="icm")
        self.fir = FineRefinement(self.icm.output_channels, config.feature_downsample, config.image_skips, name="fir")
        # The path through the generator, chosen once here so that `manipulate` reads straight
        # through: where the texture features come from, what ICM's and FIR's word attentions
        # attend by (Eq. 10: texture, or --fir_keys=words), what ICM's word attention queries with.
        if not config.use_memory:
            self._texture_path = self._projected_words
        elif config.texture_word_residual:
            self._texture_path = self._memory_read_and_projected_words
        else:
            self._texture_path = self._memory_read
        self._attention_keys = _words if config.fir_keys == "words" else _texture
        self._icm_query_features = _coarsest_level if config.icm_query_image else _nothing

    def build(self, input_shape=None):
        """Creates every variable with a dummy batch (Eq. 16's memory read included)."""
        if self.built:
            return
        cfg = self.config
        image = ops.zeros((1, cfg.image_size, cfg.image_size, 3))
        text = self.encode_text(ops.ones((1, cfg.max_words), "int32"))
        memory_attention = None
        if cfg.use_memory:
            memory_attention = ops.ones((1, cfg.max_words, cfg.memory_size)) / cfg.memory_size
        self.manipulate(image, text["words"], text["mask"], memory_attention=memory_attention)
        self.manipulate(image, text["words"], text["mask"])
        self.built = True

    def encode_text(self, token_ids, training=False):
        return self.text_encoder(token_ids, training=training)

    def texture(self, words, mask, memory_attention=None):
        """{"texture": word-level texture features (batch, L, c), "attention": the memory attention
        (batch, L, N) or None}: the memory read (Eq. 2-3), the projected words (no memory), or their
        sum (--texture_word_residual), as the config chose."""
        return self._texture_path(words, mask, memory_attention)

    def _memory_read(self, words, mask, memory_attention):
        return self.memory(words, mask, attention=memory_attention)

    def _projected_words(self, words, mask, memory_attention=None):
        return {"texture": self.word_projection(words) * ops.cast(mask, words.dtype)[:, :, None], "attention": None}

    def _memory_read_and_projected_words(self, words, mask, memory_attention):
        read = self._memory_read(words, mask, memory_attention)
        return {"texture": read["texture"] + self._projected_words(words, mask)["texture"],
                "attention": read["attention"]}

    def manipulate(self, image, words, mask, memory_attention=None):
        """The generator given text features (so a training step encodes each caption once).

        Args:
            image: (batch, S, S, 3) in [-1, 1].
            words, mask: from `encode_text`.
            memory_attention: optional (batch, L, N) weights replacing Eq. 2 (Eq. 16).
        """
        boundary = self.boundary_encoder(boundary_image(image))[-1]
        texture = self.texture(words, mask, memory_attention)
        keys = self._attention_keys(words, texture["texture"])
        image_levels = self.image_encoder(image)
        localised = self.icm.localise(texture["texture"], mask, boundary, keys=keys,
                                      query_features=self._icm_query_features(image_levels))  # Eq. 4-6, 9
        coarse = self.icm.decode(localised, image_levels)  # Eq. 7-8
        fine = self.fir(coarse["upsampled"], texture["texture"], mask, coarse["localisation_map"], image_levels[0],
                        keys=keys)
        return {
            "fine": ops.cast(fine["fine"], "float32"),
            "coarse": ops.cast(coarse["coarse"], "float32"),
            "localisation_map": ops.cast(coarse["localisation_map"], "float32"),
            "texture_global": coarse["texture_global"],
            "image_features": image_levels[-1],
            "memory_attention": texture["attention"],
            "word_attention": fine["word_attention"],
            **({"localisation_logits": ops.cast(coarse["localisation_logits"], "float32")}
               if "localisation_logits" in coarse else {}),
            # Only with --icm_word_attention: ICM's word attention.
            **({"icm_word_attention": coarse["word_attention"]} if "word_attention" in coarse else {}),
        }

    def call(self, inputs, training=False):
        text = self.encode_text(inputs["token_ids"], training=training)
        return self.manipulate(inputs["image"], text["words"], text["mask"])

    def get_config(self):
        return {"config": dataclasses.asdict(self.config), "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
