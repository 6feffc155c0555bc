"""Editors: one interface over a checkpoint, a SavedModel, a TFLite file and the baselines.

Every editor has `edit(images, captions) -> (edited, maps)`:
- images: uint8 (B, H, W, 3); captions: B strings;
- edited: uint8 (B, H, W, 3), the same size as the input;
- maps: float32 (B, h, w), the TLU localisation map A in [0, 1] (h = S / feature_downsample),
  or None for an editor without one (the "no edit" baseline).

A model works on S x S images (its training size): an input of another size is resized to
S x S as a whole (no crop, so nothing of the image is lost; a non-square image is squashed) and
the edit is resized back to the input's size, as the SavedModel's `edit` signature and
serving/tflite_edit.py do. Captions are tokenized with the model's vocabulary by the one spec
of `mimnet_tf.data.text`; `token_ids(captions, check=True)` raises `CaptionError` naming the
unknown words of a caption the model cannot use.

    editor = load_editor(checkpoint="runs/synthbirds")          # or model="models/mimnet/1",
    edited, maps = editor.edit(images, ["this bird has blue wings"] * len(images))  # "x.tflite"
"""
from __future__ import annotations

import os
from typing import Optional, Protocol, Sequence

import numpy as np

from mimnet_tf.inference import exported_model
from mimnet_tf import images as image_io
from mimnet_tf.data import text
from mimnet_tf.inference.exported_model import LiteRTModel
from mimnet_tf.models.model_dir import ModelDir

EXPORT_KINDS = "a SavedModel directory (saved_model.pb), a TF Serving base directory of numbered versions, or a .tflite file"


class BatchEditor(Protocol):
    """What the benchmark, the evaluation and the report run (mimnet_tf.Editor is the public front over one)."""

    name: str

    def edit(self, images: np.ndarray, captions: Sequence[str]) -> tuple[np.ndarray, Optional[np.ndarray]]:
        ...


class NoEditEditor:
    """Baseline: returns the input unchanged (what a model that copies scores)."""

    name = "no edit"

    def edit(self, images, captions):
        return np.array(images, copy=True), None


class ModelEditor:
    """Shared by the model-backed editors: tokenization, resizing, batching.

    Subclasses set `name`, `image_size`, `max_words`, `vocab`, `batch_size` (None: any) and
    implement `_run(model_images float32 (B, S, S, 3) in [-1, 1], token_ids int32 (B, L))`
    returning dict(edited=(B, S, S, 3) in [-1, 1], localisation_map=(B, h, w, 1), coarse=
    (B, S/2, S/2, 3) or absent).
    """

    name = "model"
    image_size: int
    max_words: int
    vocab: text.Vocabulary
    batch_size: Optional[int] = None

    def token_ids(self, captions: Sequence[str], check: bool = False) -> np.ndarray:
        """int32 (B, max_words). With `check`, an empty or all-unknown caption is a CaptionError."""
        if check:
            return np.stack([self.vocab.encode_checked(c, self.max_words) for c in captions])
        return np.stack([self.vocab.encode(c, self.max_words)[0] for c in captions])

    def to_model_input(self, images: np.ndarray) -> np.ndarray:
        """uint8 (B, H, W, 3) -> float32 (B, S, S, 3) in [-1, 1] (each image resized whole)."""
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (batch, height, width, 3); got {images.dtype} {images.shape}")
        size = self.image_size
        return image_io.to_model_range(np.stack([image_io.resize(image, size) for image in images]))

    def outputs(self, images: np.ndarray, captions: Sequence[str], check: bool = False, coarse: bool = True) -> dict:
        """Everything the model returns, as uint8 images at the input's size.

        Args:
            images: uint8 (B, H, W, 3).
            captions: B target texts.
            check: raise CaptionError for a caption with no known word (else those are <unk>).
            coarse: also return the coarse (ICM) image, when the model format has it.

        Returns:
            dict(edited=uint8 (B, H, W, 3), localisation_map=float32 (B, h, w), coarse=uint8
            (B, H, W, 3) or None when the model format does not return it).
        """
        if len(images) != len(captions):
            raise ValueError(f"{len(images)} images but {len(captions)} captions; expected one caption per image")
        ids = self.token_ids(captions, check)
        model_images = self.to_model_input(images)
        chunk = self.batch_size or len(model_images)
        parts = []
        for start in range(0, len(model_images), chunk):
            batch, batch_ids = model_images[start:start + chunk], ids[start:start + chunk]
            count = len(batch)
            if self.batch_size and count < self.batch_size:  # a static-batch model: pad, then drop
                pad = self.batch_size - count
                batch = np.concatenate([batch, np.repeat(batch[-1:], pad, axis=0)])
                batch_ids = np.concatenate([batch_ids, np.repeat(batch_ids[-1:], pad, axis=0)])
            result = self._run(batch, batch_ids)
            parts.append({k: np.asarray(v)[:count] for k, v in result.items() if v is not None})
        merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        height, width = np.shape(images)[1:3]
        small = merged.get("coarse") if coarse else None
        return {
            "edited": _resize_all(image_io.to_uint8(merged["edited"]), width, height),
            "localisation_map": merged["localisation_map"][..., 0].astype(np.float32),
            "coarse": None if small is None else _resize_all(image_io.to_uint8(small), width, height),
        }

    def edit(self, images, captions):
        result = self.outputs(images, captions, coarse=False)
        return result["edited"], result["localisation_map"]

    def _run(self, model_images: np.ndarray, token_ids: np.ndarray) -> dict:
        raise NotImplementedError


