"""`mimnet_tf.Editor`: edit images with sentences from Python, in the manner of keras-hub's tasks.

    import mimnet_tf

    editor = mimnet_tf.Editor.from_preset("synthbirds64")   # or a model directory, a SavedModel, a .tflite
    result = editor.edit("docs/bird.png", "this bird has green wings and a red crown")
    result.edited            # uint8 (H, W, 3): the edit, at the input's size
    result.localisation_map  # float32 (h, w) in [0, 1]: where the model edits (the TLU map)
    result.corrected_words   # typos it read as a word it knows, e.g. (("blu", "blue"),)
    result.unknown_words     # words of the sentence the model does not know, e.g. ("make",)
    result.save("edited.png", map_path="edited_map.png")

The model backends (a checkpoint, a SavedModel, a TFLite file) are `mimnet_tf.inference.editors`; this
class gives them one front: inputs of any kind, results at the input's size, the caption's
report.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Sequence, Union

import numpy as np
from PIL import Image

from mimnet_tf.inference import editors, presets
from mimnet_tf import images as image_io
from mimnet_tf.data import text

IMAGE_KINDS = "a file path, a PIL image, or a uint8 array in [0, 255] or float array in [0, 1] of shape (H, W), (H, W, 3) or (H, W, 4)"


@dataclasses.dataclass(frozen=True)
class EditResult:
    """One edit, at the input's size.

    Attributes:
        edited: uint8 (H, W, 3), the edited image (`PIL.Image.fromarray(result.edited)` for PIL).
        localisation_map: float32 (h, w) in [0, 1], the TLU map A at the model's resolution
            (h = S / feature_downsample): where the model changes the image.
        map_overlay: uint8 (H, W, 3), that map drawn as a heat map over the input.
        text: the sentence.
        corrected_words: (typed word, vocabulary word it was read as) for each likely typo of the
            sentence (`mimnet_tf.data.text`'s spec: within 1 edit, 2 from 6 letters), in order.
        unknown_words: the sentence's words the model does not know and could not correct (it
            reads each as `<unk>`).
    """

    edited: np.ndarray
    localisation_map: np.ndarray
    map_overlay: np.ndarray
    text: str
    corrected_words: tuple[tuple[str, str], ...] = ()
    unknown_words: tuple[str, ...] = ()

    def save(self, path: str, map_path: str = "") -> None:
        """Writes the edit to `path` (the format follows the extension) and, with `map_path`, the map overlay."""
        image_io.save_image(path, self.edited)
        if map_path:
            image_io.save_image(map_path, self.map_overlay)


def caption_report(vocab: text.Vocabulary, caption: str, max_words: int) -> dict:
    """What an EditResult says about its sentence, beyond the edit: the typos corrected and the
    words the model does not know, as `Vocabulary.read` (what every backend feeds the model) has them.

    The one place that reads a caption for the user: a field added here (and to EditResult)
    reaches the Python API, the edit command (`describe_caption`) and the web page.
    """
    reading = vocab.read(caption, max_words)
    return {"corrected_words": reading.corrections, "unknown_words": reading.unknown}


def describe_caption(result: EditResult) -> str:
    """One line for people: the caption report of `result` (the edit command and the web page print it),
    in `text.Reading.describe`'s words, e.g. "Read 'blu' as 'blue'; unknown words (ignored): please."."""
    note = text.Reading(np.zeros((0,), np.int32), result.corrected_words, result.unknown_words).describe()
    if not note:
        return "Every word is known to the model."
    return note[0].upper() + note[1:] + "."


