"""The serving functions that every export wraps, and the TF image conversions they need.

One forward pass: `run_generator` calls `MIMNetGenerator` once and selects what a user gets back
(the edited image and the localisation map). `edit_tensors_function` wraps it for tensors (the
SavedModel's `edit_tensors`, TFLite, ONNX); `EditModule.edit` wraps the same function with
decoding, tokenization (`mimnet_tf.data.text.tokenize_tf`, core TF ops only) and PNG encoding.

Tensor contract (shared by every format, written into each export's metadata):
- inputs: `image` float32 (batch, S, S, 3) in [-1, 1]; `token_ids` int32 (batch, max_words).
- outputs: `edited_image` float32 (batch, S, S, 3) in [-1, 1]; `localisation_map` float32
  (batch, S/ds, S/ds, 1) in [0, 1].
The `edit` signature: `image_bytes` string (batch,) PNG/JPEG/GIF/BMP of any size and mode,
`text` string (batch,) UTF-8 -> `edited_image_bytes` and `localisation_map_bytes`, PNGs at the
input image's size (names end in `_bytes` so TF Serving's REST API base64-encodes them), and how
each caption was read: `corrected_words` ("typed>word" pairs joined by spaces: typos read as the
nearest vocabulary word) and `unknown_words` (words left unknown, joined by spaces).

The value ranges are `mimnet_tf.images`' (its tensor versions); the TF image functions below
mirror the rest of it (RGB on white, resizing, heat-map colours); tests check them against it.
"""
from __future__ import annotations

import tensorflow as tf

from mimnet_tf.data import text
from mimnet_tf.images import to_model_range_tf, to_pixel_range
from mimnet_tf.inference.exported_model import (  # noqa: F401 - the names every export writes, read as signatures.X
    CORRECTED_WORDS, EDIT, EDIT_TENSORS, EDITED_IMAGE, EDITED_IMAGE_BYTES, IMAGE, IMAGE_BYTES, LOCALISATION_MAP,
    LOCALISATION_MAP_BYTES, SERVE_TAG, SERVING_DEFAULT, TEXT, TOKEN_IDS, UNKNOWN_WORDS)

# The heat-map colour stops of mimnet_tf.images.heat_map (black-blue-red-yellow-white).
_HEAT_STOPS = ((0, 0, 0), (40, 40, 200), (220, 40, 40), (250, 220, 40), (255, 255, 255))


def run_generator(generator, image, token_ids) -> dict:
    """The one inference call of every export: generator dict -> the two served outputs.

    Args:
        generator: a MIMNetGenerator.
        image: float32 (batch, S, S, 3) in [-1, 1].
        token_ids: int32 (batch, max_words).

    Returns:
        dict(edited_image=(batch, S, S, 3) in [-1, 1], localisation_map=(batch, S/ds, S/ds, 1)).
    """
    outputs = generator({IMAGE: image, TOKEN_IDS: token_ids}, training=False)
    return {EDITED_IMAGE: outputs["fine"], LOCALISATION_MAP: outputs["localisation_map"]}


def tensor_specs(image_size: int, max_words: int, batch_size=None) -> list:
    """The input specs [image, token_ids]; `batch_size=None` leaves the batch dynamic."""
    return [
        tf.TensorSpec([batch_size, image_size, image_size, 3], tf.float32, name=IMAGE),
        tf.TensorSpec([batch_size, max_words], tf.int32, name=TOKEN_IDS),
    ]


def edit_tensors_function(generator, image_size: int, max_words: int, batch_size=None):
    """A tf.function (image, token_ids) -> {edited_image, localisation_map} with fixed specs."""

    @tf.function(input_signature=tensor_specs(image_size, max_words, batch_size), autograph=False)
    def edit_tensors(image, token_ids):
        return run_generator(generator, image, token_ids)

    return edit_tensors


# ---- Image conversions in TF (mirrors of mimnet_tf.images) ----


def heat_map_tf(values):
    """(..., H, W) in [0, 1] -> uint8 (..., H, W, 3) heat map (images.heat_map)."""
    stops = tf.constant(_HEAT_STOPS, tf.float32)
    position = tf.clip_by_value(values, 0.0, 1.0) * (len(_HEAT_STOPS) - 1)
    low = tf.clip_by_value(tf.floor(position), 0.0, len(_HEAT_STOPS) - 2)
    frac = (position - low)[..., None]
    low = tf.cast(low, tf.int32)
    colours = tf.gather(stops, low) * (1.0 - frac) + tf.gather(stops, low + 1) * frac
    return tf.cast(tf.round(colours), tf.uint8)


def decode_rgb_tf(encoded):
    """Encoded image bytes (scalar string) -> float32 (H, W, 3) RGB pixels in [0, 255].

    Grey images become RGB and transparency is composited on white, as `images.decode_image`
    does. Unreadable bytes raise InvalidArgumentError ("Unknown image file format").
    """
    image = tf.io.decode_image(encoded, channels=0, expand_animations=False, dtype=tf.uint8)
    image = tf.cast(image, tf.float32)
    channels = tf.shape(image)[-1]
    colour = tf.cond(channels >= 3, lambda: image[..., :3], lambda: tf.tile(image[..., :1], [1, 1, 3]))
    alpha = tf.cond(channels % 2 == 0, lambda: image[..., -1:] / 255.0, lambda: tf.ones_like(image[..., :1]))
    rgb = colour * alpha + 255.0 * (1.0 - alpha)
    rgb.set_shape([None, None, 3])
    return rgb


