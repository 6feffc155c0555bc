"""MIM-Net training model: the generator, one discriminator per stage, and the two phases.

`MIMNet.train_step` runs, by the configured phases:
1. the reconstruction phase with paired captions (Eq. 14-16), the only phase that updates the
   memory;
2. the adversarial phase with mismatched captions, memory frozen: a discriminator step
   (Eq. 17), then a generator step against the updated discriminators (Eq. 18-19).
Loss weights follow Eq. 20-21 (`LossWeights`). Every loss is per example and averaged over
the global batch, so a step is the same on one device or under a distribution strategy.
"""
from __future__ import annotations

import math

import tensorflow as tf
from keras import ops

from mimnet_tf import losses
from mimnet_tf.config import LossWeights, ModelConfig, TrainConfig
from mimnet_tf.images import to_unit_range
from mimnet_tf.layers.memory_bank import memory_variables
from mimnet_tf.layers.resampling import area_downsample
from mimnet_tf.layers.text_adaptive_discriminator import TextAdaptiveDiscriminator
from mimnet_tf.models.gan import GANModel
from mimnet_tf.models.generator import MIMNetGenerator
from mimnet_tf.models import colour_names, recolour

RECONSTRUCTION = "reconstruction"
ADVERSARIAL = "adversarial"
STAGES = ("coarse", "fine")

# Purposes of the stateless random streams (one per kind of draw; the numbers seed the draws, so
# they stay as they were when a stream was removed).
_MEMORY_STREAM = 2
_COLOUR_SWAP_STREAM = 3
_DECOY_STREAM = 4


def discriminator_downsamples(size: int) -> int:
    """Trunk halvings that bring a `size` image to 4x4 (at least 3)."""
    return max(3, int(round(math.log2(size))) - 2)


def phases_for_step(schedule: str, step: int, reconstruction_steps: int) -> tuple[str, ...]:
    """Which phases run at `step` under `--phase_schedule`."""
    if schedule == "alternate":
        return (RECONSTRUCTION, ADVERSARIAL)
    if schedule == "reconstruction_first":
        return (RECONSTRUCTION,) if step < reconstruction_steps else (RECONSTRUCTION, ADVERSARIAL)
    if schedule == "reconstruction_only":
        return (RECONSTRUCTION,)
    if schedule == "adversarial_only":
        return (ADVERSARIAL,)
    raise ValueError(f"phase_schedule={schedule!r}: unknown schedule")


