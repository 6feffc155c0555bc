"""Any dataset reader -> sharded TFRecords, vocab.txt and meta.json (what pipeline.py reads).

For each split, every image is decoded (grey, palette and RGBA become RGB), cropped
(cropping.py: AttnGAN's box crop for CUB, then the centred square), resized to the square
`config.resolved_load_size`, and stored as PNG up to 128 px (lossless) or JPEG quality 95 above.
A corrupt, truncated or missing image is skipped and counted, or with `config.strict` raises
ImageError naming it. The vocabulary comes from the training captions only. The output is
byte-identical for the same input and config: the training records are shuffled with
`config.seed`, and examples are serialized deterministically.

Usage:
    python -m mimnet_tf.data.prepare --dataset=cub --data_dir=data/birds --out=data/birds/prepared
"""
from __future__ import annotations

import glob
import io
import json
import multiprocessing
import os
import sys
from typing import Iterator

import numpy as np
from absl import app, flags
from PIL import Image
from tqdm import tqdm

from mimnet_tf import flags as mimnet_flags
from mimnet_tf import images
from mimnet_tf.config import DataConfig
from mimnet_tf.data import cropping, records, text
from mimnet_tf.data.readers import read_dataset

PNG_MAX_SIZE = 128  # PNG (lossless) up to this side, JPEG above: 64-128 px PNGs stay small
JPEG_QUALITY = 95
PARALLEL_MIN_RECORDS = 256  # below this, starting worker processes costs more than it saves
MAX_PROBLEMS_IN_META = 100


def encode_for_storage(image: np.ndarray) -> bytes:
    """uint8 [S, S, 3] -> PNG bytes when S <= 128, else JPEG (quality 95, no chroma subsampling)."""
    if max(image.shape[:2]) <= PNG_MAX_SIZE:
        return images.encode_png(image)
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    return buffer.getvalue()


def process_record(record: records.Record, size: int) -> bytes:
    """Loads, crops, resizes to [size, size] and encodes one record's image.

    Raises:
        images.ImageError: naming the file (or the key) when the image cannot be used.
    """
    if record.load is not None:
        try:
            pixels = np.asarray(record.load(), dtype=np.uint8)
        except Exception as error:  # whatever the loader's storage raises, it is this image's problem
            raise images.ImageError(f"{record.key}: could not load the image ({error})") from None
        if pixels.ndim != 3 or pixels.shape[2] != 3:
            raise images.ImageError(f"{record.key}: the loader gave shape {pixels.shape}; expected [H, W, 3]")
    else:
        pixels = images.load_image(record.image_path)
    try:
        pixels = cropping.crop_for_training(pixels, record.bbox)
    except ValueError as error:
        raise images.ImageError(f"{record.image_path or record.key}: {error}") from None
    return encode_for_storage(images.resize(np.ascontiguousarray(pixels), size))


def _process_or_report(item: tuple[records.Record, int]) -> tuple[bool, object]:
    """Worker entry: (True, encoded bytes) or (False, the ImageError message)."""
    record, size = item
    try:
        return True, process_record(record, size)
    except images.ImageError as error:
        return False, str(error)


def _processed(items: list, size: int, workers: int, progress_bar) -> Iterator[tuple[bool, object]]:
    """`_process_or_report` over the records in order, in `workers` processes for large splits."""
    jobs = ((record, size) for record in items)
    if workers > 1 and len(items) >= PARALLEL_MIN_RECORDS:
        # "spawn": the parent may hold TensorFlow threads, which forked children must not inherit.
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for outcome in pool.imap(_process_or_report, jobs, chunksize=32):
                progress_bar.update(1)
                yield outcome
    else:
        for job in jobs:
            outcome = _process_or_report(job)
            progress_bar.update(1)
            yield outcome


def _remove_shards(out_dir: str, split: str, suffix: str = "") -> None:
    for path in glob.glob(os.path.join(out_dir, f"{split}-*-of-*.tfrecord{suffix}")):
        os.remove(path)


def _write_split(config, split, items, out_dir, size, workers, progress):
    """Writes one split's shards.

    Returns:
        (the written (key, captions) in order, the unreadable-image count, problem lines, shard count).
    """
    import tensorflow as tf

    num_shards = max(1, min(config.num_shards, len(items)))
    final_paths = [records.shard_path(out_dir, split, i, num_shards) for i in range(num_shards)]
    _remove_shards(out_dir, split, ".tmp")
    writers = [tf.io.TFRecordWriter(path + ".tmp") for path in final_paths]
    written, problems, unreadable = [], [], 0
    try:
        with tqdm(total=len(items), desc=f"{config.dataset} {split}", unit="img", disable=not progress) as bar:
            for record, (ok, payload) in zip(items, _processed(items, size, workers, bar)):
                if not ok:
                    if config.strict:
                        raise images.ImageError(f"{payload} (--strict: a bad image is an error)")
                    unreadable += 1
                    problems.append(f"{payload}: skipped")
                    continue
                example = records.serialize(record.key, payload, record.captions, record.label)
                writers[len(written) % num_shards].write(example)
                written.append((record.key, record.captions))
    except BaseException:
        for writer in writers:
            writer.close()
        _remove_shards(out_dir, split, ".tmp")
        raise
    for writer in writers:
        writer.close()
    _remove_shards(out_dir, split)  # earlier runs may have used another shard count
    for path in final_paths:
        os.replace(path + ".tmp", path)
    return written, unreadable, problems, num_shards


