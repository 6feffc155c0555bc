"""The paper's evaluation protocol (MIM-Net Table 1): IS, Sim, Diff, MP, plus FID and R-precision.

Protocol: each test image is edited with a caption of another test image (drawn with the seed:
the other image uniformly among the rest, then one of its captions), the way TAGAN, ManiGAN and
MIM-Net evaluate on CUB. For every method (the model, optionally its "w/o memory" ablation, and
"real images", the unedited test images with their own captions, as the paper's last row):
- Diff: mean |input - edited| over pixels, images in [0, 1];
- Sim: mean cosine of the DAMSM global image feature of the edited image and the DAMSM
  sentence feature of the target caption (the project's own pretrained DAMSM encoders);
- MP = (1 - Diff) x Sim, from the two means (as Table 1's numbers are);
- IS of the edited images, FID between edited and real test images (Inception-v3 from a local
  weights file);
- R-precision: the target caption ranked first among it and 99 random other target captions by
  DAMSM cosine (fewer candidates on a test split under 100 images).
Sim/MP/R-precision are skipped with a message when no DAMSM is available, IS/FID when no
Inception weights file is given. Results go to `<out>/evaluation.json` and `evaluation.md`.
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable, Optional, Sequence

import numpy as np
from tqdm import tqdm

from mimnet_tf import images as image_io
from mimnet_tf.config import DataConfig
from mimnet_tf.data import records
from mimnet_tf.inference.editors import load_editor
from mimnet_tf.metrics import similarity, statistics
from mimnet_tf.models.model_dir import ModelDir

COLUMNS = ("method", "IS", "Sim", "Diff", "MP", "FID", "R-precision")
FORMATS = {"IS": ".2f", "FID": ".2f"}
REAL_IMAGES = "real images"
ABLATION_NAME = "w/o memory"
RESULTS_NAME = "evaluation"
DAMSM_HOWTO = (
    "Sim, MP and R-precision need a pretrained DAMSM (the project's own text and image encoders). "
    "Make one with: python -m mimnet_tf.pretrain_damsm --flagfile=configs/<dataset>.flags --damsm_dir=DIR, "
    "then pass --damsm_dir=DIR (or train with --damsm_dir so the model's config.json names it)."
)


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    """What `evaluate` runs.

    Attributes:
        data: where the prepared test split lives (and its image size).
        checkpoint: model directory (or checkpoint prefix) of the model to evaluate.
        export: an exported model to evaluate instead (SavedModel dir or .tflite).
        ablation_checkpoint: optional model directory of the "w/o memory" model (a second row).
        damsm_dir: DAMSM directory for Sim / MP / R-precision ("" skips them with a message).
        inception_weights: local Inception-v3 weights file for IS / FID ("" skips them).
        out: folder of evaluation.json / evaluation.md ("" writes nothing).
        num_images: test images to use (0: all).
        batch_size: images per editor call.
        seed: the draw of target captions and of R-precision distractors.
        num_candidates: R-precision candidates per image (true caption included).
        is_splits: Inception-score splits.
        progress: show a progress bar.
        method: the model's row name (default "MIM-Net <S>").
    """

    data: DataConfig
    checkpoint: str = ""
    export: str = ""
    ablation_checkpoint: str = ""
    damsm_dir: str = ""
    inception_weights: str = ""
    out: str = ""
    num_images: int = 0
    batch_size: int = 16
    seed: int = 0
    num_candidates: int = 100
    is_splits: int = 10
    progress: bool = True
    method: str = ""


class DamsmScorer:
    """DAMSM features and Sim for uint8 images and raw captions.

    The DAMSM keeps its own vocabulary, caption length and image size (from its directory), so
    it can score any model's edits: captions are tokenized with its vocabulary and images
    resized to its size.

    Args:
        damsm_dir: a directory written by `python -m mimnet_tf.pretrain_damsm`.
    """

    def __init__(self, damsm_dir: str):
        import tensorflow as tf

        from mimnet_tf.models.damsm import damsm_from_dir

        self.damsm_dir = damsm_dir
        self.damsm = damsm_from_dir(damsm_dir)
        self.vocab = ModelDir(damsm_dir).vocab()
        run = ModelDir(damsm_dir).config()
        self.image_size = run.data.image_size
        self.max_words = run.data.max_words
        self._image = tf.function(lambda x: self.damsm.image_encoder(x)["global"], reduce_retracing=True)
        self._sentence = tf.function(lambda ids: self.damsm.text_encoder(ids)["sentence"], reduce_retracing=True)

    def image_features(self, images: np.ndarray) -> np.ndarray:
        """uint8 (B, H, W, 3) -> float32 (B, D) global image features."""
        resized = np.stack([image_io.resize(np.asarray(image, np.uint8), self.image_size) for image in images])
        return self._image(image_io.to_model_range(resized)).numpy()

    def text_features(self, captions: Sequence[str]) -> np.ndarray:
        """B captions -> float32 (B, D) sentence features (unknown words are <unk>)."""
        ids = np.stack([self.vocab.encode(c, self.max_words)[0] for c in captions])
        return self._sentence(ids).numpy()

    def similarity(self, images: np.ndarray, captions: Sequence[str]) -> np.ndarray:
        """Sim of each (image, caption) pair: (B,) cosines."""
        return similarity.cosine_similarity(self.image_features(images), self.text_features(captions))


def load_damsm(damsm_dir: str, log: Callable[[str], None] = print) -> Optional[DamsmScorer]:
    """A DamsmScorer, or None (after logging how to make one) when `damsm_dir` holds no DAMSM."""
    if damsm_dir and os.path.isdir(damsm_dir):
        try:
            return DamsmScorer(damsm_dir)
        except FileNotFoundError as error:
            log(f"Skipping Sim, MP and R-precision: {error}")
            return None
    where = f" (no DAMSM directory {damsm_dir!r})" if damsm_dir else " (no --damsm_dir)"
    log(f"Skipping Sim, MP and R-precision{where}. {DAMSM_HOWTO}")
    return None


def load_inception(weights: str, log: Callable[[str], None] = print):
    """An InceptionNetwork from a local file, or None (after logging which file) without one.

    Raises:
        InceptionWeightsMissing / ValueError: a path was given but is not the weights file.
    """
    from mimnet_tf.metrics.inception import InceptionNetwork, InceptionWeightsMissing

    if not weights:
        log(f"Skipping IS and FID: {InceptionWeightsMissing(None)}")
        return None
    return InceptionNetwork(weights)


def read_test_captions(data: DataConfig, limit: int = 0) -> tuple[list[str], list[list[str]]]:
    """(keys, captions per image) of the prepared test split, in record order (no image decoding)."""
    import tensorflow as tf

    keys, captions = [], []
    dataset = tf.data.TFRecordDataset(records.shard_files(data.resolved_prepared_dir, "test")).map(records.parse)
    for example in dataset:
        keys.append(example["key"].numpy().decode("utf-8"))
        captions.append([c.decode("utf-8") for c in example["captions"].numpy() if c])
        if limit and len(keys) >= limit:
            break
    return keys, captions


def draw_captions(captions: Sequence[Sequence[str]], seed: int) -> tuple[list[str], list[str], np.ndarray]:
    """The protocol's text for every image.

    Returns:
        (target captions: one caption of another image each, own captions: one of the image's
        own captions each, target image index of each image).
    """
    count = len(captions)
    if count < 2:
        raise ValueError(f"the test split has {count} image(s); editing with another image's caption needs >= 2")
    rng = np.random.default_rng(seed)
    others = (np.arange(count) + rng.integers(1, count, size=count)) % count  # never the image itself
    targets = [captions[j][int(rng.integers(len(captions[j])))] for j in others]
    own = [c[int(rng.integers(len(c)))] for c in captions]
    return targets, own, others


class _Method:
    """Accumulated outputs of one row of the table."""

    def __init__(self, name: str, editor=None):
        self.name = name
        self.editor = editor
        self.diff: list = []
        self.sim: list = []
        self.image_features: list = []
        self.probabilities: list = []
        self.pools: list = []
        self.seconds = 0.0

    def add(self, inputs, outputs, damsm, inception, text_features) -> None:
        self.diff.append(similarity.pixel_difference(inputs, outputs, "uint8", per_image=True))
        if damsm is not None:
            features = damsm.image_features(outputs)
            self.image_features.append(features)
            self.sim.append(similarity.cosine_similarity(features, text_features))
        if inception is not None:
            probabilities, pools = inception.predict(outputs)
            self.probabilities.append(probabilities)
            self.pools.append(pools)

    def row(self, text_features, real_pools, num_candidates: int, seed: int, is_splits: int) -> dict:
        diff = np.concatenate(self.diff)
        row = {"method": self.name, "Diff": float(diff.mean()), "Diff_std": float(diff.std()), "images": len(diff)}
        if self.sim:
            sim = np.concatenate(self.sim)
            row.update({"Sim": float(sim.mean()), "Sim_std": float(sim.std()),
                        "MP": similarity.manipulative_precision(row["Diff"], float(sim.mean())),
                        "R-precision": similarity.r_precision(np.concatenate(self.image_features), text_features,
                                                              num_candidates, seed)})
        if self.probabilities:
            from mimnet_tf.metrics.inception import fid_from_activations, inception_score

            probabilities = np.concatenate(self.probabilities)
            row["IS"], row["IS_std"] = inception_score(probabilities, min(is_splits, len(probabilities)))
            if real_pools is not None:
                row["FID"] = fid_from_activations(real_pools, np.concatenate(self.pools))
        if self.editor is not None:
            row["seconds"] = round(self.seconds, 2)
        return row


def _editors(config: EvaluationConfig, log) -> list:
    editor = load_editor(config.checkpoint, config.export)
    name = config.method or (f"MIM-Net {editor.image_size}" if config.checkpoint else f"MIM-Net {editor.name}")
    editors = [(name, editor)]
    if config.ablation_checkpoint:
        editors.append((ABLATION_NAME, load_editor(config.ablation_checkpoint)))
    log(f"Evaluating {', '.join(n for n, _ in editors)} on {config.data.resolved_prepared_dir} (test split)")
    return editors


def evaluate(config: EvaluationConfig, log: Callable[[str], None] = print, inception=None, damsm=None) -> dict:
    """Runs the protocol and writes the results; returns {"rows", "metadata", "paths"}.

    Args:
        config: what to evaluate.
        log: where messages go (skipped metrics, file paths).
        inception: an InceptionNetwork-like object (`predict(uint8 images) -> (probabilities,
            pool features)`) to use instead of loading `config.inception_weights`.
        damsm: a DamsmScorer-like object to use instead of loading `config.damsm_dir`.
    """
    from mimnet_tf.data import pipeline

    began = time.time()
    if config.batch_size < 1:
        raise ValueError(f"--batch_size={config.batch_size}: expected >= 1")
    editors = _editors(config, log)
    damsm = damsm or load_damsm(config.damsm_dir, log)
    inception = inception or load_inception(config.inception_weights, log)
    keys, captions = read_test_captions(config.data, config.num_images)
    targets, own, _ = draw_captions(captions, config.seed)
    count = len(keys)
    methods = [_Method(name, editor) for name, editor in editors]
    real = _Method(REAL_IMAGES)
    target_features = own_features = None
    if damsm is not None:
        target_features = np.concatenate([damsm.text_features(targets[s:s + 256]) for s in range(0, count, 256)])
        own_features = np.concatenate([damsm.text_features(own[s:s + 256]) for s in range(0, count, 256)])

    dataset = pipeline.make_dataset(config.data, "test", training=False, batch_size=config.batch_size,
                                    splitter="core")
    done = 0
    with tqdm(total=count, desc="evaluate", unit="img", disable=not config.progress) as bar:
        for batch in dataset:
            take = min(count - done, int(batch["image"].shape[0]))
            if take <= 0:
                break
            batch_keys = [k.decode("utf-8") for k in batch["key"].numpy()[:take]]
            if batch_keys != keys[done:done + take]:
                raise RuntimeError(f"test records out of order at image {done}: {batch_keys[0]} != {keys[done]}")
            inputs = image_io.to_uint8(batch["image"].numpy()[:take])
            rows = slice(done, done + take)
            real.add(inputs, inputs, damsm, inception,
                     None if own_features is None else own_features[rows])
            for method in methods:
                started = time.time()
                edited, _ = method.editor.edit(inputs, targets[rows])
                method.seconds += time.time() - started
                method.add(inputs, edited, damsm, inception,
                           None if target_features is None else target_features[rows])
            done += take
            bar.update(take)
    candidates = min(config.num_candidates, count)
    if damsm is not None and candidates < config.num_candidates:
        log(f"R-precision with {candidates} candidates (the test split has {count} images, fewer than "
            f"{config.num_candidates})")
    real_pools = np.concatenate(real.pools) if real.pools else None
    rows = [m.row(target_features, real_pools, candidates, config.seed, config.is_splits) for m in methods]
    rows.append(real.row(own_features, None, candidates, config.seed, config.is_splits))
    metadata = {
        "protocol": "each test image edited with a caption of another test image (seeded)",
        "checkpoint": config.checkpoint or config.export,
        "ablation_checkpoint": config.ablation_checkpoint,
        "prepared_dir": config.data.resolved_prepared_dir,
        "images": count,
        "seed": config.seed,
        "r_precision_candidates": candidates if damsm is not None else None,
        "damsm_dir": getattr(damsm, "damsm_dir", "") if damsm is not None else None,
        "inception_weights": getattr(inception, "weights_path", "") if inception is not None else None,
        "seconds": round(time.time() - began, 1),
    }
    result = {"rows": rows, "metadata": metadata, "paths": ()}
    if config.out:
        result["paths"] = statistics.write_results(
            os.path.join(config.out, RESULTS_NAME), rows, COLUMNS, title="Text-guided manipulation (Table 1 layout)",
            metadata=metadata, formats=FORMATS)
    return result


def format_rows(rows: Sequence[dict]) -> str:
    """The Markdown table of the evaluation rows (Table 1 layout)."""
    return statistics.format_table(rows, COLUMNS, formats=FORMATS)