def resize_pixels_tf(pixels, height, width):
    """float (H, W, C) pixels in [0, 255] -> (height, width, C), rounded and clipped.

    Bicubic with antialiasing: the Keys kernel PIL's BICUBIC uses (images.resize).
    """
    same = tf.logical_and(tf.equal(tf.shape(pixels)[0], height), tf.equal(tf.shape(pixels)[1], width))
    resized = tf.cond(same, lambda: pixels,
                      lambda: tf.image.resize(pixels, tf.stack([height, width]), method="bicubic", antialias=True))
    return tf.clip_by_value(tf.round(resized), 0.0, 255.0)


def tracked_variables(generator) -> dict:
    """The generator's weights as the tf.Variables behind Keras 3's variables, keyed by path.

    A tf.Module must track these (not the Keras variable wrappers): a SavedModel that tracks
    only the wrappers restores in TF2 but not with TF1's loader (TF Serving: "Could not find
    variable"), and the TFLite converter then emits uninitialised READ_VARIABLE ops. Layers kept
    in Python lists are invisible to tf.Module tracking, so each variable is named explicitly.
    """
    variables = {}
    for variable in generator.variables:
        if "seed_generator" in variable.path:  # dropout RNG state: not used at inference
            continue
        value = getattr(variable, "value", variable)
        if not isinstance(value, tf.Variable):
            raise TypeError(f"{variable.path}: expected a tf.Variable behind the Keras variable, got {type(value)}")
        variables[variable.path.replace("/", "__")] = value
    return variables


class TensorModule(tf.Module):
    """The generator's variables and `edit_tensors`: what TFLite and ONNX convert.

    Args:
        generator: a built, restored MIMNetGenerator (closed over by the functions, not tracked).
        image_size: S.
        max_words: caption length the model was trained with.
        batch_size: static batch size, or None for a dynamic batch.
    """

    def __init__(self, generator, image_size: int, max_words: int, batch_size=None, name="mimnet_tensors"):
        super().__init__(name=name)
        self.image_size = image_size
        self.max_words = max_words
        self.generator_variables = tracked_variables(generator)
        self.edit_tensors = edit_tensors_function(generator, image_size, max_words, batch_size)


class EditModule(TensorModule):
    """What the SavedModel holds: the generator's variables, the vocabulary asset, three signatures.

    Args:
        generator: a built, restored MIMNetGenerator.
        vocab_path: the vocabulary file (copied into the SavedModel's assets/).
        image_size: S.
        max_words: caption length the model was trained with.

    `signatures()` -> {"edit", "edit_tensors", "serving_default" (= edit)}.
    """

    def __init__(self, generator, vocab_path: str, image_size: int, max_words: int):
        super().__init__(generator, image_size, max_words, None, name="mimnet_edit")
        # TextFileInitializer tracks its file as a tf.saved_model.Asset: saving copies it to
        # assets/vocab.txt and loading (TF Serving included) initialises the table from there.
        self.table = text.lookup_table(vocab_path)

        def edit(image_bytes, text_input):
            return self._edit(generator, image_bytes, text_input)

        self.edit = tf.function(
            edit,
            input_signature=[tf.TensorSpec([None], tf.string, name=IMAGE_BYTES),
                             tf.TensorSpec([None], tf.string, name=TEXT)],
            autograph=False,
        )

    def read(self, captions):
        """string (batch,) -> (int32 (batch, max_words) ids, corrected words, unknown words) by the
        one spec of text.py (core ops)."""
        return text.read_tf(captions, self.table, self.max_words)

    def _decode(self, encoded):
        size = self.image_size
        rgb = decode_rgb_tf(encoded)
        shape = tf.shape(rgb)[:2]
        resized = resize_pixels_tf(rgb, size, size)
        return to_model_range_tf(tf.ensure_shape(resized, [size, size, 3])), shape

    def _encode(self, edited, localisation_map, shape):
        height, width = shape[0], shape[1]
        pixels = resize_pixels_tf(to_pixel_range(edited), height, width)
        edited_png = tf.io.encode_png(tf.cast(pixels, tf.uint8))
        values = tf.image.resize(localisation_map, tf.stack([height, width]), method="bilinear")
        map_png = tf.io.encode_png(heat_map_tf(values[..., 0]))
        return edited_png, map_png

    def _edit(self, generator, image_bytes, text_input):
        checks = [
            tf.debugging.assert_equal(tf.shape(image_bytes)[0], tf.shape(text_input)[0],
                                      message="image_bytes and text must have the same batch size"),
        ]
        token_ids, corrected, unknown = self.read(text_input)
        has_known_word = tf.reduce_any(token_ids > text.UNK_ID, axis=1)
        checks.append(tf.debugging.Assert(
            tf.reduce_all(has_known_word),
            ["Captions with no word of the model vocabulary (empty, or only unknown words):",
             tf.boolean_mask(text_input, tf.logical_not(has_known_word))]))
        with tf.control_dependencies(checks):
            size = self.image_size
            images, shapes = tf.map_fn(
                self._decode, image_bytes,
                fn_output_signature=(tf.TensorSpec([size, size, 3], tf.float32), tf.TensorSpec([2], tf.int32)))
        outputs = run_generator(generator, images, token_ids)
        edited, maps = tf.map_fn(
            lambda args: self._encode(*args), (outputs[EDITED_IMAGE], outputs[LOCALISATION_MAP], shapes),
            fn_output_signature=(tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.string)))
        return {EDITED_IMAGE_BYTES: edited, LOCALISATION_MAP_BYTES: maps, CORRECTED_WORDS: corrected,
                UNKNOWN_WORDS: unknown}

    def signatures(self) -> dict:
        edit = self.edit.get_concrete_function()
        return {EDIT: edit, EDIT_TENSORS: self.edit_tensors.get_concrete_function(), SERVING_DEFAULT: edit}
