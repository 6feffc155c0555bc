import json
import os

import numpy as np
import pytest

from mimnet_tf.config import DataConfig
from mimnet_tf.data import manifest, readers
from tests.data.dataset_fixtures import random_image, write_image, write_lines


@pytest.fixture
def photos(tmp_path):
    rng = np.random.default_rng(4)
    folder = tmp_path / "photos"
    for name in ("a.jpg", "b.png", "c.jpg", "d.jpg", "sub/e.jpg"):
        write_image(str(folder / name), random_image(rng, 20, 16))
    return folder


def test_csv_manifest_with_split_column_merges_rows_and_reports(photos, tmp_path):
    elsewhere = str(tmp_path / "other.jpg")
    write_image(elsewhere, random_image(np.random.default_rng(5), 8, 8))
    write_lines(str(photos / "list.csv"), [
        "image,caption,split",
        "a.jpg,a red bird on a branch,train",
        'a.jpg,"a bird, red and small",train',
        "b.png,a blue flower,test",
        "c.jpg,   ,train",
        "missing.jpg,a missing photo,train",
        "d.jpg,a green leaf,validation",
        f"{elsewhere},an absolute path,train",
        "sub/e.jpg,a yellow car,TRAIN",
    ])
    train = manifest.read(str(photos), "train", manifest="list.csv")
    test = readers.read_dataset(DataConfig(dataset="manifest", manifest=str(photos / "list.csv")), "test")
    assert [(r.key, r.captions) for r in train.records] == [
        ("a.jpg", ("a red bird on a branch", "a bird, red and small")),
        (os.path.normpath(elsewhere), ("an absolute path",)),
        ("sub/e.jpg", ("a yellow car",)),
    ]
    assert train.records[0].image_path == str(photos / "a.jpg")
    assert [r.key for r in test.records] == ["b.png", "d.jpg"]
    assert train.dropped_captions == 1 and train.skipped_images == 2 and train.split_rule == "manifest"
    assert train.problems[0] == "c.jpg: dropped caption '   ' (no word made of letters or digits)"
    assert train.problems[1] == "c.jpg: skipped, no usable caption"
    assert train.problems[2].startswith("missing.jpg: skipped, image file missing:")


def test_jsonl_manifest_without_split_gets_a_seeded_90_10_split(photos, tmp_path):
    rng = np.random.default_rng(6)
    lines = []
    for i in range(10):
        write_image(str(photos / f"n{i}.jpg"), random_image(rng, 8, 8))
        lines.append(json.dumps({"image": f"n{i}.jpg", "caption": f"photo number {i}"}))
    lines.insert(3, "")
    lines.append(json.dumps({"image": "n0.jpg", "caption": "the first photo"}))
    write_lines(str(photos / "m.jsonl"), lines)
    train = manifest.read("", "train", manifest=str(photos / "m.jsonl"))
    test = manifest.read("", "test", manifest=str(photos / "m.jsonl"))
    assert (len(train.records), len(test.records)) == (9, 1)
    assert {r.key for r in train.records} | {r.key for r in test.records} == {f"n{i}.jpg" for i in range(10)}
    merged = [r for r in train.records + test.records if r.key == "n0.jpg"][0]
    assert merged.captions == ("photo number 0", "the first photo")
    assert train.split_rule == "manifest+random-90%"
    assert [r.key for r in manifest.read("", "test", manifest=str(photos / "m.jsonl")).records] == [test.records[0].key]


def test_manifest_errors_name_the_file(photos, tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest.csv or .*manifest.jsonl or .*manifest.json not found"):
        manifest.read(str(tmp_path / "empty"), "train")
    write_lines(str(photos / "bad.csv"), ["image,text", "a.jpg,hello"])
    with pytest.raises(ValueError, match=r"bad.csv: the header \['image', 'text'\] lacks \['caption'\]"):
        manifest.read(str(photos), "train", manifest="bad.csv")
    write_lines(str(photos / "bad.jsonl"), ['{"image": "a.jpg", "caption": "ok"}', "{not json"])
    with pytest.raises(ValueError, match="bad.jsonl, line 2: not JSON"):
        manifest.read(str(photos), "train", manifest="bad.jsonl")
    write_lines(str(photos / "list.txt"), ["a.jpg hello"])
    with pytest.raises(ValueError, match="unknown manifest extension '.txt'"):
        manifest.read(str(photos), "train", manifest="list.txt")
