"""tf.data input pipeline: TFRecords -> batches of images, token ids and mismatched token ids.

Training order and augmentation are a pure function of (seed, position in the stream), so a run
that resumes at step k reads exactly the batches an uninterrupted run reads from step k on (no
iterator state needs checkpointing): the records are shuffled by a seeded buffer reshuffled each
epoch (the same sequence in every run), and every example's crop, flip and caption choice use
stateless random ops keyed by (seed, position).

Batch layout (a dict):
- image: float32 (batch, S, S, 3) in [-1, 1]
- token_ids: int32 (batch, max_words), a caption of the image (in training, with
  `unknown_word_rate`, some words read as `<unk>` and some `<unk>` inserted, so the model learns
  to read past words it does not know, as in a user's request)
- mismatched_token_ids: int32 (batch, max_words), a caption of another image of the batch
- caption, mismatched_caption: the raw strings; key: string; label: int64
"""
from __future__ import annotations

import os

import tensorflow as tf

from mimnet_tf.config import DataConfig
from mimnet_tf.data import records, text
from mimnet_tf.images import to_model_range_tf

AUTOTUNE = tf.data.AUTOTUNE


def vocab_path(config: DataConfig) -> str:
    path = os.path.join(config.resolved_prepared_dir, text.VOCAB_FILENAME)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"Vocabulary file not found: {path}. Prepare the data first: python -m mimnet_tf.data.prepare "
            f"--dataset={config.dataset} --data_dir={config.data_dir} --out={config.resolved_prepared_dir}"
        )
    return path


def count_examples(config: DataConfig, split: str) -> int:
    """Images in a split, from meta.json when it has the count, else by reading the shards."""
    try:
        meta = records.read_meta(config.resolved_prepared_dir)
        count = meta.get("counts", {}).get(split, {}).get("images")
        if count is not None:
            return int(count)
    except FileNotFoundError:
        pass
    files = records.shard_files(config.resolved_prepared_dir, split)
    return int(tf.data.TFRecordDataset(files).reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))


def _stateless_seed(seed: int, position, salt: int):
    """A (2,) int32 stateless seed from (seed, position in the stream, salt)."""
    mixed = tf.cast(position, tf.int64) * 8 + salt
    return tf.cast(tf.stack([tf.cast(seed, tf.int64) % 2_147_483_647, mixed % 2_147_483_647]), tf.int32)


