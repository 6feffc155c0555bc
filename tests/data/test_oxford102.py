import os

import numpy as np
import pytest

from mimnet_tf.config import DataConfig
from mimnet_tf.data import oxford102, readers
from tests.data.dataset_fixtures import random_image, write_image, write_lines, write_tagan_class_lists

# class folder -> image numbers (Reed et al.'s text_c10 layout)
CLASSES = {"class_00001": (6734, 6735), "class_00002": (5202,), "class_00003": (7086, 7087)}


@pytest.fixture
def flowers_dir(tmp_path):
    root = str(tmp_path / "flowers")
    rng = np.random.default_rng(1)
    for class_name, numbers in CLASSES.items():
        for number in numbers:
            name = f"image_{number:05d}"
            if number != 7087:  # its caption file exists, its image does not
                write_image(os.path.join(root, "jpg", name + ".jpg"), random_image(rng, 50, 40))
            captions = [f"{name} flower {c} has pink petals" for c in range(10)]
            if number == 6735:
                captions[0] = "  !!! "
            write_lines(os.path.join(root, "text_c10", class_name, name + ".txt"), captions)
    write_tagan_class_lists(os.path.join(root, "flowers_icml"), ["class_00003", "class_00001"],
                            ["class_00002", "class_00077"])
    return root


def test_oxford102_trainval_classes_train_in_listed_order(flowers_dir):
    train = oxford102.read(flowers_dir, "train")
    assert [r.key for r in train.records] == ["class_00003/image_07086", "class_00001/image_06734",
                                              "class_00001/image_06735"]
    assert [r.label for r in train.records] == [2, 0, 0]
    assert train.records[1].captions == tuple(f"image_06734 flower {c} has pink petals" for c in range(10))
    assert train.records[2].captions == tuple(f"image_06735 flower {c} has pink petals" for c in range(1, 10))
    assert train.records[0].image_path == os.path.join(flowers_dir, "jpg", "image_07086.jpg")
    assert train.dropped_captions == 1 and train.skipped_images == 1 and train.split_rule == "tagan"
    assert train.problems[0].startswith("class_00003/image_07087: skipped, image file missing:")
    assert train.problems[1] == "class_00001/image_06735: dropped caption '!!!' (no word made of letters or digits)"


def test_oxford102_test_classes_and_unknown_class_reported(flowers_dir):
    test = readers.read_dataset(DataConfig(dataset="oxford102", data_dir=flowers_dir), "test")
    assert [r.key for r in test.records] == ["class_00002/image_05202"] and test.records[0].label == 1
    assert len(test.problems) == 1 and test.problems[0].startswith("class_00077: listed in testclasses.txt")


def test_oxford102_missing_layout_names_the_path(flowers_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.*jpg/image_XXXXX.jpg"):
        oxford102.read(str(tmp_path / "absent"), "train")
    os.remove(os.path.join(flowers_dir, "flowers_icml", "testclasses.txt"))
    with pytest.raises(FileNotFoundError, match="trainvalclasses.txt and testclasses.txt not found"):
        oxford102.read(flowers_dir, "train")
    os.rename(os.path.join(flowers_dir, "jpg"), os.path.join(flowers_dir, "images"))
    with pytest.raises(FileNotFoundError, match=r"flowers/jpg is not a directory"):
        oxford102.read(flowers_dir, "train")
