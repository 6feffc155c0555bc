"""The text-to-image serving functions of a MirrorGAN SavedModel: `generate` and `generate_tensors`.

`GenerateModule` holds the MirrorGAN generator's variables and the vocabulary asset (the same
`signatures.tracked_variables` and `text.lookup_table` as MIM-Net's `EditModule`, so TF Serving
loads it the same way); `GenerateTensorsModule`, its base, holds only the variables and
`generate_tensors` (static or dynamic batch): what the TFLite and ONNX exports convert. Signatures:
- `generate`: `text` string (batch,) UTF-8 -> `generated_image_bytes` string (batch,), PNGs of
  S x S. The noise of row i is a stateless draw keyed by (fingerprint of the text, i): the same
  request gives the same images, and a caption repeated within a request gives different birds.
- `generate_tensors`: `token_ids` int32 (batch, max_words), `noise` float32 (batch, noise_dim),
  `condition_noise` float32 (batch, condition_dim) -> `generated_image` float32 (batch, S, S, 3)
  in [-1, 1] (the tensor contract, for parity tests and other runtimes).
- `serving_default` = `generate`.
"""
from __future__ import annotations

import tensorflow as tf

from mimnet_tf.export import signatures
from mimnet_tf.data import text
from mimnet_tf.images import to_uint8_tf

GENERATE = "generate"
GENERATE_TENSORS = "generate_tensors"
TEXT = "text"
TOKEN_IDS = "token_ids"
NOISE = "noise"
CONDITION_NOISE = "condition_noise"
GENERATED_IMAGE = "generated_image"
GENERATED_IMAGE_BYTES = "generated_image_bytes"
_SEED_RANGE = 2**31 - 1


def row_noise(texts, noise_dim: int, condition_dim: int):
    """(z (batch, noise_dim), eps (batch, condition_dim)) keyed by (fingerprint of each text, row index)."""
    fingerprints = tf.cast(tf.strings.to_hash_bucket_fast(texts, _SEED_RANGE), tf.int32)
    rows = tf.range(tf.shape(texts)[0], dtype=tf.int32)
    seeds = tf.stack([fingerprints, rows], axis=1)

    def draw(seed):
        return (tf.random.stateless_normal([noise_dim], seed),
                tf.random.stateless_normal([condition_dim], tf.stack([seed[0], seed[1] + _SEED_RANGE // 2])))

    return tf.map_fn(draw, seeds, fn_output_signature=(tf.TensorSpec([noise_dim], tf.float32),
                                                        tf.TensorSpec([condition_dim], tf.float32)))


def tensor_specs(max_words: int, noise_dim: int, condition_dim: int, batch_size=None) -> list:
    """The input specs [token_ids, noise, condition_noise]; `batch_size=None` leaves the batch dynamic."""
    return [tf.TensorSpec([batch_size, max_words], tf.int32, name=TOKEN_IDS),
            tf.TensorSpec([batch_size, noise_dim], tf.float32, name=NOISE),
            tf.TensorSpec([batch_size, condition_dim], tf.float32, name=CONDITION_NOISE)]


def run_generator(generator, token_ids, noise, condition_noise) -> dict:
    """The one inference call of every MirrorGAN export: {generated_image (batch, S, S, 3) in [-1, 1]}."""
    outputs = generator({TOKEN_IDS: token_ids, NOISE: noise, CONDITION_NOISE: condition_noise}, training=False)
    return {GENERATED_IMAGE: tf.cast(outputs["image"], tf.float32)}


class GenerateTensorsModule(tf.Module):
    """The generator's variables and `generate_tensors`: what TFLite and ONNX convert.

    Args:
        generator: a built, restored MirrorGANGenerator (closed over by the functions, not tracked).
        max_words: caption length the model was trained with.
        batch_size: static batch size (TFLite), or None for a dynamic batch.
    """

    def __init__(self, generator, max_words: int, batch_size=None, name="mirrorgan_tensors"):
        super().__init__(name=name)
        self.image_size = generator.image_size
        self.max_words = max_words
        self.noise_dim = generator.noise_dim
        self.condition_dim = generator.condition_dim
        self.generator_variables = signatures.tracked_variables(generator)
        self.generate_tensors = tf.function(
            lambda token_ids, noise, condition_noise: run_generator(generator, token_ids, noise, condition_noise),
            input_signature=tensor_specs(max_words, self.noise_dim, self.condition_dim, batch_size), autograph=False)


class GenerateModule(GenerateTensorsModule):
    """What a MirrorGAN SavedModel holds: generator variables, vocabulary asset, the signatures above.

    Args:
        generator: a built, restored MirrorGANGenerator (closed over by the functions, not tracked).
        vocab_path: the vocabulary file (copied into the SavedModel's assets/).
        max_words: caption length the model was trained with.
    """

    def __init__(self, generator, vocab_path: str, max_words: int, name="mirrorgan_generate"):
        super().__init__(generator, max_words, None, name=name)
        self.table = text.lookup_table(vocab_path)
        self._run = lambda *inputs: run_generator(generator, *inputs)[GENERATED_IMAGE]
        self.generate = tf.function(self._generate, input_signature=[tf.TensorSpec([None], tf.string, name=TEXT)],
                                    autograph=False)

    def _generate(self, texts):
        token_ids = text.tokenize_tf(texts, self.table, self.max_words, splitter="core")
        has_known_word = tf.reduce_any(token_ids > text.UNK_ID, axis=1)
        check = tf.debugging.Assert(
            tf.reduce_all(has_known_word),
            ["Captions with no word of the model vocabulary (empty, or only unknown words):",
             tf.boolean_mask(texts, tf.logical_not(has_known_word))])
        with tf.control_dependencies([check]):
            noise, condition_noise = row_noise(texts, self.noise_dim, self.condition_dim)
        images = to_uint8_tf(self._run(token_ids, noise, condition_noise))
        pngs = tf.map_fn(tf.io.encode_png, images, fn_output_signature=tf.TensorSpec([], tf.string))
        return {GENERATED_IMAGE_BYTES: pngs}

    def signatures(self) -> dict:
        generate = self.generate.get_concrete_function()
        return {GENERATE: generate, GENERATE_TENSORS: self.generate_tensors.get_concrete_function(),
                signatures.SERVING_DEFAULT: generate}


def export_generate_saved_model(generator, vocab_path: str, max_words: int, out_dir: str) -> str:
    """Saves a `GenerateModule` of `generator` as a SavedModel in `out_dir`; returns out_dir."""
    module = GenerateModule(generator, vocab_path, max_words)
    tf.saved_model.save(module, out_dir, signatures=module.signatures())
    return out_dir