def decode_example(serialized, config: DataConfig, training: bool, position=0):
    """One serialized record -> dict(image, caption, other_caption, key, label)."""
    parsed = records.parse(serialized)
    image = tf.io.decode_image(parsed["image"], channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    image = tf.cast(image, tf.float32)
    size = config.image_size
    load = config.resolved_load_size if training else size
    # A stored image of another size (a user's own records) is resized, never an error.
    image = tf.image.resize(image, [load, load], antialias=True)
    if training and config.random_crop and load > size:
        image = tf.image.stateless_random_crop(image, [size, size, 3], _stateless_seed(config.seed, position, 1))
    elif load != size:
        image = tf.image.resize(image, [size, size], antialias=True)
    if training and config.random_flip:
        image = tf.image.stateless_random_flip_left_right(image, _stateless_seed(config.seed, position, 2))
    image = tf.clip_by_value(to_model_range_tf(image), -1.0, 1.0)
    image.set_shape([size, size, 3])

    captions = parsed["captions"]
    count = tf.shape(captions)[0]
    if training:
        choice = tf.random.stateless_uniform([2], _stateless_seed(config.seed, position, 3),
                                             minval=0, maxval=count, dtype=tf.int32)
    else:
        choice = tf.stack([0, tf.minimum(1, count - 1)])
    return {
        "image": image,
        "caption": captions[choice[0]],
        "other_caption": captions[choice[1]],
        "key": parsed["key"],
        "label": parsed["label"],
        "position": tf.cast(position, tf.int64),
    }


def unknown_word_noise(ids, rate: float, seed):
    """Ragged int ids (batch, words) -> the same with each word read as `<unk>` with probability
    rate / 2 and an `<unk>` inserted before it with probability rate / 2 (stateless in `seed`)."""
    draws = tf.random.stateless_uniform(tf.stack([tf.size(ids.flat_values, out_type=tf.int32), 2]), seed)
    values = tf.where(draws[:, 0] < rate / 2, tf.cast(text.UNK_ID, ids.dtype), ids.flat_values)
    inserted = draws[:, 1] < rate / 2
    pairs = tf.stack([tf.fill(tf.shape(values), tf.cast(text.UNK_ID, ids.dtype)), values], axis=1)
    keep = tf.stack([inserted, tf.ones_like(inserted)], axis=1)
    flat = tf.boolean_mask(pairs, keep)
    row_of_word = ids.value_rowids()
    extra = tf.math.unsorted_segment_sum(tf.cast(inserted, tf.int64), row_of_word, ids.nrows())
    return tf.RaggedTensor.from_row_lengths(flat, ids.row_lengths() + extra)


def _tokenize_batch(batch, table, max_words: int, splitter: str, unknown_word_rate: float = 0.0, seed: int = 0):
    captions = batch.pop("caption")
    other = batch.pop("other_caption")
    position = batch.pop("position", None)
    # Another image's caption: the batch rolled by one (each batch has >= 2 examples).
    mismatched = tf.roll(other, shift=1, axis=0)
    batch["caption"] = captions
    batch["mismatched_caption"] = mismatched
    if unknown_word_rate > 0 and position is not None:
        ids = text.word_ids_tf(captions, table, 10 * max_words, splitter)
        ids = unknown_word_noise(ids, unknown_word_rate, _stateless_seed(seed, position[0], 4))[:, :max_words]
        batch["token_ids"] = text.padded_ids_tf(ids, max_words)
    else:
        batch["token_ids"] = text.tokenize_tf(captions, table, max_words, splitter)
    batch["mismatched_token_ids"] = text.tokenize_tf(mismatched, table, max_words, splitter)
    return batch


def make_dataset(config: DataConfig, split: str = "train", training: bool = True, batch_size: int = 0,
                 start_step: int = 0, splitter: str = "tf_text") -> tf.data.Dataset:
    """Batches from the prepared TFRecords.

    Args:
        config: the data configuration (prepared_dir, image size, augmentation, seed).
        split: "train" or "test".
        training: shuffle + augment + repeat forever (True), or one deterministic pass (False).
        batch_size: the global batch size (default `config.batch_size`).
        start_step: training resumes at this step: skips exactly the batches already consumed.
        splitter: tokenizer splitter ("tf_text" in training, "core" as in the SavedModel).
    """
    batch_size = batch_size or config.batch_size
    if training and batch_size < 2:
        raise ValueError(f"batch_size={batch_size}: training needs >= 2 examples per batch (mismatched captions)")
    files = records.shard_files(config.resolved_prepared_dir, split)
    table = text.lookup_table(vocab_path(config))
    max_words = config.max_words

    if not training:
        ds = tf.data.TFRecordDataset(files)
        ds = ds.map(lambda s: decode_example(s, config, False), num_parallel_calls=AUTOTUNE, deterministic=True)
        ds = ds.batch(batch_size)
        ds = ds.map(lambda b: _tokenize_batch(b, table, max_words, splitter), num_parallel_calls=AUTOTUNE)
        return ds.prefetch(AUTOTUNE)

    examples = count_examples(config, split)
    if examples < batch_size:
        raise ValueError(f"The {split} split has {examples} images, fewer than one batch of {batch_size}")
    # A seeded shuffle reshuffled every epoch is the same sequence in every run; resuming skips
    # the records already consumed before decoding them (reading is cheap, decoding is not).
    ds = tf.data.TFRecordDataset(files)
    ds = ds.shuffle(min(config.shuffle_buffer, examples), seed=config.seed, reshuffle_each_iteration=True)
    ds = ds.repeat().enumerate().skip(int(start_step) * batch_size)
    ds = ds.map(lambda position, s: decode_example(s, config, True, position),
                num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=True)
    ds = ds.map(lambda b: _tokenize_batch(b, table, max_words, splitter, config.unknown_word_rate, config.seed),
                num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.prefetch(AUTOTUNE)


def steps_per_epoch(config: DataConfig, batch_size: int = 0) -> int:
    return count_examples(config, "train") // (batch_size or config.batch_size)
