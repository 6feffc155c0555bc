"""What an exported model looks like from outside, shared by the code that writes exports
(mimnet_tf.export), serves them (mimnet_tf.serving) and runs them (editors.py).

- The signature and tensor names of every export (the contract is described in
  export/signatures.py, which builds the functions behind them).
- `LiteRTModel`: a .tflite file run through its one signature in the LiteRT interpreter, with
  the metadata JSON that mimnet_tf.export.tflite writes beside it. No TensorFlow import: only
  LiteRT and numpy, as on a device; LiteRT itself loads only when a model does.
"""
from __future__ import annotations

import json
import os

import numpy as np

IMAGE = "image"
TOKEN_IDS = "token_ids"
EDITED_IMAGE = "edited_image"
LOCALISATION_MAP = "localisation_map"
IMAGE_BYTES = "image_bytes"
TEXT = "text"
EDITED_IMAGE_BYTES = "edited_image_bytes"
LOCALISATION_MAP_BYTES = "localisation_map_bytes"
CORRECTED_WORDS = "corrected_words"
UNKNOWN_WORDS = "unknown_words"

EDIT = "edit"
EDIT_TENSORS = "edit_tensors"
SERVING_DEFAULT = "serving_default"
SERVE_TAG = "serve"


def metadata_path(model_path: str) -> str:
    return os.path.splitext(model_path)[0] + ".json"


class LiteRTModel:
    """A TFLite file run through its one signature with the LiteRT interpreter.

    Args:
        model_path: the .tflite file; its metadata JSON must sit beside it.

    `run(image float32 (B, S, S, 3), token_ids int32 (B, L))` -> dict(edited_image, localisation_map);
    `run_inputs(**inputs)` runs any export's signature by name (a MirrorGAN generator's too).
    """

    def __init__(self, model_path: str, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        if not os.path.isfile(model_path):
            raise FileNotFoundError(f"--model={model_path}: no such file (a .tflite written by mimnet_tf.export.tflite)")
        meta_file = metadata_path(model_path)
        if not os.path.isfile(meta_file):
            raise FileNotFoundError(f"{meta_file} is missing: mimnet_tf.export.tflite writes it beside each model")
        with open(meta_file, encoding="utf-8") as f:
            self.metadata = json.load(f)
        self.interpreter = Interpreter(model_path=model_path, num_threads=num_threads)
        signature_list = self.interpreter.get_signature_list()
        if len(signature_list) != 1:
            raise ValueError(f"{model_path}: expected one signature, found {sorted(signature_list)}")
        self.signature_key = next(iter(signature_list))
        self.runner = self.interpreter.get_signature_runner(self.signature_key)
        self.input_names = [t["name"] for t in self.metadata["inputs"]]
        self.output_names = [t["name"] for t in self.metadata["outputs"]]
        found = signature_list[self.signature_key]
        if sorted(found["inputs"]) != sorted(self.input_names) or sorted(found["outputs"]) != sorted(self.output_names):
            raise ValueError(f"{model_path}: signature {found} does not match the metadata tensors "
                             f"{self.input_names} -> {self.output_names}")

    @property
    def image_size(self) -> int:
        return int(self.metadata["image_size"])

    @property
    def max_words(self) -> int:
        return int(self.metadata["max_words"])

    @property
    def batch_size(self) -> int:
        return int(self.metadata["inputs"][0]["shape"][0])

    def run(self, image: np.ndarray, token_ids: np.ndarray) -> dict:
        image_name, ids_name = self.input_names
        return self.run_inputs(**{image_name: image, ids_name: token_ids})

    def run_inputs(self, **inputs: np.ndarray) -> dict:
        """Any model's signature by its input names (a MirrorGAN's token_ids, noise, condition_noise),
        each cast to the dtype of the metadata; -> {output name: array}."""
        dtypes = {t["name"]: t["dtype"] for t in self.metadata["inputs"]}
        if sorted(inputs) != sorted(dtypes):
            raise ValueError(f"inputs {sorted(inputs)} given; the model takes {sorted(dtypes)}")
        outputs = self.runner(**{name: np.asarray(value, dtypes[name]) for name, value in inputs.items()})
        return {name: outputs[name] for name in self.output_names}
