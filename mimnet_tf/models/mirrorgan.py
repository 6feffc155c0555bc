"""MirrorGAN training model: text-to-image by redescription (Qiao et al., CVPR 2019).

STEM (the project's text encoder, DAMSM-pretrained and frozen, plus conditioning augmentation)
and GLAM (the generator cascade) live in `MirrorGANGenerator`; one `StageDiscriminator` per
stage; STREAM (`models/stream.py`), pretrained and frozen, captions the finest image.

`MirrorGAN.train_step` (the contract of `training/loop.py`, like MIMNet's):
1. discriminators (AttnGAN weighting, per stage i):
   `L_D_i = (-log D_i(x) - log D_i(x, s)) / 2
            + (-log(1 - D_i(G)) - log(1 - D_i(G, s)) - log(1 - D_i(x, s'))) / 3`,
   with s' the sentence of another image of the batch;
2. generator, against the updated discriminators:
   `L_G = sum_i (-log D_i(G) - log D_i(G, s)) + kl * KL(mu, logvar) + stream * L_STREAM
          (+ damsm * L_DAMSM, off by default)`.
Every loss is per example and averaged over the global batch; z and the CA noise are stateless
draws keyed by (seed, step) and sliced per replica, so a step is the same on one device or many
(checked: identical losses on one CPU and on two mirrored replicas), and a resumed run continues
exactly. The one exception is the optional DAMSM term, whose batch softmax sees each replica's
examples only.
"""
from __future__ import annotations

import dataclasses
import os
from typing import NamedTuple

import tensorflow as tf
from keras import ops

from mimnet_tf import losses
from mimnet_tf.config import LossWeights, ModelConfig, RunConfig, TrainConfig
from mimnet_tf.data.text import Vocabulary
from mimnet_tf.images import to_unit_range
from mimnet_tf.layers.resampling import area_downsample
from mimnet_tf.layers.stage_discriminator import StageDiscriminator, downsamples_for
from mimnet_tf.models.checkpointing import restore_generator
from mimnet_tf.models.damsm import damsm_from_dir
from mimnet_tf.models.gan import GANModel
from mimnet_tf.models.mirrorgan_generator import MirrorGANGenerator
from mimnet_tf.models.model_dir import ModelDir, with_vocab
from mimnet_tf.models.stream import stream_from_dir

# Purposes of the stateless random streams (one per kind of draw).
NOISE_STREAM = 1
CONDITION_STREAM = 2
SAMPLE_SEED = (7, 7)  # fixed noise of the images logged during training


def make_generator(model_config: ModelConfig) -> MirrorGANGenerator:
    """The (unbuilt) generator a ModelConfig describes; base_channels is its feature width."""
    cfg = model_config
    return MirrorGANGenerator(cfg.vocab_size, cfg.embed_dim, cfg.text_dim, cfg.noise_dim, cfg.condition_dim,
                              cfg.base_channels, cfg.image_size, cfg.mirrorgan_stages, cfg.num_residual_blocks,
                              cfg.text_dropout, name="generator")


def discriminator_loss(real_unconditional, real_conditional, fake_unconditional, fake_conditional,
                       wrong_conditional):
    """AttnGAN's stage discriminator loss from logits: (real terms) / 2 + (fake terms) / 3. -> (batch,).

    `wrong_conditional` is the conditional logit of a real image with another image's sentence.
    """
    real = losses.real_loss(real_unconditional) + losses.real_loss(real_conditional)
    fake = (losses.fake_loss(fake_unconditional) + losses.fake_loss(fake_conditional)
            + losses.fake_loss(wrong_conditional))
    return real / 2.0 + fake / 3.0


