"""Edits an image with an exported TFLite model in the LiteRT interpreter, as the Android app does.

    python -m mimnet_tf.serving.tflite_edit --model=models/tflite/mimnet_fp32.tflite \\
        --image=bird.png --text="this bird has a red crown" --out=edited.png

The model's metadata JSON (beside it) gives the tensor names, input size and vocabulary file;
tokenization is `Vocabulary.encode` of mimnet_tf.data.text (the spec serving/android's
Tokenizer.kt implements). Writes the edited image at the input's size and, beside it (or at
--map_out), the localisation map as a heat-map overlay. No TensorFlow import: only LiteRT,
numpy and Pillow, as on a device.
"""
from __future__ import annotations

import dataclasses
import os
import sys

import numpy as np
from absl import app, flags

from mimnet_tf import files, images
from mimnet_tf.data.text import Vocabulary
from mimnet_tf.inference.exported_model import LiteRTModel


@dataclasses.dataclass
class Edit:
    """An edit at the input's size: uint8 RGB images and the raw map in [0, 1]."""

    edited: np.ndarray  # (H, W, 3)
    map_overlay: np.ndarray  # (H, W, 3): heat map of the localisation map over the input
    localisation_map: np.ndarray  # (S/ds, S/ds)


class TFLiteEditor:
    """Image + sentence -> edit, exactly as the app does it (resize, tokenize, run, resize back).

    Args:
        model_path: the .tflite file (metadata JSON and vocab file beside it).
    """

    def __init__(self, model_path: str, num_threads: int = 1):
        self.model = LiteRTModel(model_path, num_threads)
        if self.model.batch_size != 1:
            raise ValueError(f"{model_path}: the editor runs batch-1 models; this one has batch {self.model.batch_size}")
        self.vocab = Vocabulary.load(os.path.join(os.path.dirname(os.path.abspath(model_path)),
                                                  self.model.metadata["vocab_file"]))

    def token_ids(self, caption: str) -> np.ndarray:
        """int32 (1, max_words); raises CaptionError for an empty or all-unknown caption."""
        return self.vocab.encode_checked(caption, self.model.max_words)[None]

    def edit(self, image: np.ndarray, caption: str) -> Edit:
        """uint8 RGB (H, W, 3) + caption -> Edit at (H, W)."""
        height, width = image.shape[:2]
        size = self.model.image_size
        model_input = images.to_model_range(images.resize(image, size))[None]
        outputs = self.model.run(model_input, self.token_ids(caption))
        edited = images.resize(images.to_uint8(outputs["edited_image"][0]), (width, height))
        values = outputs["localisation_map"][0, :, :, 0]
        return Edit(edited=edited, map_overlay=images.overlay(image, values), localisation_map=values)


def map_path_for(out_path: str) -> str:
    stem, ext = os.path.splitext(out_path)
    return f"{stem}_map{ext or '.png'}"


def main(argv) -> None:
    values = flags.FLAGS
    map_out = values.map_out or map_path_for(values.out)
    try:
        if files.same_file(values.out, map_out):
            raise files.OutputError(f"--map_out={map_out} is --out={values.out}: the map would replace the edit")
        files.refuse_overwriting_inputs({"--out": values.out, "--map_out": map_out},
                                        {"--image": values.image, "--model": values.model})
        editor = TFLiteEditor(values.model, values.num_threads)
        result = editor.edit(images.load_image(values.image), values.text)
        images.save_image(values.out, result.edited)
        images.save_image(map_out, result.map_overlay)
    except (OSError, ValueError) as error:  # ImageError, CaptionError and OutputError are ValueErrors
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"Edited image: {values.out}; localisation map overlay: {map_out}")


def run() -> None:
    flags.DEFINE_string("model", None, "A .tflite file written by mimnet_tf.export.tflite.")
    flags.DEFINE_string("image", None, "The image to edit (PNG or JPEG).")
    flags.DEFINE_string("text", None, "The sentence describing the wanted image.")
    flags.DEFINE_string("out", "edited.png", "Where to write the edited image.")
    flags.DEFINE_string("map_out", "", "Where to write the map overlay (default: <out>_map.png).")
    flags.DEFINE_integer("num_threads", 1, "Interpreter threads.")
    flags.mark_flags_as_required(["model", "image", "text"])
    app.run(main)


if __name__ == "__main__":
    run()
