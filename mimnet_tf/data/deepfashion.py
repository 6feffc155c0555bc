"""DeepFashion as released by FashionGAN (Zhu et al., "Be Your Own Prada", ICCV 2017).

Layout of `data_dir` (FashionGAN's data_release, flat or in its benchmark/ and
supervision_signals/ folders):

    language_original.mat   engJ: one English description per image (a cell array of char);
                            nameList: the image names; cate_new: the clothing category (1-based)
    G2.h5                   ih: the images minus their mean, float, stored by MATLAB as
                            (N, 3, W, H) in [0, 1] after adding ih_mean (3, W, H); b_: parsing maps
    ind.mat                 train_ind, test_ind: 1-based image indices (optional)

FashionGAN's own Lua code reads ih with `permute(1, 2, 4, 3)`: the last two stored axes are
(width, height). The images live in G2.h5, so records carry a `load` callable (`G2Image`).
Split: ind.mat's train_ind / test_ind when present (70,000 / 8,979), else a seeded 80/20 split
(63,183 / 15,796: the counts of the MIM-Net paper); `split_rule="random"` forces the latter.
"""
from __future__ import annotations

import os
import threading

import numpy as np

from mimnet_tf.data import matlab, reading

LAYOUT = (
    "FashionGAN's language_original.mat (engJ, nameList) and G2.h5 (ih, ih_mean), optionally ind.mat "
    "(train_ind, test_ind), in <data_dir> or its benchmark/ and supervision_signals/ folders"
)
SPLIT_RULES = ("official", "random")
_FOLDERS = ("", "benchmark", "supervision_signals", "test_phase_inputs", "data_release/benchmark",
            "data_release/supervision_signals", "data_release/test_phase_inputs")

_OPEN_FILES: dict[tuple, tuple] = {}
_OPEN_LOCK = threading.Lock()


def _candidates(data_dir: str, name: str) -> list[str]:
    return [os.path.join(data_dir, folder, name) for folder in _FOLDERS]


def _g2(path: str):
    """(h5py file, mean as float32 [3, W, H] or [H, W, 3], channels-first?, scale), once per process."""
    key = (os.path.abspath(path), os.stat(path).st_mtime_ns)  # a rewritten file is opened again
    with _OPEN_LOCK:
        if key not in _OPEN_FILES:
            import h5py

            handle = h5py.File(path, "r")
            for name in ("ih", "ih_mean"):
                if name not in handle:
                    raise ValueError(f"{path} has no dataset {name!r}: expected {LAYOUT}")
            images = handle["ih"]
            if images.ndim != 4 or 3 not in (images.shape[1], images.shape[3]):
                raise ValueError(f"{path}: ih has shape {images.shape}; expected (N, 3, W, H) as FashionGAN stores it")
            channels_first = images.shape[1] == 3
            mean = np.asarray(handle["ih_mean"], dtype=np.float32).reshape(images.shape[1:])
            scale = 255.0 if float(np.max(mean)) <= 2.0 else 1.0  # FashionGAN's range is [0, 1]
            _OPEN_FILES[key] = (handle, mean, channels_first, scale)
        return _OPEN_FILES[key]


class G2Image:
    """Loads image `index` of G2.h5 as uint8 [H, W, 3]: round(clip(ih + ih_mean, 0, 1) * 255).

    Picklable (a path and an index), so `prepare` can hand it to worker processes; each process
    opens the file once.
    """

    def __init__(self, path: str, index: int):
        self.path = path
        self.index = int(index)

    def __call__(self) -> np.ndarray:
        handle, mean, channels_first, scale = _g2(self.path)
        pixels = np.asarray(handle["ih"][self.index], dtype=np.float32) + mean
        if channels_first:
            pixels = pixels.transpose(2, 1, 0)  # (3, W, H) -> (H, W, 3)
        return np.clip(np.round(pixels * scale), 0, 255).astype(np.uint8)

    def __repr__(self) -> str:
        return f"G2Image({self.path!r}, {self.index})"


def read(data_dir: str, split: str, split_rule: str = "official", split_seed: int = 0, test_fraction: float = 0.2):
    """Reads one split of FashionGAN's DeepFashion.

    Args:
        data_dir: the folder holding language_original.mat and G2.h5 (see the module docstring).
        split: "train" or "test".
        split_rule: "official" (ind.mat when present, else the seeded split) or "random".
        split_seed, test_fraction: the seeded split.

    Returns:
        A `ReadResult` in index order; keys are the nameList names without extension (or the
        1-based index when there is no nameList), labels cate_new - 1 when present.
    """
    reading.check_split(split)
    if split_rule not in SPLIT_RULES:
        raise ValueError(f"split_rule={split_rule!r}: expected one of {SPLIT_RULES}")
    reading.require_dir(data_dir, LAYOUT)
    language_path = reading.find_required(_candidates(data_dir, "language_original.mat"), LAYOUT)
    g2_path = reading.find_required(_candidates(data_dir, "G2.h5"), LAYOUT)
    with matlab.MatFile(language_path) as language:
        captions = language.strings("engJ")
        names = language.strings("nameList") if "nameList" in language else []
        categories = language.numbers("cate_new").astype(int) - 1 if "cate_new" in language else []
    count = _g2(g2_path)[0]["ih"].shape[0]
    if count != len(captions):
        raise ValueError(f"{g2_path} holds {count} images but {language_path} has {len(captions)} captions (engJ)")

    index_path = reading.first_existing(_candidates(data_dir, "ind.mat"))
    if split_rule == "official" and index_path:
        rule = "fashiongan-ind"
        with matlab.MatFile(index_path) as index_file:
            members = index_file.numbers("train_ind" if split == "train" else "test_ind").astype(int) - 1
        bad = members[(members < 0) | (members >= count)]
        if bad.size:
            raise ValueError(f"{index_path}: index {int(bad[0]) + 1} is outside 1..{count}")
    else:
        rule = f"random-{1 - test_fraction:.0%}"
        is_test = reading.seeded_test_mask(count, test_fraction, split_seed)
        members = np.flatnonzero(is_test if split == "test" else ~is_test)

    collector = reading.RecordCollector(split_rule=rule)
    if split_rule == "official" and not index_path:
        collector.report(f"no ind.mat in {data_dir}: using the seeded {1 - test_fraction:.0%} split")
    for index in sorted(int(i) for i in members):
        key = os.path.splitext(names[index])[0] if names else f"{index + 1:05d}"
        label = int(categories[index]) if len(categories) else -1
        collector.add(key, [captions[index]], load=G2Image(g2_path, index), label=label)
    return collector.result()