class MirrorGAN(GANModel):
    """Generator + per-stage discriminators + frozen STREAM, trained D then G.

    Args:
        model_config: ModelConfig (vocab_size set; noise_dim, condition_dim, mirrorgan_stages,
            base_channels = generator width, disc_channels, num_residual_blocks).
        loss_weights: LossWeights (kl, stream, damsm).
        train_config: TrainConfig (seed).
        stream: a frozen STREAM, required when `loss_weights.stream > 0`.
        damsm: a frozen DAMSM, required when `loss_weights.damsm > 0`.

    Call: {"token_ids": (batch, L), "noise": (batch, noise_dim), optional "condition_noise"} ->
        the generator's dict (`images` per stage, `image` the finest, ...).
    """

    TRACKED = ("g_total", "d_total", "g_adversarial", "kl", "stream", "damsm", "real_conditional",
               "fake_conditional", "wrong_conditional")

    def __init__(self, model_config: ModelConfig, loss_weights: LossWeights = LossWeights(),
                 train_config: TrainConfig = TrainConfig(), stream=None, damsm=None, **kwargs):
        super().__init__(model_config, loss_weights, train_config, **kwargs)
        self.generator = make_generator(model_config)
        self.discriminators = [
            StageDiscriminator(model_config.disc_channels, downsamples_for(size), name=f"stage{k}_discriminator")
            for k, size in enumerate(self.generator.sizes)]
        if loss_weights.stream > 0 and stream is None:
            raise ValueError("loss weight stream > 0 needs a pretrained STREAM captioner (--stream_dir; "
                             "python -m mimnet_tf.pretrain_stream writes one), or --stream=0")
        if loss_weights.damsm > 0 and damsm is None:
            raise ValueError("loss weight damsm > 0 needs a pretrained DAMSM (--damsm_dir)")
        self.stream = stream
        self.damsm = damsm
        self.phases = ()  # no phases: the shared loop leaves this alone

    # ------------------------------------------------------------------ building and compiling
    def build_all(self, batch_size: int = 1):
        """Creates every variable (generator, discriminators) with a dummy batch."""
        cfg = self.model_config
        tokens = ops.ones((batch_size, cfg.max_words), "int32")
        out = self.generator({"token_ids": tokens, "noise": ops.zeros((batch_size, cfg.noise_dim)),
                              "condition_noise": ops.zeros((batch_size, cfg.condition_dim))})
        sentence = ops.zeros((batch_size, cfg.text_dim))
        for discriminator, image in zip(self.discriminators, out["images"]):
            discriminator(image, sentence)
        self.built = True

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def checkpoint_layers(self) -> dict:
        """The layers a training checkpoint holds, by stable name (STREAM and DAMSM come from their dirs)."""
        return {"generator": self.generator,
                **{discriminator.name: discriminator for discriminator in self.discriminators}}

    # ------------------------------------------------------------------ variable groups
    def generator_variables(self):
        variables = self.generator.trainable_variables
        if self.model_config.freeze_text_encoder:
            frozen = {id(v) for v in self.generator.text_encoder.trainable_variables}
            variables = [v for v in variables if id(v) not in frozen]
        return variables

    def discriminator_variables(self):
        return [v for d in self.discriminators for v in d.trainable_variables]

    # ------------------------------------------------------------------ helpers
    def _noise(self, stream: int, width: int, local_batch: int):
        return self._random(stream, (width,), local_batch, lambda shape, seed: tf.random.stateless_normal(shape, seed))

    def _encode(self, token_ids):
        frozen = self.model_config.freeze_text_encoder
        return self.generator.encode_text(token_ids, training=not frozen)

    # ------------------------------------------------------------------ the step
    def train_step(self, data):
        cfg = self.model_config
        w = self.loss_weights
        image = ops.cast(data["image"], "float32")
        token_ids = data["token_ids"]
        local_batch = image.shape[0]
        if self.global_batch_size is None:
            self.global_batch_size = local_batch
        noise = self._noise(NOISE_STREAM, cfg.noise_dim, local_batch)
        condition_noise = self._noise(CONDITION_STREAM, cfg.condition_dim, local_batch)
        wrong_sentence = ops.stop_gradient(self._encode(data["mismatched_token_ids"])["sentence"])
        reals = [image if size == cfg.image_size else area_downsample(image, (size, size))
                 for size in self.generator.sizes]
        with tf.GradientTape() as g_tape:
            text = self._encode(token_ids)
            outputs = self.generator.generate(text, noise, condition_noise)
            with g_tape.stop_recording():
                d_metrics = self._discriminator_step(reals, outputs["images"], ops.stop_gradient(text["sentence"]),
                                                     wrong_sentence)
            adversarial = ops.zeros((local_batch,))
            for discriminator, fake in zip(self.discriminators, outputs["images"]):
                features = discriminator.image_features(fake)
                adversarial = adversarial + losses.real_loss(discriminator.unconditional_logit(features)) \
                    + losses.real_loss(discriminator.conditional_logit(features, text["sentence"]))
            kl = losses.kl_loss(outputs["mu"], outputs["logvar"])
            total = adversarial + w.kl * kl
            redescription = ops.zeros((local_batch,))
            if w.stream > 0:  # the mirror: caption the finest image, score the original caption
                redescription = self.stream.redescription_loss(outputs["image"], token_ids)
                total = total + w.stream * redescription
            damsm = ops.zeros((local_batch,))
            if w.damsm > 0:
                damsm = self._damsm_loss(outputs["image"], token_ids)
                total = total + w.damsm * damsm
            g_loss = self._average(total)
            g_scaled = self._scaled(self.g_optimizer, g_loss)
        self._apply(self.g_optimizer, g_tape, g_scaled, self.generator_variables())
        self.step_counter.assign_add(1)
        results = {**d_metrics, "g_total": g_loss, "g_adversarial": self._average(adversarial),
                   "kl": self._average(kl), "stream": self._average(redescription), "damsm": self._average(damsm)}
        for name, value in results.items():
            self.trackers[name].update_state(value)
        return results

    def _discriminator_step(self, reals, fakes, sentence, wrong_sentence):
        batch = ops.shape(reals[0])[0]
        with tf.GradientTape() as d_tape:
            d_total = ops.zeros((batch,))
            real_c = fake_c = wrong_c = ops.zeros((batch,))
            for discriminator, real, fake in zip(self.discriminators, reals, fakes):
                real_features = discriminator.image_features(real)
                fake_features = discriminator.image_features(ops.stop_gradient(fake))
                real_conditional = discriminator.conditional_logit(real_features, sentence)
                fake_conditional = discriminator.conditional_logit(fake_features, sentence)
                wrong_conditional = discriminator.conditional_logit(real_features, wrong_sentence)
                d_total = d_total + discriminator_loss(
                    discriminator.unconditional_logit(real_features), real_conditional,
                    discriminator.unconditional_logit(fake_features), fake_conditional, wrong_conditional)
                stages = float(len(self.discriminators))
                real_c = real_c + ops.sigmoid(real_conditional) / stages
                fake_c = fake_c + ops.sigmoid(fake_conditional) / stages
                wrong_c = wrong_c + ops.sigmoid(wrong_conditional) / stages
            d_loss = self._average(d_total)
            d_scaled = self._scaled(self.d_optimizer, d_loss)
        self._apply(self.d_optimizer, d_tape, d_scaled, self.discriminator_variables())
        return {"d_total": d_loss, "real_conditional": self._average(real_c),
                "fake_conditional": self._average(fake_c), "wrong_conditional": self._average(wrong_c)}

    def _damsm_loss(self, images, token_ids):
        image = self.damsm.image_encoder(images)
        text = self.damsm.text_encoder(token_ids)
        word, sentence = self.damsm.losses_of({**image, **text})
        return word + sentence

    # ------------------------------------------------------------------ logging
    def sample_images(self, batch) -> dict:
        """`{"generated": (N, S, (stages + 1) S, 3) in [0, 1]}`: real | each stage (enlarged), fixed noise.

        The hook `training.summaries.sample_images` calls for TensorBoard.
        """
        cfg = self.model_config
        tokens = batch["token_ids"]
        count = tokens.shape[0]
        noise = tf.random.stateless_normal((count, cfg.noise_dim), SAMPLE_SEED)
        outputs = self.generator({"token_ids": tokens, "noise": noise}, training=False)
        size = cfg.image_size
        columns = [to_unit_range(ops.cast(batch["image"], "float32"))]
        columns += [to_unit_range(ops.image.resize(ops.cast(x, "float32"), (size, size), interpolation="nearest"))
                    for x in outputs["images"]]
        return {"generated": ops.clip(ops.concatenate(columns, axis=2), 0.0, 1.0)}