class MIMNet(GANModel):
    """Generator + per-stage text-adaptive discriminators + the two-phase training step.

    Args:
        model_config: ModelConfig (vocab_size set).
        loss_weights: LossWeights (Eq. 20-21 and the optional terms).
        train_config: TrainConfig (the seed of the random draws, colour swap).
        damsm: optional frozen DAMSM model, required when `loss_weights.damsm > 0`.

    Call: {"image", "token_ids"} -> the generator's outputs.
    """

    # Every phase's losses are tracked whichever phases this run uses (a schedule can switch).
    TRACKED = ("g_total", "d_total",
               "reconstruction", "pseudo_gt", "randomised_memory", "swap_localisation", "recon_total",
               "d_reality", "d_conformity", "g_reality", "g_conformity", "damsm", "redescription",
               "tlu_mean", "real_conformity", "mismatched_conformity", "fake_conformity")

    def __init__(self, model_config: ModelConfig, loss_weights: LossWeights = LossWeights(),
                 train_config: TrainConfig = TrainConfig(), damsm=None, redescriber=None, colour_words=None,
                 **kwargs):
        super().__init__(model_config, loss_weights, train_config, **kwargs)
        size = model_config.image_size
        self.generator = MIMNetGenerator(model_config, name="generator")
        self.discriminators = {
            "coarse": TextAdaptiveDiscriminator(model_config.disc_channels, discriminator_downsamples(size // 2),
                                                name="coarse_discriminator"),
            "fine": TextAdaptiveDiscriminator(model_config.disc_channels, discriminator_downsamples(size),
                                              name="fine_discriminator"),
        }
        self.coarse_discriminator = self.discriminators["coarse"]
        self.fine_discriminator = self.discriminators["fine"]
        self.damsm = damsm
        self.redescriber = redescriber
        if loss_weights.damsm > 0 and damsm is None:
            raise ValueError("loss weight damsm > 0 needs a pretrained DAMSM (--damsm_dir)")
        if loss_weights.redescription > 0 and redescriber is None:
            raise ValueError("loss weight redescription > 0 needs a pretrained STREAM captioner (--stream_dir)")
        if loss_weights.swap_localisation > 0 and not model_config.use_tlu:
            raise ValueError("loss weight swap_localisation > 0 needs the TLU map (--use_tlu)")
        self.phases = (RECONSTRUCTION, ADVERSARIAL)
        if train_config.colour_swap.described and colour_words is None:
            raise ValueError("--colour_swap_described needs the vocabulary's colour words (colour_names.py)")
        # (palette (P, 3), palette row of each token id (V,)) from colour_names.vocabulary_colours
        self.colour_words = colour_words

    # ------------------------------------------------------------------ building and compiling
    def build_all(self, batch_size: int = 1):
        """Creates every variable (generator, both discriminators) with a dummy batch."""
        cfg = self.model_config
        image = ops.zeros((batch_size, cfg.image_size, cfg.image_size, 3))
        tokens = ops.ones((batch_size, cfg.max_words), "int32")
        self.generator.build()
        out = self.generator({"image": image, "token_ids": tokens})
        text = self.generator.encode_text(tokens)
        self.discriminators["coarse"](out["coarse"], text["words"], text["mask"])
        self.discriminators["fine"](out["fine"], text["words"], text["mask"])
        self.built = True

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def sample_images(self, batch) -> dict:
        """Edits of `batch` with its mismatched captions for TensorBoard, one row per example:
        {"edits": (N, S, 4 S, 3) in [0, 1]}: source | coarse (enlarged) | fine | TLU map (white =
        edited here)."""
        image = ops.cast(batch["image"], "float32")
        outputs = self.generator({"image": image, "token_ids": batch["mismatched_token_ids"]})
        size = (int(image.shape[1]), int(image.shape[2]))
        localisation = ops.image.resize(outputs["localisation_map"], size, interpolation="nearest")
        coarse = ops.image.resize(outputs["coarse"], size, interpolation="nearest")
        columns = [to_unit_range(image), to_unit_range(coarse), to_unit_range(outputs["fine"]),
                   ops.repeat(localisation, 3, axis=-1)]
        return {"edits": ops.clip(ops.concatenate(columns, axis=2), 0.0, 1.0)}

    @property
    def uses_discriminators(self) -> bool:
        """False when every adversarial weight is 0: the discriminator step is skipped."""
        w = self.loss_weights
        return w.reality > 0 or w.conformity > 0 or (w.randomised_memory > 0 and self.model_config.use_memory)

    def checkpoint_layers(self) -> dict:
        """The layers whose variables a training checkpoint holds, by stable name."""
        return {"generator": self.generator, "coarse_discriminator": self.coarse_discriminator,
                "fine_discriminator": self.fine_discriminator}

    # ------------------------------------------------------------------ variable groups
    def generator_variables(self, include_memory: bool = True):
        variables = self.generator.trainable_variables
        if self.model_config.freeze_text_encoder:
            frozen = {id(v) for v in self.generator.text_encoder.trainable_variables}
            variables = [v for v in variables if id(v) not in frozen]
        if not include_memory:
            memory = {id(v) for v in memory_variables(self.generator)}
            variables = [v for v in variables if id(v) not in memory]
        return variables

    def discriminator_variables(self):
        return self.discriminators["coarse"].trainable_variables + self.discriminators["fine"].trainable_variables

    # ------------------------------------------------------------------ helpers
    def _stage_images(self, image, outputs):
        size = outputs["coarse"].shape[1:3]
        return {"coarse": (area_downsample(image, size), outputs["coarse"]),
                "fine": (image, outputs["fine"])}

    def _stage_weight(self, stage):
        return self.loss_weights.coarse_stage if stage == "coarse" else self.loss_weights.fine_stage

    def _described_colours(self, token_ids):
        """(batch, P): 1 where the caption names palette colour p (`--colour_swap_described`)."""
        palette, colour_of_word = self.colour_words
        return colour_names.described_colours(token_ids, colour_of_word, len(palette))

    def _recolour(self, image, draws, described=None):
        """`recolour.recolour_regions` with the run's colour-swap settings."""
        swap = self.train_config.colour_swap
        return recolour.recolour_regions(image, draws, swap.threshold, swap.centre, colours=swap.colours,
                                         candidates=swap.candidates, min_area=swap.min_area,
                                         max_area=swap.max_area, area_reference=swap.area_reference,
                                         unmix_edges=swap.unmix_edges, shading=swap.shading,
                                         palette=None if described is None else self.colour_words[0],
                                         described=described)

    def _colour_swap(self, image, local_batch, token_ids=None):
        """The reconstruction input (`image` with colour regions repainted, or itself), the target it
        is rebuilt into (`image`, or with decoy regions repainted alike), which examples were
        repainted (batch,), the L1 pixel weights (None for a plain mean) and the repainted map
        (batch, S, S) (weights >= 0, above 1 with --colour_swap_area_reference)."""
        swap = self.train_config.colour_swap
        if swap.probability <= 0:
            return image, image, None, None, None
        draws = self._random(
            _COLOUR_SWAP_STREAM, (swap.regions, recolour.draws_per_region(swap.candidates) + 1), local_batch,
            lambda s, seed: tf.random.stateless_uniform(s, seed))
        swapped = ops.cast(draws[:, 0, -1] < swap.probability, "float32")
        described = None
        if swap.described:
            if self.colour_words is None or token_ids is None:
                raise ValueError("--colour_swap_described needs the captions' token ids and the vocabulary's colours")
            described = self._described_colours(token_ids)
        gate = swapped[:, None, None, None]
        target, decoyed = image, None
        if swap.decoys > 0:  # regions the caption does not describe, repainted in input and target alike
            decoy_draws = self._random(_DECOY_STREAM, (swap.decoys, recolour.draws_per_region(swap.candidates)),
                                       local_batch, lambda s, seed: tf.random.stateless_uniform(s, seed))
            recoloured, decoyed = self._recolour(image, decoy_draws, 1.0 - described)
            target = ops.stop_gradient(gate * recoloured + (1.0 - gate) * image)
        recoloured, repainted = self._recolour(target, draws[..., :-1], described)
        source = gate * recoloured + (1.0 - gate) * target
        pixel_weights = None
        if swap.weight != 1.0:
            marked = repainted if decoyed is None else ops.maximum(repainted, decoyed)
            pixel_weights = 1.0 + (swap.weight - 1.0) * swapped[:, None, None, None] * marked[..., None]
        return ops.stop_gradient(source), target, swapped, pixel_weights, repainted

    # ------------------------------------------------------------------ phases
    def _trains_text_encoder(self, variables) -> bool:
        ids = {id(v) for v in variables}
        return any(id(v) in ids for v in self.generator.text_encoder.trainable_variables)

    def reconstruction_phase(self, image, words, mask, token_ids=None):
        """Eq. 14-16 with the paired caption; updates the generator (memory included).

        With `token_ids` and an unfrozen text encoder, the caption is encoded again under the tape
        so that the encoder trains with the generator."""
        w = self.loss_weights
        batch = ops.shape(image)[0]
        local_batch = image.shape[0]
        source, target, swapped, pixel_weights, repainted = self._colour_swap(image, local_batch, token_ids)
        use_rmt = w.randomised_memory > 0 and self.model_config.use_memory
        if use_rmt:
            cfg = self.model_config
            random_attention = self._random(
                _MEMORY_STREAM, (cfg.max_words, cfg.memory_size), local_batch,
                lambda s, seed: losses.random_memory_weights(seed, s[0], s[1], s[2], w.rmt_concentration))
        variables = self.generator_variables(include_memory=True)
        with tf.GradientTape() as tape:
            if token_ids is not None and self._trains_text_encoder(variables):
                words = self.generator.encode_text(token_ids, training=True)["words"]
            outputs = self.generator.manipulate(source, words, mask)
            rec = losses.reconstruction_loss(outputs, target, w.coarse_stage, w.fine_stage, pixel_weights)  # Eq. 14
            pgt = losses.pseudo_ground_truth_loss(outputs["localisation_map"], outputs["image_features"],
                                                  outputs["texture_global"], w.pseudo_gt_normalised)  # Eq. 15
            if swapped is not None:  # repainted image features are no pseudo ground truth of colours
                pgt = pgt * (1.0 - swapped)
            total = w.reconstruction * rec + w.pseudo_gt * pgt
            swap_loc = ops.zeros((batch,))
            if w.swap_localisation > 0 and swapped is not None:  # A marks what the caption must fix
                swap_loc = losses.swap_localisation_loss(outputs["localisation_logits"], repainted,
                                                         w.swap_localisation_pool, w.swap_localisation_balance) * swapped
                total = total + w.swap_localisation * swap_loc
            rmt = ops.zeros((batch,))
            if use_rmt:  # Eq. 16: any memory mixture must decode to a real-looking image
                random_outputs = self.generator.manipulate(image, words, mask, memory_attention=random_attention)
                for stage, (_, fake) in self._stage_images(image, random_outputs).items():
                    logits = self.discriminators[stage].reality_logit(self.discriminators[stage].image_features(fake))
                    rmt = rmt + self._stage_weight(stage) * losses.real_loss(logits)
                total = total + w.randomised_memory * rmt
            loss = self._average(total)
            loss_for_grad = self._scaled(self.g_optimizer, loss)
        self._apply(self.g_optimizer, tape, loss_for_grad, variables)
        return {"reconstruction": self._average(rec), "pseudo_gt": self._average(pgt),
                "randomised_memory": self._average(rmt), "swap_localisation": self._average(swap_loc),
                "recon_total": loss,
                "tlu_mean": self._average(ops.mean(outputs["localisation_map"], axis=(1, 2, 3)))}

    def adversarial_phase(self, image, text, mismatched):
        """Eq. 17 (discriminators), then Eq. 18-19 (+ optional terms) for the generator."""
        w = self.loss_weights
        batch = ops.shape(image)[0]
        g_variables = self.generator_variables(include_memory=False)  # memory frozen in this phase
        d_variables = self.discriminator_variables()
        with tf.GradientTape() as g_tape:
            words = mismatched["words"]  # the discriminators read these (constants for the generator)
            if "token_ids" in mismatched and self._trains_text_encoder(g_variables):
                words = self.generator.encode_text(mismatched["token_ids"], training=True)["words"]
            fake_outputs = self.generator.manipulate(image, words, mismatched["mask"])
            stage_images = self._stage_images(image, fake_outputs)
            d_metrics = {}
            if self.uses_discriminators:
                with g_tape.stop_recording():
                    d_metrics = self._discriminator_step(stage_images, text, mismatched, batch, d_variables)
            g_reality = ops.zeros((batch,))
            g_conformity = ops.zeros((batch,))
            fake_conformity = ops.zeros((batch,))
            for stage, (_, fake) in (stage_images.items() if self.uses_discriminators else ()):
                discriminator = self.discriminators[stage]
                pooled = discriminator.image_features(fake)
                conformity = discriminator.conformity(pooled, mismatched["words"], mismatched["mask"])
                g_reality = g_reality + self._stage_weight(stage) * losses.real_loss(
                    discriminator.reality_logit(pooled))  # Eq. 18
                g_conformity = g_conformity + self._stage_weight(stage) * losses.generator_conformity_loss(
                    conformity["log_conformity"])  # Eq. 19
                fake_conformity = fake_conformity + conformity["log_conformity"] / len(STAGES)
            total = w.reality * g_reality + w.conformity * g_conformity
            damsm = ops.zeros((batch,))
            if w.damsm > 0:
                damsm = self._damsm_loss(fake_outputs["fine"], mismatched["token_ids"])
                total = total + w.damsm * damsm
            redescription = ops.zeros((batch,))
            if w.redescription > 0:
                redescription = self.redescriber.redescription_loss(fake_outputs["fine"], mismatched["token_ids"])
                total = total + w.redescription * redescription
            loss = self._average(total)
            loss_for_grad = self._scaled(self.g_optimizer, loss)
        self._apply(self.g_optimizer, g_tape, loss_for_grad, g_variables)
        return {**d_metrics, "g_reality": self._average(g_reality), "g_conformity": self._average(g_conformity),
                "damsm": self._average(damsm), "redescription": self._average(redescription), "g_total": loss,
                "fake_conformity": self._average(ops.exp(fake_conformity))}

    def _discriminator_step(self, stage_images, text, mismatched, batch, d_variables):
        with tf.GradientTape() as d_tape:
            d_reality = ops.zeros((batch,))
            d_conformity = ops.zeros((batch,))
            real_c = ops.zeros((batch,))
            mismatched_c = ops.zeros((batch,))
            for stage, (real, fake) in stage_images.items():
                discriminator = self.discriminators[stage]
                real_pooled = discriminator.image_features(real)
                fake_pooled = discriminator.image_features(ops.stop_gradient(fake))
                matched = discriminator.conformity(real_pooled, text["words"], text["mask"])["log_conformity"]
                unmatched = discriminator.conformity(real_pooled, mismatched["words"], mismatched["mask"])[
                    "log_conformity"]
                reality = losses.discriminator_reality_loss(discriminator.reality_logit(real_pooled),
                                                            discriminator.reality_logit(fake_pooled))
                d_reality = d_reality + self._stage_weight(stage) * reality
                d_conformity = d_conformity + self._stage_weight(stage) * losses.discriminator_conformity_loss(
                    matched, unmatched)  # Eq. 17
                real_c = real_c + ops.exp(matched) / len(STAGES)
                mismatched_c = mismatched_c + ops.exp(unmatched) / len(STAGES)
            loss = self._average(d_reality + d_conformity)  # Eq. 21 (mu = stage weights)
            loss_for_grad = self._scaled(self.d_optimizer, loss)
        self._apply(self.d_optimizer, d_tape, loss_for_grad, d_variables)
        return {"d_reality": self._average(d_reality), "d_conformity": self._average(d_conformity),
                "d_total": loss, "real_conformity": self._average(real_c),
                "mismatched_conformity": self._average(mismatched_c)}

    def _damsm_loss(self, images, token_ids):
        image = self.damsm.image_encoder(images)
        text = self.damsm.text_encoder(token_ids)
        word, sentence = self.damsm.losses_of({**image, **text})
        return word + sentence

    # ------------------------------------------------------------------ the step
    def train_step(self, data):
        image = ops.cast(data["image"], "float32")
        if self.global_batch_size is None:
            self.global_batch_size = image.shape[0]
        text = self.generator.encode_text(data["token_ids"], training=True)
        results = {}
        if RECONSTRUCTION in self.phases:
            results.update(self.reconstruction_phase(image, text["words"], text["mask"], token_ids=data["token_ids"]))
        if ADVERSARIAL in self.phases:
            mismatched = dict(self.generator.encode_text(data["mismatched_token_ids"], training=True))
            mismatched["token_ids"] = data["mismatched_token_ids"]
            results.update(self.adversarial_phase(image, text, mismatched))
        self.step_counter.assign_add(1)
        for name, value in results.items():
            self.trackers[name].update_state(value)
        return results
