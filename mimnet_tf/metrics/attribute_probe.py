"""Attribute probe: a small CNN that reads the colour of every colourable part of a SynthBirds bird.

Generated birds have no part masks, so the colour a caption names cannot be checked pixel by
pixel as edits are (`metrics/edits.py`). The probe is the measuring instrument instead, as
Inception is for IS: trained once on SynthBirds renders whose part colours are drawn uniformly
and independently (so it must look at each part, not guess from the species), checked on
held-out renders of the test split (other poses and backgrounds), and cached on disk.

`AttributeProbe.attribute_accuracy(images, named_parts)` then scores generated images: for every
part a caption names, does the probe read the named colour? Chance is 1 / 11 (the palette).
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Callable, Mapping, Optional, Sequence

import keras
import numpy as np
from keras import layers

from mimnet_tf.data.synthbirds.palette import COLOUR_NAMES, COLOURABLE_PARTS
from mimnet_tf.data.synthbirds.render import render, sample_scene, with_colours
from mimnet_tf.data.synthbirds.seeding import generator as seeded_generator
from mimnet_tf.images import to_model_range

WEIGHTS_FILENAME = "probe.weights.h5"
META_FILENAME = "probe.json"
DEFAULT_DIR = os.path.join("runs", "attribute_probe")
CHANCE = 1.0 / len(COLOUR_NAMES)


@dataclasses.dataclass(frozen=True)
class ProbeConfig:
    """How the probe is trained; a cached probe is reused only if its config is the same."""

    image_size: int = 64
    num_train: int = 4000
    num_test: int = 600
    epochs: int = 16
    batch_size: int = 32
    learning_rate: float = 2e-3  # cosine-decayed to 0 over the run
    width: int = 16
    seed: int = 1234  # scenes of the probe's own seed: not the images a model trained on


def probe_renders(split: str, count: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """SynthBirds renders with uniform, independent part colours.

    Returns:
        (images uint8 (count, size, size, 3), labels int32 (count, parts): index into
        COLOUR_NAMES of each part of COLOURABLE_PARTS).
    """
    images = np.empty((count, size, size, 3), np.uint8)
    labels = np.empty((count, len(COLOURABLE_PARTS)), np.int32)
    for index in range(count):
        scene = sample_scene(seed, split, index)
        rng = seeded_generator("attribute_probe", seed, split, index)
        labels[index] = rng.integers(len(COLOUR_NAMES), size=len(COLOURABLE_PARTS))
        colours = {part: COLOUR_NAMES[c] for part, c in zip(COLOURABLE_PARTS, labels[index])}
        images[index] = render(with_colours(scene, colours), size).image
    return images, labels


def build_network(image_size: int, width: int = 16) -> keras.Model:
    """Image in [-1, 1] -> one logit vector over COLOUR_NAMES per colourable part.

    A small U-shaped CNN gives a 16 x 16 map (S / 4) whose every cell knows its colour (the
    image average-pooled to that grid), its local pattern and, from an 8 x 8 level upsampled,
    where it sits on the bird. Each part then has its own softmax attention over the cells
    and a linear classifier of the attended feature: translation-invariant, so a few thousand
    renders are enough to find a crown or a beak wherever the bird stands.
    """
    if image_size < 16 or image_size % 8:
        raise ValueError(f"attribute probe image_size={image_size}: expected a multiple of 8, at least 16")

    def conv(x, channels, strides=1):
        return layers.Conv2D(channels, 3, strides=strides, padding="same", activation="relu")(x)

    inputs = keras.Input((image_size, image_size, 3))
    x = conv(conv(inputs, width, 2), width)  # S / 2
    local = conv(conv(x, 2 * width, 2), 2 * width)  # S / 4
    context = conv(conv(local, 4 * width, 2), 4 * width)  # S / 8
    cells = layers.Concatenate()([local, layers.UpSampling2D(2)(context), layers.AveragePooling2D(4)(inputs)])
    cells = layers.Conv2D(4 * width, 1, activation="relu")(cells)
    cells = layers.Reshape((-1, 4 * width))(cells)
    outputs = {}
    for part in COLOURABLE_PARTS:
        attention = layers.Softmax(axis=1, name=f"{part}_attention")(layers.Dense(1, name=f"{part}_score")(cells))
        attended = layers.Dot(axes=1, name=f"{part}_attended")([attention, cells])  # (batch, 1, channels)
        outputs[part] = layers.Dense(len(COLOUR_NAMES), name=part)(layers.Flatten()(attended))
    return keras.Model(inputs, outputs, name="attribute_probe")


def _model_range(images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (N, H, W, 3); got shape {images.shape}")
    if images.dtype == np.uint8:
        return to_model_range(images)
    images = images.astype(np.float32)
    if images.size and (images.min() < -1.001 or images.max() > 1.001):
        raise ValueError(f"float images must be in [-1, 1]; got [{images.min():.3g}, {images.max():.3g}] "
                         "(pass uint8 images for [0, 255])")
    return images


class AttributeProbe:
    """A trained probe and its held-out accuracy.

    Args:
        network: the model of `build_network`, trained.
        config: the ProbeConfig it was trained with.
        held_out: {part: accuracy on held-out renders} (and "mean").
    """

    def __init__(self, network: keras.Model, config: ProbeConfig, held_out: Mapping[str, float]):
        self.network = network
        self.config = config
        self.held_out = dict(held_out)
        self._features = None  # the feature extractor, built on first use

    # ------------------------------------------------------------------ training and caching
    @classmethod
    def train(cls, config: ProbeConfig = ProbeConfig(), log: Callable[[str], None] = print) -> "AttributeProbe":
        """Renders the probe's data and trains it (about a minute or two on a laptop CPU)."""
        began = time.time()
        keras.utils.set_random_seed(config.seed)
        train_images, train_labels = probe_renders("train", config.num_train, config.image_size, config.seed)
        test_images, test_labels = probe_renders("test", config.num_test, config.image_size, config.seed)
        log(f"Attribute probe: rendered {config.num_train} + {config.num_test} birds in {time.time() - began:.0f} s")
        network = build_network(config.image_size, config.width)
        steps = config.epochs * -(-config.num_train // config.batch_size)
        schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, steps)
        network.compile(optimizer=keras.optimizers.Adam(schedule),
                        loss={p: keras.losses.SparseCategoricalCrossentropy(from_logits=True) for p in COLOURABLE_PARTS})
        targets = {p: train_labels[:, i] for i, p in enumerate(COLOURABLE_PARTS)}
        network.fit(to_model_range(train_images), targets, batch_size=config.batch_size, epochs=config.epochs,
                    shuffle=True, verbose=0)
        probe = cls(network, config, {})
        probe.held_out = probe.accuracy_against(test_images, test_labels)
        log(f"Attribute probe trained in {time.time() - began:.0f} s; held-out accuracy "
            + ", ".join(f"{p} {probe.held_out[p]:.3f}" for p in COLOURABLE_PARTS))
        return probe

    def save(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        self.network.save_weights(os.path.join(directory, WEIGHTS_FILENAME))
        with open(os.path.join(directory, META_FILENAME), "w", encoding="utf-8") as f:
            json.dump({"config": dataclasses.asdict(self.config), "held_out_accuracy": self.held_out}, f, indent=2)

    @classmethod
    def load(cls, directory: str) -> "AttributeProbe":
        with open(os.path.join(directory, META_FILENAME), encoding="utf-8") as f:
            meta = json.load(f)
        config = ProbeConfig(**meta["config"])
        network = build_network(config.image_size, config.width)
        network.load_weights(os.path.join(directory, WEIGHTS_FILENAME))
        return cls(network, config, meta["held_out_accuracy"])

    @classmethod
    def load_or_train(cls, directory: str = DEFAULT_DIR, config: ProbeConfig = ProbeConfig(),
                      log: Callable[[str], None] = print) -> "AttributeProbe":
        """The probe cached in `directory` if it was trained with `config`, else a new one (then cached)."""
        meta_path = os.path.join(directory, META_FILENAME)
        if os.path.exists(meta_path) and os.path.exists(os.path.join(directory, WEIGHTS_FILENAME)):
            with open(meta_path, encoding="utf-8") as f:
                cached = json.load(f).get("config")
            if cached == dataclasses.asdict(config):
                probe = cls.load(directory)
                log(f"Attribute probe loaded from {directory} (held-out accuracy {probe.held_out['mean']:.3f})")
                return probe
            log(f"The attribute probe in {directory} was trained with another configuration: retraining")
        probe = cls.train(config, log)
        probe.save(directory)
        return probe

    # ------------------------------------------------------------------ reading colours
    def _probe_input(self, images) -> np.ndarray:
        """uint8 or [-1, 1] images in [-1, 1] at the probe's size (bilinear resize)."""
        images = _model_range(images)
        size = self.config.image_size
        if images.shape[1:3] != (size, size):
            images = keras.ops.convert_to_numpy(keras.ops.image.resize(images, (size, size), antialias=True))
        return images

    def predict(self, images, batch_size: int = 128) -> np.ndarray:
        """Colour indices (into COLOUR_NAMES) of every part: (N, H, W, 3) uint8 or [-1, 1] -> int (N, parts).

        Images of another size are resized (bilinear) to the probe's.
        """
        images = self._probe_input(images)
        predictions = []
        for start in range(0, len(images), batch_size):
            logits = self.network(images[start:start + batch_size], training=False)
            predictions.append(np.stack([np.argmax(logits[p], axis=-1) for p in COLOURABLE_PARTS], axis=1))
        return np.concatenate(predictions).astype(np.int32)

    def features(self, images, batch_size: int = 128) -> np.ndarray:
        """The penultimate features: each part's attended cell feature, concatenated.

        (N, H, W, 3) uint8 or [-1, 1] -> float32 (N, parts * 4 * width): what the part classifiers
        read (each part's colour and look), so a Frechet distance on them compares generated and
        real birds part by part, with a network trained on SynthBirds rather than ImageNet.
        """
        if self._features is None:
            attended = [layers.Flatten()(self.network.get_layer(f"{part}_attended").output)
                        for part in COLOURABLE_PARTS]
            self._features = keras.Model(self.network.input, layers.Concatenate()(attended))
        images = self._probe_input(images)
        return np.concatenate([keras.ops.convert_to_numpy(self._features(images[start:start + batch_size],
                                                                          training=False))
                               for start in range(0, len(images), batch_size)]).astype(np.float32)

    def accuracy_against(self, images, labels: np.ndarray) -> dict:
        """{part: accuracy, "mean": mean over parts} of the probe on images with known labels."""
        hits = self.predict(images) == np.asarray(labels)
        scores = {p: float(hits[:, i].mean()) for i, p in enumerate(COLOURABLE_PARTS)}
        scores["mean"] = float(hits.mean())
        return scores

    def attribute_accuracy(self, images, named_parts: Sequence[Mapping[str, str]]) -> dict:
        """How often each part of a generated bird has the colour its caption names.

        Args:
            images: (N, H, W, 3) uint8 or [-1, 1] generated images.
            named_parts: per image, {part: colour name} of the parts its caption names
                (`data.synthbirds.captions.named_parts`); parts not named are not scored.

        Returns:
            {"parts": {part: {"accuracy": float or None, "count": int}}, "overall": accuracy over
            every named (image, part), "count": that number, "chance": 1/11}.
        """
        if len(named_parts) != len(images):
            raise ValueError(f"named_parts has {len(named_parts)} entries for {len(images)} images; expected one each")
        predicted = self.predict(images)
        hits = {p: [] for p in COLOURABLE_PARTS}
        for row, named in zip(predicted, named_parts):
            for part, colour in named.items():
                if part not in hits:
                    raise ValueError(f"Unknown part {part!r} in named_parts; expected one of {COLOURABLE_PARTS}")
                if colour not in COLOUR_NAMES:
                    raise ValueError(f"Unknown colour {colour!r} for {part}; expected one of {COLOUR_NAMES}")
                hits[part].append(COLOUR_NAMES[row[COLOURABLE_PARTS.index(part)]] == colour)
        every = [h for values in hits.values() for h in values]
        return {"parts": {p: {"accuracy": float(np.mean(v)) if v else None, "count": len(v)} for p, v in hits.items()},
                "overall": float(np.mean(every)) if every else None, "count": len(every), "chance": CHANCE}


def attribute_accuracy(images, named_parts: Sequence[Mapping[str, str]], probe: Optional[AttributeProbe] = None,
                       probe_dir: str = DEFAULT_DIR) -> dict:
    """`AttributeProbe.attribute_accuracy` with the probe cached in `probe_dir` (trained there once if missing)."""
    probe = probe or AttributeProbe.load_or_train(probe_dir)
    return probe.attribute_accuracy(images, named_parts)
