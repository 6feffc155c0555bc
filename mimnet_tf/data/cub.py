"""CUB-200-2011 with Reed et al.'s captions; SynthBirds is written in the same layout.

Layout of `data_dir` (CUB's own files, Reed et al.'s text_c10, and optionally a split file):

    CUB_200_2011/images.txt              "<id> <class>/<name>.<ext>" (.jpg for CUB, .png for SynthBirds)
    CUB_200_2011/images/<class>/<name>.<ext>
    CUB_200_2011/bounding_boxes.txt      "<id> <x> <y> <width> <height>" in pixels (needed with use_bbox)
    CUB_200_2011/train_test_split.txt    "<id> <1: train, 0: test>"
    CUB_200_2011/image_class_labels.txt  "<id> <class id from 1>" (optional: the record labels)
    text_c10/<class>/<name>.txt          one caption a line, 10 per image (AttnGAN calls it text/)

The split is the first of these that is present (or the one `split_rule` names):
  1. "attngan": train/filenames.pickle and test/filenames.pickle, lists of "<class>/<name>" keys
     (AttnGAN's birds folder: 8,855 / 2,933 images);
  2. "tagan": trainvalclasses.txt and testclasses.txt, class folder names one a line (Reed et
     al.'s zero-shot class split used by TAGAN: 150 / 50 classes, 8,855 / 2,933 images), in
     data_dir, data_dir/cub_icml or the caption folder;
  3. "cub": CUB's own train_test_split.txt (5,994 / 5,794 images).
"""
from __future__ import annotations

import os
import pickle

from mimnet_tf.data import reading

LAYOUT = (
    "<data_dir>/CUB_200_2011/{images.txt, images/, bounding_boxes.txt, train_test_split.txt, "
    "image_class_labels.txt} and <data_dir>/text_c10/<class>/<image>.txt (CUB-200-2011 with "
    "Reed et al.'s captions, or a SynthBirds folder)"
)
SPLIT_RULES = ("auto", "attngan", "tagan", "cub")
CLASS_LIST_FILES = {"train": "trainvalclasses.txt", "test": "testclasses.txt"}


def _read_table(path: str, columns: int) -> dict[int, list[str]]:
    """Reads CUB's "<id> <value> ..." files into {id: [values]}."""
    table = {}
    for number, line in enumerate(reading.read_lines(path), start=1):
        fields = line.split(maxsplit=columns - 1)
        if len(fields) != columns or not fields[0].isdigit():
            raise ValueError(f"{path}, line {number}: {line!r}; expected {columns} fields starting with an image id")
        table[int(fields[0])] = fields[1:]
    return table


