"""The dataset readers by name, and `read_dataset`, which calls one with a DataConfig's options.

Every reader is `read(data_dir, split, **options) -> ReadResult` (reading.py); see each module
for its on-disk layout. SynthBirds is written in CUB's layout, so it shares CUB's reader.
"""
from __future__ import annotations

from typing import Callable

from mimnet_tf.config import DataConfig
from mimnet_tf.data import celeba, cub, deepfashion, manifest, oxford102
from mimnet_tf.data.reading import ReadResult

__all__ = ["READERS", "ReadResult", "read_dataset", "reader_options"]

READERS: dict[str, Callable[..., ReadResult]] = {
    "cub": cub.read,
    "synthbirds": cub.read,
    "oxford102": oxford102.read,
    "celeba": celeba.read,
    "deepfashion": deepfashion.read,
    "manifest": manifest.read,
}


def reader_options(config: DataConfig) -> dict:
    """The keyword options `read_dataset` passes to the reader of `config.dataset`."""
    if config.dataset == "cub":
        return {"use_bbox": config.use_bbox}
    if config.dataset == "synthbirds":
        # SynthBirds frames its birds already, and its edit cases are aligned to whole images.
        return {"use_bbox": False}
    if config.dataset in ("celeba", "deepfashion"):
        options = {"split_rule": config.split_rule or "official", "split_seed": config.seed}
        if config.dataset == "celeba":
            options["caption_file"] = config.caption_file
        return options
    if config.dataset == "manifest":
        return {"manifest": config.manifest}
    return {}


def read_dataset(config: DataConfig, split: str) -> ReadResult:
    """Reads `split` ("train" or "test") of `config.dataset` from `config.data_dir`.

    Raises:
        ValueError: for an unknown dataset name or split.
        FileNotFoundError: naming the missing path and the expected layout.
    """
    if config.dataset not in READERS:
        raise ValueError(f"--dataset={config.dataset!r}: expected one of {sorted(READERS)}")
    try:
        return READERS[config.dataset](config.data_dir, split, **reader_options(config))
    except FileNotFoundError as error:
        if config.dataset != "synthbirds":
            raise
        raise FileNotFoundError(
            f"{error}. SynthBirds is rendered, not downloaded: write it first with "
            f"`python -m mimnet_tf.data.synthbirds --out={config.data_dir}`"
        ) from None