def prepare(config: DataConfig, out_dir: str, progress: bool = True, workers: int = 2) -> dict:
    """Reads both splits of `config.dataset` and writes them to `out_dir` as TFRecords.

    Args:
        config: which dataset and where (`dataset`, `data_dir`, `manifest`, `caption_file`,
            `use_bbox`), the stored size (`resolved_load_size`), `num_shards`, `strict`,
            `min_word_count` and `seed` (the order of the training records).
        out_dir: the folder for `<split>-NNNNN-of-NNNNN.tfrecord`, vocab.txt and meta.json.
        progress: show a tqdm progress bar per split.
        workers: processes decoding and resizing images (used for splits of 256+ images).

    Returns:
        The meta.json content: dataset, image_size (stored), counts per split (images, captions,
        skipped_images, unreadable_images, dropped_captions, split_rule), vocab_size, problems.

    Raises:
        FileNotFoundError: the data directory or a required file is missing.
        ValueError: no usable training image, or a malformed dataset file.
        images.ImageError: with `config.strict`, the first unusable image.
    """
    size = config.resolved_load_size
    results = {split: read_dataset(config, split) for split in records.SPLITS}
    if not results["train"].records:
        raise ValueError(
            f"{config.dataset} in {config.data_dir}: no usable training image "
            f"({results['train'].skipped_images} skipped); problems: {results['train'].problems[:3]}"
        )
    os.makedirs(out_dir, exist_ok=True)
    counts, problems, shards, written_by_split = {}, [], {}, {}
    for split in records.SPLITS:
        result = results[split]
        items = list(result.records)
        if split == "train":  # readers list records by class: spread classes over shards
            items = [items[i] for i in np.random.default_rng(config.seed).permutation(len(items))]
        written, unreadable, decode_problems, shards[split] = _write_split(
            config, split, items, out_dir, size, workers, progress
        )
        written_by_split[split] = written
        problems += [f"{split}: {line}" for line in result.problems + decode_problems]
        if not written:
            problems.append(f"{split}: the split is empty")
        counts[split] = {
            "images": len(written),
            "captions": sum(len(captions) for _, captions in written),
            "skipped_images": result.skipped_images + unreadable,
            "unreadable_images": unreadable,
            "dropped_captions": result.dropped_captions,
            "split_rule": result.split_rule,
        }
    vocab = text.Vocabulary.build(
        (c for _, captions in written_by_split["train"] for c in captions), min_count=config.min_word_count
    )
    vocab.save(os.path.join(out_dir, text.VOCAB_FILENAME))
    meta = {
        "dataset": config.dataset,
        "data_dir": config.data_dir,
        "image_size": size,
        "target_image_size": config.image_size,
        "image_format": "png" if size <= PNG_MAX_SIZE else "jpeg",
        "num_shards": shards,
        "counts": counts,
        "vocab_size": len(vocab),
        "min_word_count": config.min_word_count,
        "num_problems": len(problems),
        "problems": problems[:MAX_PROBLEMS_IN_META],
    }
    with open(os.path.join(out_dir, records.META_FILENAME), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
    return meta


def summary(meta: dict, out_dir: str) -> str:
    """The few lines the entry point prints after `prepare`."""
    train, test = meta["counts"]["train"], meta["counts"]["test"]
    return "\n".join([
        f"{meta['dataset']}: {train['images']} train / {test['images']} test images "
        f"({train['captions']} / {test['captions']} captions), stored at {meta['image_size']} px in {out_dir}",
        f"vocabulary: {meta['vocab_size']} words (from the training captions)",
        f"skipped: {train['skipped_images']} / {test['skipped_images']} images, "
        f"dropped {train['dropped_captions']} / {test['dropped_captions']} captions"
        + (f"; {meta['num_problems']} problems listed in meta.json" if meta["num_problems"] else ""),
    ])


# ----------------------------------------------------------------------------- entry point
# Flags are defined when the entry point runs, not at import: other entry points (train) import
# this module as a library. Every run-config flag is accepted, so a training flagfile works here.


def _define_flags() -> None:
    mimnet_flags.define_flags()
    flags.DEFINE_string("out", "", "Output folder; empty means --prepared_dir, or <data_dir>/prepared.")
    flags.DEFINE_integer("workers", 2, "Processes decoding and resizing images.")


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    values = flags.FLAGS
    try:
        config = mimnet_flags.config_from_flags(values).data
        out_dir = values.out or config.resolved_prepared_dir
        meta = prepare(config, out_dir, progress=values.progress, workers=values.workers)
    except (FileNotFoundError, ValueError) as error:  # ImageError is a ValueError
        print(f"prepare: {error}", file=sys.stderr)
        sys.exit(2)
    print(summary(meta, out_dir))


def run() -> None:
    """Console script `mimnet-prepare`."""
    _define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