def as_rgb(image, name: str = "image") -> np.ndarray:
    """Any accepted image (see IMAGE_KINDS) -> uint8 RGB (H, W, 3); raises ImageError naming `name`."""
    if isinstance(image, (str, os.PathLike)):
        return image_io.load_image(os.fspath(image))
    if isinstance(image, Image.Image):
        return image_io.rgb_array(image)
    if not (isinstance(image, np.ndarray) or hasattr(image, "__array__")):
        raise image_io.ImageError(f"{name}: a {type(image).__name__}; expected {IMAGE_KINDS}")
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (3, 4))) or 0 in array.shape:
        raise image_io.ImageError(f"{name}: an array of shape {array.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise image_io.ImageError(f"{name}: a float array with NaN or infinite values; expected [0, 1]")
        if array.min() < 0.0 or array.max() > 1.0:
            raise image_io.ImageError(f"{name}: a float array with values in [{array.min():g}, {array.max():g}]; "
                                      "expected [0, 1] (pass uint8 for values in [0, 255])")
        array = image_io.unit_to_uint8(array)
    elif not np.issubdtype(array.dtype, np.integer) or array.dtype == bool or array.min() < 0 or array.max() > 255:
        raise image_io.ImageError(f"{name}: a {array.dtype} array; expected uint8 in [0, 255] or float in [0, 1]")
    return image_io.rgb_array(Image.fromarray(array.astype(np.uint8)))


class Editor:
    """Edits images with sentences, with a trained MIM-Net (a shipped preset, a model directory or an export).

    Build one with `Editor.from_preset(...)`; `edit(image, text)` returns an `EditResult`,
    `edit([images], [texts])` a list of them. The model edits S x S images (S = `image_size`,
    its training size): each input is resized whole to S x S (no crop; a non-square picture is
    squashed) and the edit is resized back, so a result always has its input's size.

    Args:
        backend: a model editor of `mimnet_tf.inference.editors` (`load_editor(...)`), e.g. a GeneratorEditor.

    Example:
        >>> editor = Editor.from_preset("synthbirds64")
        >>> result = editor.edit("docs/bird.png", "this bird has green wings and a red crown")
        >>> result.edited.shape, result.unknown_words
        ((128, 128, 3), ())
    """

    presets = presets.PRESETS

    def __init__(self, backend: editors.ModelEditor):
        self.backend = backend

    @classmethod
    def from_preset(cls, preset: str) -> "Editor":
        """The editor of a shipped model (`"synthbirds64"`, `"synthbirds128"`; see `Editor.presets`) or of
        a path: a model directory written by training (or one checkpoint in it), a SavedModel
        directory, a TF Serving base directory (its highest version) or a .tflite file.

        Raises:
            ValueError: an unknown name that is no path either (the message lists the presets).
            FileNotFoundError: a path that holds no model.
        """
        return cls(presets.load(preset))

    @classmethod
    def from_flags(cls, preset: str = "", checkpoint: str = "", model: str = "") -> "Editor":
        """The editor of a command's --preset, --checkpoint or --model (exactly one given)."""
        given = [flag for flag, value in (("--preset", preset), ("--checkpoint", checkpoint), ("--model", model))
                 if value]
        if len(given) != 1:
            raise ValueError(f"give exactly one of --preset (a shipped model: {', '.join(presets.PRESETS)}), "
                             "--checkpoint (a model directory) and --model (an exported model); got "
                             f"{' and '.join(given) or 'none'}")
        if preset:
            return cls.from_preset(preset)
        return cls(editors.load_editor(checkpoint, model))

    @property
    def image_size(self) -> int:
        """S: the model edits S x S images."""
        return self.backend.image_size

    @property
    def max_words(self) -> int:
        """Words of a sentence the model reads (the rest are dropped)."""
        return self.backend.max_words

    @property
    def vocabulary(self) -> text.Vocabulary:
        return self.backend.vocab

    def __repr__(self) -> str:
        return f"Editor({self.backend.name}, {self.image_size} px, {len(self.vocabulary)} words)"

    def edit(self, images, texts: Union[str, Sequence[str]], batch_size: int = 16):
        """Edits one image with one sentence, or a list of images with a list of sentences.

        Args:
            images: one image, or a list of them (or a (B, H, W, 3) array): each a file path, a
                PIL image, or a uint8 array in [0, 255] / float array in [0, 1] of shape (H, W),
                (H, W, 3) or (H, W, 4) (alpha composited on white). Sizes may differ.
            texts: the sentence describing the wanted image, or one per image.
            batch_size: images per model call.

        Returns:
            An EditResult for one image, a list of them (in order) for a list.

        Raises:
            CaptionError: a sentence that is empty or has no word the model knows (nothing is edited).
            ImageError: an image that cannot be read, naming it.
            ValueError: the numbers of images and sentences differ.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: expected >= 1")
        if isinstance(texts, str):
            if isinstance(images, (list, tuple)) or (isinstance(images, np.ndarray) and images.ndim == 4):
                raise ValueError(f"{len(images)} images but one sentence; pass a list of {len(images)} sentences")
            return self.edit([as_rgb(images)], [texts], batch_size)[0]
        captions = list(texts)
        if not all(isinstance(c, str) for c in captions):
            raise ValueError(f"texts: expected a string or a list of strings; got {captions!r:.80}")
        if isinstance(images, (str, os.PathLike, Image.Image)) or (isinstance(images, np.ndarray) and images.ndim != 4):
            raise ValueError(f"a list of {len(captions)} sentences needs a list of images or a (B, H, W, 3) array; "
                             "got one image")
        pictures = [as_rgb(image, f"images[{i}]") for i, image in enumerate(images)]
        if len(pictures) != len(captions):
            raise ValueError(f"{len(pictures)} images but {len(captions)} sentences; expected one sentence per image")
        self.backend.token_ids(captions, check=True)  # every sentence is usable before anything runs
        results = []
        for start in range(0, len(pictures), batch_size):
            results += self._edit_batch(pictures[start:start + batch_size], captions[start:start + batch_size])
        return results

    def _edit_batch(self, pictures: list[np.ndarray], captions: list[str]) -> list[EditResult]:
        size = self.image_size
        squares = np.stack([image_io.resize(picture, size) for picture in pictures])
        outputs = self.backend.outputs(squares, captions, check=True, coarse=False)
        results = []
        for picture, caption, edit, values in zip(pictures, captions, outputs["edited"], outputs["localisation_map"]):
            height, width = picture.shape[:2]
            results.append(EditResult(
                edited=image_io.resize(edit, (width, height)), localisation_map=values,
                map_overlay=image_io.overlay(picture, values), text=caption,
                **caption_report(self.vocabulary, caption, self.max_words)))
        return results
