import os

import numpy as np
import pytest

from mimnet_tf.config import DataConfig
from mimnet_tf.data import celeba, celeba_captions, readers, text
from tests.data.dataset_fixtures import random_image, write_image, write_lines

PARTITION = {"000001.jpg": 0, "000002.jpg": 0, "000003.jpg": 0, "000004.jpg": 1, "000005.jpg": 2, "000006.jpg": 0}
PRESENT = {
    "000001.jpg": {"Male", "Smiling", "Black_Hair", "Eyeglasses", "No_Beard"},
    "000002.jpg": {"Wavy_Hair", "Blond_Hair", "Wearing_Lipstick", "Heavy_Makeup", "Young", "No_Beard"},
    "000003.jpg": {"Blurry", "Male"},
    "000004.jpg": {"Male", "Goatee", "Bald"},
    "000005.jpg": {"No_Beard"},
    "000006.jpg": {"Male", "Mustache", "Gray_Hair", "Straight_Hair"},
}


def write_celeba(root, folders=False):
    """CelebA's files: aligned images, list_eval_partition.txt, list_attr_celeba.txt (real spacing)."""
    rng = np.random.default_rng(2)
    image_dir = os.path.join(root, "Img", "img_align_celeba") if folders else os.path.join(root, "img_align_celeba")
    for name in PARTITION:
        write_image(os.path.join(image_dir, name), random_image(rng, 18, 22))
    write_lines(os.path.join(root, "Eval" if folders else "", "list_eval_partition.txt"),
                [f"{name} {part}" for name, part in PARTITION.items()])
    rows = [str(len(PRESENT)), " ".join(celeba_captions.ATTRIBUTES) + " "]
    for name, present in PRESENT.items():
        rows.append(name + "".join(f" {1 if a in present else -1:2d}" for a in celeba_captions.ATTRIBUTES))
    write_lines(os.path.join(root, "Anno" if folders else "", "list_attr_celeba.txt"), rows)
    return root


def test_celeba_attribute_captions_follow_the_partition(tmp_path):
    root = write_celeba(str(tmp_path / "celeba"))
    train, test = celeba.read(root, "train"), celeba.read(root, "test")
    assert [r.key for r in train.records] == ["000001", "000002", "000006"]  # 000003 is blurry
    assert [r.key for r in test.records] == ["000004", "000005"]  # val (1) + test (2)
    assert train.records[0].image_path == os.path.join(root, "img_align_celeba", "000001.jpg")
    man, woman, grey = (r.captions[0].lower() for r in train.records)
    assert all(len(r.captions) == 1 for r in train.records + test.records)
    assert "man" in man and "smil" in man and "black hair" in man and "eyeglasses" in man
    assert "woman" in woman and "wavy blond hair" in woman and "heavy makeup and lipstick" in woman
    assert "she" in text.split_words(woman) and not {"he", "his", "man"} & set(text.split_words(woman))
    assert "straight grey hair" in grey and "mustache" in grey
    assert "bald" in test.records[0].captions[0] and "goatee" in test.records[0].captions[0]
    assert test.records[1].captions[0] in ("This is a woman.", "The photo shows a woman.")
    assert train.skipped_images == 1
    assert train.problems == ["no attribute caption for 1 blurry images (as in Text2FaceGAN)",
                              "skipped: no caption for 1 train images (e.g. 000003.jpg)"]
    assert celeba.read(root, "train").records == train.records  # deterministic


def test_attribute_captions_vary_in_wording_but_not_per_image():
    attributes = {name: True for name in ("Male", "Smiling", "Oval_Face", "Brown_Hair", "Wearing_Hat")}
    captions = [celeba_captions.describe(attributes, f"{i:06d}.jpg") for i in range(40)]
    assert len(set(captions)) >= 4
    assert captions == [celeba_captions.describe(attributes, f"{i:06d}.jpg") for i in range(40)]
    assert all("brown hair" in c and "a hat" in c and "oval face" in c for c in captions)


def test_celeba_text2facegan_caption_file(tmp_path):
    root = write_celeba(str(tmp_path / "celeba"))
    write_lines(os.path.join(root, "caps.txt"), [
        "000001.jpg\tThe man has high cheekbones.|He has black hair.|He is wearing eyeglasses.",
        "000002.jpg\tThe woman has wavy hair.",
        "000004.jpg\t   ",
        "000005.jpg\tShe is smiling.|She wears lipstick.",
    ])
    config = DataConfig(dataset="celeba", data_dir=root, caption_file="caps.txt")
    train, test = readers.read_dataset(config, "train"), readers.read_dataset(config, "test")
    assert [r.key for r in train.records] == ["000001", "000002"]
    assert train.records[0].captions == ("The man has high cheekbones. He has black hair. He is wearing eyeglasses.",)
    assert train.skipped_images == 2 and train.problems == ["skipped: no caption for 2 train images (e.g. 000003.jpg)"]
    assert [r.key for r in test.records] == ["000005"]
    assert test.skipped_images == 1 and test.dropped_captions == 1
    assert test.problems == ["000004: dropped caption '' (no word made of letters or digits)",
                             "000004: skipped, no usable caption"]


def test_celeba_comma_caption_file_with_header_quotes_and_several_lines(tmp_path):
    root = write_celeba(str(tmp_path / "celeba"), folders=True)
    path = str(tmp_path / "captions.csv")
    write_lines(path, ["image_id,caption", '000001.jpg,"a man, smiling"', "000002,a woman with wavy hair",
                       "000002,she wears lipstick", "img_align_celeba/000006.jpg,an old man"])
    train = celeba.read(root, "train", caption_file=path)
    assert [(r.key, r.captions) for r in train.records] == [
        ("000001", ("a man, smiling",)), ("000002", ("a woman with wavy hair", "she wears lipstick")),
        ("000006", ("an old man",))]
    assert train.records[0].image_path == os.path.join(root, "Img", "img_align_celeba", "000001.jpg")


def test_celeba_random_split_is_seeded_80_20_of_captioned_images(tmp_path):
    root = write_celeba(str(tmp_path / "celeba"))
    train = celeba.read(root, "train", split_rule="random")
    test = celeba.read(root, "test", split_rule="random")
    keys = {r.key for r in train.records} | {r.key for r in test.records}
    assert keys == {"000001", "000002", "000004", "000005", "000006"}  # all but the blurry one
    assert (len(train.records), len(test.records)) == (4, 1)
    assert not {r.key for r in train.records} & {r.key for r in test.records}
    assert [r.key for r in celeba.read(root, "test", split_rule="random").records] == [r.key for r in test.records]


def test_celeba_missing_files_name_the_path(tmp_path):
    root = write_celeba(str(tmp_path / "celeba"))
    with pytest.raises(FileNotFoundError, match="caption_file='nope.txt' not found"):
        celeba.read(root, "train", caption_file="nope.txt")
    os.remove(os.path.join(root, "list_eval_partition.txt"))
    with pytest.raises(FileNotFoundError, match="list_eval_partition.txt not found: expected"):
        celeba.read(root, "train")
    assert len(celeba.read(root, "train", split_rule="random").records) == 4  # no partition needed
    with pytest.raises(FileNotFoundError, match="img_align_celeba"):
        celeba.read(str(tmp_path / "missing"), "train")