# ---------------------------------------------------------------------------------- building
def build_mirrorgan(config: RunConfig, vocab: Vocabulary, log=print) -> MirrorGAN:
    """A MirrorGAN for training, with STEM initialised from `--damsm_dir` and STREAM from `--stream_dir`.

    Raises:
        FileNotFoundError: a directory the config names holds no pretrained model.
        ValueError: the pretrained parts do not fit (another vocabulary or text width).
    """
    config = with_vocab(config, vocab)
    damsm = damsm_from_dir(config.model.damsm_dir, vocab) if config.model.damsm_dir else None
    stream = stream_from_dir(config.model.stream_dir, vocab) if config.loss.stream > 0 else None
    model_config = config.model
    if damsm is None and model_config.freeze_text_encoder:
        log("No --damsm_dir: the text encoder trains from scratch with the generator "
            "(MirrorGAN starts from a DAMSM-pretrained one; see pretrain_damsm).")
        model_config = dataclasses.replace(model_config, freeze_text_encoder=False)
    model = MirrorGAN(model_config, config.loss, config.train, stream=stream,
                      damsm=damsm if config.loss.damsm > 0 else None, name="mirrorgan")
    model.build_all()
    if damsm is not None:
        encoder, source = model.generator.text_encoder, damsm.text_encoder
        if (encoder.embed_dim, encoder.text_dim) != (source.embed_dim, source.text_dim):
            raise ValueError(f"The DAMSM in {config.model.damsm_dir} has embed_dim={source.embed_dim}, "
                             f"text_dim={source.text_dim}; this run has --embed_dim={encoder.embed_dim}, "
                             f"--text_dim={encoder.text_dim}: use the DAMSM's widths")
        encoder.set_weights(source.get_weights())
        log(f"Text encoder (STEM) initialised from the DAMSM in {config.model.damsm_dir}"
            + (" and frozen" if model_config.freeze_text_encoder else ""))
    if stream is not None:
        log(f"STREAM captioner loaded (frozen) from {config.model.stream_dir}")
    return model


