"""What every dataset reader shares: its result, the caption rule, layout errors, the seeded split.

A reader turns one on-disk layout into `Record`s (records.py) through a `RecordCollector`, so
that every dataset cleans captions the same way and reports what it dropped in the same words.

Caption rule: white space is collapsed and stripped; a caption with no word made of `a-z0-9`
(by the tokenizer spec of text.py: an empty string, "...", "???") is dropped and reported with
the image key; an image left with no caption is skipped and reported.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from mimnet_tf.data import text
from mimnet_tf.data.records import SPLITS, Record


@dataclasses.dataclass
class ReadResult:
    """The records of one split and what went wrong while reading them.

    Attributes:
        records: the usable records, in a deterministic order.
        problems: human-readable lines (dropped captions, skipped images, missing files).
        dropped_captions: how many captions were dropped by the caption rule.
        skipped_images: how many images were skipped (no usable caption, missing file, ...).
        split_rule: which rule decided the split (e.g. "tagan-classes"), for meta.json.
    """

    records: list[Record]
    problems: list[str]
    dropped_captions: int = 0
    skipped_images: int = 0
    split_rule: str = ""


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: expected one of {SPLITS}")


def clean_caption(caption: str) -> Optional[str]:
    """Returns the caption with white space collapsed, or None when it has no usable word."""
    cleaned = " ".join(str(caption).replace("\ufffd", " ").split())
    return cleaned if text.split_words(cleaned) else None


def require_dir(path: str, layout: str) -> str:
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path} is not a directory: expected {layout}")
    return path


def require_file(path: str, layout: str) -> str:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: expected {layout}")
    return path


def first_existing(candidates: Iterable[str], is_dir: bool = False) -> Optional[str]:
    """The first candidate path that exists (as a directory when `is_dir`), or None."""
    check = os.path.isdir if is_dir else os.path.isfile
    for path in candidates:
        if check(path):
            return path
    return None


def find_required(candidates: Sequence[str], layout: str, is_dir: bool = False) -> str:
    """Like `first_existing`, but raises FileNotFoundError naming every place looked at."""
    found = first_existing(candidates, is_dir=is_dir)
    if found is None:
        raise FileNotFoundError(f"{' or '.join(candidates)} not found: expected {layout}")
    return found


def read_lines(path: str) -> list[str]:
    """The non-blank lines of a text file, stripped (undecodable bytes become U+FFFD)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return [line.strip() for line in f if line.strip()]


def seeded_test_mask(count: int, test_fraction: float, seed: int) -> np.ndarray:
    """Bool [count]: which items go to the test split, a fixed seeded draw.

    round((1 - test_fraction) * count) items train (DeepFashion: 63,183 of 78,979 at 0.2),
    keeping at least one item in each split when there are two or more.
    """
    num_train = int(round((1.0 - test_fraction) * count))
    if count >= 2:
        num_train = min(max(num_train, 1), count - 1)
    order = np.random.default_rng(seed).permutation(count)
    mask = np.zeros((count,), dtype=bool)
    mask[order[num_train:]] = True
    return mask


class RecordCollector:
    """Accumulates the records of one split, applying the caption rule and reporting problems.

    Example:
        >>> collector = RecordCollector()
        >>> collector.add("a", ["a red bird", "..."], image_path="", check_file=False)
        True
        >>> collector.result().dropped_captions
        1
    """

    def __init__(self, split_rule: str = ""):
        self._records: list[Record] = []
        self._keys: set[str] = set()
        self._problems: list[str] = []
        self._dropped = 0
        self._skipped = 0
        self.split_rule = split_rule

    def report(self, line: str) -> None:
        self._problems.append(line)

    def skip(self, key: str, reason: str) -> None:
        self._skipped += 1
        self._problems.append(f"{key}: skipped, {reason}")

    def skip_many(self, count: int, line: str) -> None:
        """Counts `count` skipped images under one summary line (e.g. CelebA's uncaptioned ones)."""
        self._skipped += count
        self._problems.append(f"skipped: {line}")

    def add(
        self,
        key: str,
        captions: Iterable[str],
        image_path: str = "",
        bbox: Optional[tuple[float, float, float, float]] = None,
        label: int = -1,
        load: Optional[Callable[[], np.ndarray]] = None,
        check_file: bool = True,
        max_captions: int = 0,
    ) -> bool:
        """Cleans the captions and adds the record; returns False when the image is skipped.

        `max_captions` > 0 keeps the first N usable captions (AttnGAN reads 10 per CUB image).
        """
        if key in self._keys:
            self.skip(key, "the key appears twice (the first one is kept)")
            return False
        kept = []
        for caption in captions:
            cleaned = clean_caption(caption)
            if cleaned is None:
                self._dropped += 1
                self._problems.append(f"{key}: dropped caption {caption!r} (no word made of letters or digits)")
            else:
                kept.append(cleaned)
        if max_captions:
            kept = kept[:max_captions]
        if not kept:
            self.skip(key, "no usable caption")
            return False
        if check_file and load is None and not os.path.isfile(image_path):
            self.skip(key, f"image file missing: {image_path}")
            return False
        self._keys.add(key)
        self._records.append(Record(key, tuple(kept), image_path, bbox, label, load))
        return True

    def result(self) -> ReadResult:
        return ReadResult(list(self._records), list(self._problems), self._dropped, self._skipped, self.split_rule)