def _resize_all(batch: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.stack([image_io.resize(image, (width, height)) for image in batch])


class GeneratorEditor(ModelEditor):
    """Edits with a MIMNetGenerator (a `builder.load_generator` result or a live model).

    Args:
        generator: a built MIMNetGenerator with its weights.
        vocab: the vocabulary it was trained with.
        max_words: caption length it was trained with.
        name: the column name in benchmark tables.
    """

    name = "mim-net"

    def __init__(self, generator, vocab, max_words: int, name: str = ""):
        import tensorflow as tf

        self.generator = generator
        self.vocab = vocab
        self.max_words = max_words
        self.image_size = int(generator.config.image_size)
        self.name = name or self.name
        self.model_dir = ""  # set by from_model_dir, with the run's config and checkpoint path
        self.config = None
        self.checkpoint_path = ""

        def call(image, ids):
            outputs = generator({"image": image, "token_ids": ids}, training=False)
            return {"edited": outputs["fine"], "coarse": outputs["coarse"],
                    "localisation_map": outputs["localisation_map"]}

        self._call = tf.function(call, reduce_retracing=True)

    @classmethod
    def from_model_dir(cls, model_dir: str, checkpoint: str = "", name: str = ""):
        from mimnet_tf.models.builder import load_generator

        trained = load_generator(model_dir, checkpoint)
        editor = cls(trained.generator, trained.vocab, trained.config.model.max_words, name)
        editor.model_dir = model_dir
        editor.config = trained.config
        editor.checkpoint_path = trained.checkpoint_path
        return editor

    def _run(self, model_images, token_ids):
        return {k: v.numpy() for k, v in self._call(model_images, token_ids).items()}


class SavedModelEditor(ModelEditor):
    """Edits with the `edit_tensors` signature of a SavedModel written by mimnet_tf.export.saved_model.

    Image size and caption length come from the signature's input specs, the vocabulary from
    the SavedModel's assets/vocab.txt.
    """

    name = "savedmodel"

    def __init__(self, path: str, name: str = ""):
        import tensorflow as tf

        self.path = path
        loaded = tf.saved_model.load(path)
        if exported_model.EDIT_TENSORS not in loaded.signatures:
            raise ValueError(f"{path}: the SavedModel has no {exported_model.EDIT_TENSORS!r} signature "
                             f"(found {sorted(loaded.signatures)}); export it with python -m mimnet_tf.export.saved_model")
        self._loaded = loaded  # keeps the variables alive
        self._function = loaded.signatures[exported_model.EDIT_TENSORS]
        specs = self._function.structured_input_signature[1]
        self.image_size = int(specs[exported_model.IMAGE].shape[1])
        self.max_words = int(specs[exported_model.TOKEN_IDS].shape[1])
        static_batch = specs[exported_model.IMAGE].shape[0]
        self.batch_size = int(static_batch) if static_batch is not None else None
        self.vocab = text.Vocabulary.load(os.path.join(path, "assets", text.VOCAB_FILENAME))
        self.name = name or self.name

    def _run(self, model_images, token_ids):
        import tensorflow as tf

        outputs = self._function(image=tf.constant(model_images, tf.float32), token_ids=tf.constant(token_ids, tf.int32))
        return {"edited": outputs[exported_model.EDITED_IMAGE].numpy(),
                "localisation_map": outputs[exported_model.LOCALISATION_MAP].numpy()}


class RunnerEditor(ModelEditor):
    """Edits with any `run(image, token_ids) -> {edited_image, localisation_map}` (an export's runner).

    Args:
        run: float32 (B, S, S, 3) in [-1, 1] and int32 (B, L) -> the two served outputs.
        vocab, image_size, max_words: the model's.
        batch_size: the runner's static batch size (None: any).
    """

    name = "export"

    def __init__(self, run, vocab, image_size: int, max_words: int, batch_size: Optional[int] = None, name: str = ""):
        self.run = run
        self.vocab = vocab
        self.image_size = image_size
        self.max_words = max_words
        self.batch_size = batch_size
        self.name = name or self.name

    def _run(self, model_images, token_ids):
        outputs = self.run(model_images, token_ids)
        return {"edited": outputs["edited_image"], "localisation_map": outputs["localisation_map"]}


class LiteRTEditor(RunnerEditor):
    """Edits with a .tflite file in the LiteRT interpreter (metadata JSON and vocab.txt beside it)."""

    name = "tflite"

    def __init__(self, path: str, name: str = "", num_threads: int = 1):
        self.path = path
        self.model = LiteRTModel(path, num_threads)
        vocab_file = self.model.metadata.get("vocab_file", text.VOCAB_FILENAME)
        vocab = text.Vocabulary.load(os.path.join(os.path.dirname(os.path.abspath(path)), vocab_file))
        super().__init__(self.model.run, vocab, self.model.image_size, self.model.max_words, self.model.batch_size,
                         name)


def resolve_checkpoint(checkpoint: str) -> tuple[str, str]:
    """`--checkpoint` -> (model directory, checkpoint prefix or "" for the latest): a model directory
    written by training, or one checkpoint inside its checkpoints/ folder (`ModelDir.of_checkpoint`)."""
    directory, prefix = ModelDir.of_checkpoint(checkpoint)
    return directory.path, prefix


def resolve_export(path: str) -> str:
    """A SavedModel dir, a TF Serving base dir (-> its highest version) or a .tflite file."""
    if os.path.isfile(path):
        if not path.endswith(".tflite"):
            raise ValueError(f"--model={path}: not a .tflite file; expected {EXPORT_KINDS}")
        return path
    if not os.path.isdir(path):
        raise FileNotFoundError(f"--model={path}: no such file or directory; expected {EXPORT_KINDS}")
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return path
    versions = [v for v in os.listdir(path) if v.isdigit() and os.path.exists(os.path.join(path, v, "saved_model.pb"))]
    if versions:
        return os.path.join(path, max(versions, key=int))
    raise ValueError(f"--model={path}: the directory holds no saved_model.pb; expected {EXPORT_KINDS}")


def load_editor(checkpoint: str = "", model: str = "", name: str = "") -> ModelEditor:
    """The editor of a model directory (`checkpoint`) or of an exported model (`model`).

    Args:
        checkpoint: a model directory written by training, or a checkpoint prefix inside it.
        model: an export: SavedModel directory, TF Serving base directory or .tflite file.
        name: the editor's name in tables (default: "mim-net", "savedmodel" or "tflite").

    Raises:
        ValueError: neither or both given, or an unrecognised export.
        FileNotFoundError: the path does not exist or holds no checkpoint.
    """
    if bool(checkpoint) == bool(model):
        raise ValueError("give exactly one of --checkpoint (a model directory) and --model (an exported model); "
                         f"got {'both' if checkpoint else 'neither'}")
    if checkpoint:
        model_dir, prefix = resolve_checkpoint(checkpoint)
        return GeneratorEditor.from_model_dir(model_dir, prefix, name)
    path = resolve_export(model)
    if path.endswith(".tflite"):
        return LiteRTEditor(path, name)
    return SavedModelEditor(path, name)