class TrainedMirrorGAN(NamedTuple):
    generator: MirrorGANGenerator
    vocab: Vocabulary
    config: RunConfig
    checkpoint_path: str


def build_generator(model_config: ModelConfig) -> MirrorGANGenerator:
    """A built MirrorGANGenerator of `model_config` (vocab_size set)."""
    cfg = model_config
    generator = make_generator(cfg)
    generator({"token_ids": tf.ones((1, cfg.max_words), tf.int32), "noise": tf.zeros((1, cfg.noise_dim)),
               "condition_noise": tf.zeros((1, cfg.condition_dim))})
    return generator


def load_mirrorgan(model_dir: str, checkpoint: str = "") -> TrainedMirrorGAN:
    """Rebuilds the generator of a MirrorGAN model directory and restores its latest (or given) checkpoint.

    Raises:
        FileNotFoundError: no model directory, config or checkpoint.
        ValueError: the directory holds another model (config.json says --model=mimnet).
    """
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"Model directory not found: {model_dir} (a --model_dir written by "
                                "python -m mimnet_tf.train --model=mirrorgan)")
    directory = ModelDir(model_dir)
    config = directory.config()
    if config.model.model != "mirrorgan":
        raise ValueError(f"{model_dir} holds a --model={config.model.model} run, not a MirrorGAN: text-to-image "
                         "generation needs a model trained with --model=mirrorgan")
    vocab = directory.vocab()
    config = with_vocab(config, vocab)
    path = checkpoint or tf.train.latest_checkpoint(directory.checkpoint_dir)
    if not path:
        raise FileNotFoundError(f"No checkpoint in {directory.checkpoint_dir}: train first")
    generator = build_generator(config.model)
    restore_generator(generator, path)
    return TrainedMirrorGAN(generator, vocab, config, path)