class _NamesUnpickler(pickle.Unpickler):
    """Unpickles plain lists of strings only: a downloaded pickle must not run code."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"{module}.{name} in a filenames.pickle; expected a list of file names")


def _load_filenames_pickle(path: str) -> set[str]:
    with open(path, "rb") as f:
        try:
            names = _NamesUnpickler(f, encoding="latin1").load()  # AttnGAN wrote them with Python 2
        except pickle.UnpicklingError as error:
            raise ValueError(f"{path}: {error}") from None
    if not isinstance(names, (list, tuple)):
        raise ValueError(f"{path} holds a {type(names).__name__}; expected a list of '<class>/<name>' strings")
    return {n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names}


def _class_list_dirs(data_dir: str, text_dir: str) -> list[str]:
    return [data_dir, os.path.join(data_dir, "cub_icml"), text_dir]


def _choose_split_rule(data_dir: str, text_dir: str, split_rule: str) -> tuple[str, dict[str, str]]:
    """Returns the rule that applies ("attngan", "tagan" or "cub") and its files {split: path}."""
    pickles = {s: os.path.join(data_dir, s, "filenames.pickle") for s in ("train", "test")}
    present = [p for p in pickles.values() if os.path.isfile(p)]
    if split_rule == "attngan" or (split_rule == "auto" and present):
        for path in pickles.values():  # one file without the other is a broken copy, not "absent"
            reading.require_file(path, "AttnGAN's train/filenames.pickle and test/filenames.pickle")
        return "attngan", pickles
    if split_rule in ("auto", "tagan"):
        for folder in _class_list_dirs(data_dir, text_dir):
            lists = {s: os.path.join(folder, name) for s, name in CLASS_LIST_FILES.items()}
            if all(os.path.isfile(p) for p in lists.values()):
                return "tagan", lists
        if split_rule == "tagan":
            places = ", ".join(_class_list_dirs(data_dir, text_dir))
            raise FileNotFoundError(f"trainvalclasses.txt and testclasses.txt not found in any of {places}")
    path = reading.require_file(
        os.path.join(data_dir, "CUB_200_2011", "train_test_split.txt"),
        "CUB's train_test_split.txt, or AttnGAN's train/filenames.pickle + test/filenames.pickle, "
        f"or TAGAN's trainvalclasses.txt + testclasses.txt ({LAYOUT})",
    )
    return "cub", {"train": path, "test": path}


def _split_keys(rule: str, files: dict[str, str], split: str, keys_by_id: dict[int, str]) -> set[str]:
    """The keys of the images in `split` under `rule`."""
    if rule == "attngan":
        return _load_filenames_pickle(files[split])
    if rule == "tagan":
        classes = set(reading.read_lines(files[split]))
        return {key for key in keys_by_id.values() if key.split("/")[0] in classes}
    flag = "1" if split == "train" else "0"
    table = _read_table(files[split], 2)
    return {keys_by_id[i] for i, values in table.items() if i in keys_by_id and values[0] == flag}


def read(data_dir: str, split: str, use_bbox: bool = True, max_captions: int = 10, split_rule: str = "auto"):
    """Reads one split of CUB-200-2011 (or SynthBirds).

    Args:
        data_dir: the folder holding CUB_200_2011/ and text_c10/ (see the module docstring).
        split: "train" or "test".
        use_bbox: put each image's bounding box (x, y, width, height) into `Record.bbox`.
        max_captions: keep the first N usable captions of an image (AttnGAN: 10); 0 keeps all.
        split_rule: "auto" (the first present of attngan, tagan, cub) or one of them.

    Returns:
        A `ReadResult` in images.txt order; keys are "<class>/<name>" (images.txt without the
        extension), labels the class id - 1.
    """
    reading.check_split(split)
    if split_rule not in SPLIT_RULES:
        raise ValueError(f"split_rule={split_rule!r}: expected one of {SPLIT_RULES}")
    reading.require_dir(data_dir, LAYOUT)
    root = os.path.join(data_dir, "CUB_200_2011")
    images = _read_table(reading.require_file(os.path.join(root, "images.txt"), LAYOUT), 2)
    text_dir = reading.find_required(
        [os.path.join(data_dir, "text_c10"), os.path.join(data_dir, "text")], LAYOUT, is_dir=True
    )
    keys_by_id = {i: os.path.splitext(values[0])[0] for i, values in images.items()}
    labels_path = os.path.join(root, "image_class_labels.txt")
    labels = {}
    if os.path.isfile(labels_path):
        labels = {i: int(values[0]) - 1 for i, values in _read_table(labels_path, 2).items()}
    boxes = {}
    if use_bbox:
        boxes_path = reading.require_file(os.path.join(root, "bounding_boxes.txt"), f"{LAYOUT} (or use_bbox=False)")
        boxes = {i: tuple(float(v) for v in values[0].split()) for i, values in _read_table(boxes_path, 2).items()}
    rule, split_files = _choose_split_rule(data_dir, text_dir, split_rule)
    members = _split_keys(rule, split_files, split, keys_by_id)

    collector = reading.RecordCollector(split_rule=rule)
    unknown = members - set(keys_by_id.values())
    if unknown:
        example = sorted(unknown)[0]
        collector.report(f"{len(unknown)} {split} images of the {rule} split are not in images.txt (e.g. {example})")
    for image_id in sorted(images):
        key = keys_by_id[image_id]
        if key not in members:
            continue
        caption_path = os.path.join(text_dir, key + ".txt")
        if not os.path.isfile(caption_path):
            collector.skip(key, f"caption file missing: {caption_path}")
            continue
        bbox = boxes.get(image_id) if use_bbox else None
        if use_bbox and (bbox is None or len(bbox) != 4):
            collector.skip(key, f"no bounding box (x, y, width, height) for image id {image_id}")
            continue
        collector.add(
            key,
            reading.read_lines(caption_path),
            image_path=os.path.join(root, "images", images[image_id][0]),
            bbox=bbox,
            label=labels.get(image_id, -1),
            max_captions=max_captions,
        )
    return collector.result()
