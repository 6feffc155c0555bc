"""Oxford-102 flowers with Reed et al.'s captions and TAGAN's class split.

Layout of `data_dir` (the 102flowers.tgz images and Reed et al.'s cvpr2016_flowers captions):

    jpg/image_XXXXX.jpg
    text_c10/class_XXXXX/image_XXXXX.txt    one caption a line, 10 per image
    trainvalclasses.txt, testclasses.txt    class folder names ("class_00001"), one a line;
                                            in data_dir, data_dir/flowers_icml or text_c10/

TAGAN trains on the 82 trainval classes and tests on the 20 others (7,034 / 1,155 images).
"""
from __future__ import annotations

import os
import re

from mimnet_tf.data import reading

LAYOUT = (
    "<data_dir>/jpg/image_XXXXX.jpg, <data_dir>/text_c10/class_XXXXX/image_XXXXX.txt and "
    "trainvalclasses.txt + testclasses.txt (Oxford-102 with Reed et al.'s captions, TAGAN's split)"
)
CLASS_LIST_FILES = {"train": "trainvalclasses.txt", "test": "testclasses.txt"}
_CLASS_NUMBER = re.compile(r"class_(\d+)$")


def _find_class_lists(data_dir: str, text_dir: str) -> dict[str, str]:
    folders = [data_dir, os.path.join(data_dir, "flowers_icml"), text_dir]
    for folder in folders:
        lists = {s: os.path.join(folder, name) for s, name in CLASS_LIST_FILES.items()}
        if all(os.path.isfile(p) for p in lists.values()):
            return lists
    raise FileNotFoundError(
        f"trainvalclasses.txt and testclasses.txt not found in any of {', '.join(folders)}: expected {LAYOUT}"
    )


def read(data_dir: str, split: str, max_captions: int = 10):
    """Reads one split of Oxford-102.

    Args:
        data_dir: the folder holding jpg/, text_c10/ and the class lists.
        split: "train" (trainvalclasses.txt) or "test" (testclasses.txt).
        max_captions: keep the first N usable captions of an image; 0 keeps all.

    Returns:
        A `ReadResult` ordered by class (as listed) then image name; keys are
        "class_XXXXX/image_XXXXX", labels the class number - 1.
    """
    reading.check_split(split)
    reading.require_dir(data_dir, LAYOUT)
    image_dir = reading.require_dir(os.path.join(data_dir, "jpg"), LAYOUT)
    text_dir = reading.require_dir(os.path.join(data_dir, "text_c10"), LAYOUT)
    classes = reading.read_lines(_find_class_lists(data_dir, text_dir)[split])

    collector = reading.RecordCollector(split_rule="tagan")
    for index, class_name in enumerate(classes):
        class_dir = os.path.join(text_dir, class_name)
        if not os.path.isdir(class_dir):
            collector.report(f"{class_name}: listed in {CLASS_LIST_FILES[split]} but {class_dir} is missing")
            continue
        number = _CLASS_NUMBER.search(class_name)
        label = int(number.group(1)) - 1 if number else index
        for filename in sorted(os.listdir(class_dir)):
            stem, extension = os.path.splitext(filename)
            if extension != ".txt":
                continue
            collector.add(
                f"{class_name}/{stem}",
                reading.read_lines(os.path.join(class_dir, filename)),
                image_path=os.path.join(image_dir, stem + ".jpg"),
                label=label,
                max_captions=max_captions,
            )
    return collector.result()
