"""The record every reader yields, and its TFRecord encoding.

A reader (cub.py, celeba.py, ...) turns a dataset's on-disk layout into `Record`s; `prepare.py`
writes them as sharded TFRecords (`<split>-<shard>-of-<n>.tfrecord`) with `vocab.txt` and
`meta.json` beside them; `pipeline.py` reads them back. The image is stored encoded (PNG/JPEG)
and the captions raw, so tokenization happens in TF with the one spec of `text.py`.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import os
from typing import Callable, Optional, Sequence

import numpy as np

META_FILENAME = "meta.json"
SPLITS = ("train", "test")


@dataclasses.dataclass(frozen=True)
class Record:
    """One image with its captions.

    Attributes:
        key: a unique name, e.g. "001.Black_footed_Albatross/Black_Footed_Albatross_0001_796111".
        captions: the image's captions (at least one after cleaning).
        image_path: the image file, or "" when `load` produces the pixels (DeepFashion's G2.h5).
        bbox: optional (x, y, width, height) in pixels of the object (CUB), cropped as AttnGAN does.
        label: class index, or -1.
        load: optional callable returning uint8 [H, W, 3]; used when there is no image file.
    """

    key: str
    captions: tuple[str, ...]
    image_path: str = ""
    bbox: Optional[tuple[float, float, float, float]] = None
    label: int = -1
    load: Optional[Callable[[], np.ndarray]] = dataclasses.field(default=None, compare=False, repr=False)


def feature_description():
    import tensorflow as tf

    return {
        "key": tf.io.FixedLenFeature([], tf.string),
        "image": tf.io.FixedLenFeature([], tf.string),
        "captions": tf.io.VarLenFeature(tf.string),
        "label": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    }


def serialize(key: str, encoded_image: bytes, captions: Sequence[str], label: int = -1) -> bytes:
    import tensorflow as tf

    def _bytes(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))

    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                "key": _bytes([key.encode("utf-8")]),
                "image": _bytes([encoded_image]),
                "captions": _bytes([c.encode("utf-8") for c in captions]),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
            }
        )
    )
    return example.SerializeToString(deterministic=True)  # byte-identical shards across runs


def parse(serialized):
    """Parses one serialized example to {key, image (encoded bytes), captions [n], label}."""
    import tensorflow as tf

    parsed = tf.io.parse_single_example(serialized, feature_description())
    parsed["captions"] = tf.sparse.to_dense(parsed["captions"], default_value="")
    return parsed


def shard_path(out_dir: str, split: str, shard: int, num_shards: int) -> str:
    return os.path.join(out_dir, f"{split}-{shard:05d}-of-{num_shards:05d}.tfrecord")


def shard_files(prepared_dir: str, split: str) -> list[str]:
    """The TFRecord shards of a split; raises FileNotFoundError explaining how to make them."""
    files = sorted(glob.glob(os.path.join(prepared_dir, f"{split}-*-of-*.tfrecord")))
    if not files:
        raise FileNotFoundError(
            f"No {split} TFRecords in {prepared_dir} (expected {split}-00000-of-NNNNN.tfrecord). "
            "Write them with: python -m mimnet_tf.data.prepare --dataset=NAME --data_dir=DIR "
            f"--out={prepared_dir}"
        )
    return files


def read_meta(prepared_dir: str) -> dict:
    """meta.json of a prepared folder; ValueError naming it when it is not a JSON object."""
    path = os.path.join(prepared_dir, META_FILENAME)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing: {prepared_dir} was not written by mimnet_tf.data.prepare")
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{path} is corrupt ({error}); expected the JSON object mimnet_tf.data.prepare writes") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("counts", {}), dict):
        raise ValueError(f"{path} is corrupt (a JSON {type(meta).__name__} without a counts object); expected the "
                         "JSON object mimnet_tf.data.prepare writes")
    return meta


def unreadable_shards(prepared_dir: str) -> list[tuple[str, str]]:
    """`(shard, what fails)` for every TFRecord shard of `prepared_dir` with a record that does
    not read back (checksum, truncation) or does not parse as a record of this module."""
    import tensorflow as tf

    problems = []
    for split in SPLITS:
        for path in sorted(glob.glob(os.path.join(prepared_dir, f"{split}-*-of-*.tfrecord"))):
            try:
                for serialized in tf.data.TFRecordDataset(path):
                    parse(serialized)
            except tf.errors.OpError as error:
                problems.append((path, str(error).strip().splitlines()[0][:200]))
    return problems
