import glob
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from mimnet_tf import images
from mimnet_tf.config import DataConfig
from mimnet_tf.data import cropping, prepare, readers, records, text
from tests.data.dataset_fixtures import random_image, write_cub, write_image, write_lines

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def read_shards(out_dir, split):
    """{key: (decoded uint8 image, captions, label)} from the written TFRecords."""
    dataset = tf.data.TFRecordDataset(records.shard_files(out_dir, split)).map(records.parse)
    examples = {}
    for example in dataset:
        key = example["key"].numpy().decode()
        examples[key] = (
            images.decode_image(example["image"].numpy()),
            tuple(c.decode() for c in example["captions"].numpy()),
            int(example["label"].numpy()),
        )
    return examples


def shard_bytes(out_dir):
    return {os.path.basename(p): open(p, "rb").read() for p in sorted(glob.glob(os.path.join(out_dir, "*.tfrecord")))}


@pytest.fixture
def odd_images(tmp_path):
    """A manifest over good, grey, RGBA, corrupt and truncated images (all train) and 2 test images."""
    folder = tmp_path / "odd"
    rng = np.random.default_rng(7)
    write_image(str(folder / "good.jpg"), random_image(rng, 30, 20))
    write_image(str(folder / "grey.png"), random_image(rng, 24, 24)[..., 0])  # mode L
    rgba = np.zeros((24, 24, 4), np.uint8)
    rgba[..., 0], rgba[:12, :, 3], rgba[12:, :, 3] = 200, 255, 0  # top opaque red, bottom transparent
    write_image(str(folder / "rgba.png"), rgba)
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 4)
    buffer = io.BytesIO()
    Image.fromarray(random_image(rng, 64, 64)).save(buffer, format="JPEG")
    (folder / "truncated.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    write_image(str(folder / "t1.png"), random_image(rng, 16, 16))
    write_image(str(folder / "t2.png"), random_image(rng, 16, 16))
    rows = ["image,caption,split", "good.jpg,a good red photo,train", "grey.png,a grey square,train",
            "rgba.png,red on white,train", "corrupt.jpg,a broken file,train", "truncated.jpg,half a file,train",
            "t1.png,a test only zebra,test", "t2.png,another test picture,test"]
    write_lines(str(folder / "manifest.csv"), rows)
    return DataConfig(dataset="manifest", data_dir=str(folder), manifest=str(folder / "manifest.csv"),
                      image_size=32, random_crop=False, num_shards=2)


def test_cub_round_trip_bbox_crop_vocab_from_train_and_meta(tmp_path):
    root = str(tmp_path / "birds")
    write_cub(root)
    config = DataConfig(dataset="cub", data_dir=root, image_size=32, random_crop=True, num_shards=2)
    out = str(tmp_path / "prepared")
    meta = prepare.prepare(config, out, progress=False)

    assert config.resolved_load_size == 38
    assert sorted(os.listdir(out)) == ["meta.json", "test-00000-of-00002.tfrecord", "test-00001-of-00002.tfrecord",
                                       "train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord", "vocab.txt"]
    for split in records.SPLITS:
        expected = readers.read_dataset(config, split).records
        written = read_shards(out, split)
        assert sorted(written) == sorted(r.key for r in expected)
        for record in expected:
            pixels, captions, label = written[record.key]
            source = cropping.crop_for_training(images.load_image(record.image_path), record.bbox)
            np.testing.assert_array_equal(pixels, images.resize(np.ascontiguousarray(source), 38))  # PNG: lossless
            assert captions == record.captions and label == record.label
    vocab = text.Vocabulary.load(out)
    assert "1001" in vocab and "1003" in vocab  # words of training captions (image names)
    assert "1002" not in vocab and "1004" not in vocab  # only in test captions
    assert len(vocab) == 2 + len({w for r in readers.read_dataset(config, "train").records
                                  for c in r.captions for w in text.split_words(c)})
    assert meta == json.load(open(os.path.join(out, "meta.json")))
    assert meta["image_size"] == 38 and meta["image_format"] == "png" and meta["vocab_size"] == len(vocab)
    assert meta["counts"]["train"] == {"images": 3, "captions": 30, "skipped_images": 0, "unreadable_images": 0,
                                       "dropped_captions": 0, "split_rule": "cub"}
    assert meta["counts"]["test"]["images"] == 3 and meta["counts"]["test"]["captions"] == 29
    assert meta["counts"]["test"]["dropped_captions"] == 1 and meta["num_problems"] == 1
    assert meta["problems"][0].startswith("test: 001.Black_footed_Albatross/Black_footed_Albatross_0002_1002: dropped")


def test_bad_images_skipped_and_counted_grey_and_rgba_converted(odd_images, tmp_path):
    out = str(tmp_path / "out")
    meta = prepare.prepare(odd_images, out, progress=False)
    train = read_shards(out, "train")
    assert sorted(train) == ["good.jpg", "grey.png", "rgba.png"]
    assert meta["counts"]["train"]["images"] == 3
    assert meta["counts"]["train"]["skipped_images"] == meta["counts"]["train"]["unreadable_images"] == 2
    assert any("corrupt.jpg: not a readable image" in p for p in meta["problems"])
    assert any("truncated.jpg: not a readable image" in p for p in meta["problems"])
    grey = train["grey.png"][0]
    assert grey.shape == (32, 32, 3) and np.array_equal(grey[..., 0], grey[..., 1])
    rgba = train["rgba.png"][0]
    np.testing.assert_array_equal(rgba[2, 16], [200, 0, 0])  # opaque red stays red
    np.testing.assert_array_equal(rgba[29, 16], [255, 255, 255])  # transparent becomes white
    assert "zebra" not in text.Vocabulary.load(out) and "red" in text.Vocabulary.load(out)

    with pytest.raises(images.ImageError, match=r"(corrupt|truncated).jpg: not a readable image.*--strict"):
        prepare.prepare(DataConfig(**{**odd_images.__dict__, "strict": True}), str(tmp_path / "strict"), progress=False)
    assert glob.glob(str(tmp_path / "strict" / "*.tmp")) == []


def test_output_is_deterministic_and_stale_shards_removed(odd_images, tmp_path, monkeypatch):
    first, second = str(tmp_path / "a"), str(tmp_path / "b")
    prepare.prepare(odd_images, first, progress=False)
    monkeypatch.setattr(prepare, "PARALLEL_MIN_RECORDS", 1)  # the 2-process path on a tiny set
    prepare.prepare(odd_images, second, progress=False, workers=2)
    assert shard_bytes(first) == shard_bytes(second) and len(shard_bytes(first)) == 4
    assert open(os.path.join(first, "vocab.txt")).read() == open(os.path.join(second, "vocab.txt")).read()
    prepare.prepare(DataConfig(**{**odd_images.__dict__, "num_shards": 1}), first, progress=False)
    assert sorted(shard_bytes(first)) == ["test-00000-of-00001.tfrecord", "train-00000-of-00001.tfrecord"]


def test_large_images_are_stored_as_jpeg_95(odd_images, tmp_path):
    config = DataConfig(**{**odd_images.__dict__, "image_size": 144, "num_shards": 1})
    meta = prepare.prepare(config, str(tmp_path / "big"), progress=False)
    assert meta["image_format"] == "jpeg" and meta["image_size"] == 144
    raw = next(iter(tf.data.TFRecordDataset(records.shard_files(str(tmp_path / "big"), "train")).map(records.parse)))
    assert raw["image"].numpy()[:2] == b"\xff\xd8"
    assert Image.open(io.BytesIO(raw["image"].numpy())).size == (144, 144)


def test_entry_point_writes_the_same_shards_and_fails_cleanly(odd_images, tmp_path):
    command = [sys.executable, "-m", "mimnet_tf.data.prepare", "--dataset=manifest",
               f"--manifest={odd_images.manifest}", f"--data_dir={odd_images.data_dir}", "--image_size=32",
               "--norandom_crop", "--num_shards=2", "--noprogress", "--workers=1"]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(command + [f"--out={tmp_path / 'cli'}"], cwd=REPO, env=environment,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "manifest: 3 train / 2 test images (3 / 2 captions)" in done.stdout and "skipped: 2 / 0 images" in done.stdout
    prepare.prepare(odd_images, str(tmp_path / "lib"), progress=False)
    assert shard_bytes(str(tmp_path / "cli")) == shard_bytes(str(tmp_path / "lib"))  # across processes too

    missing = str(tmp_path / "no_such_dir")
    failed = subprocess.run([sys.executable, "-m", "mimnet_tf.data.prepare", "--dataset=cub", f"--data_dir={missing}"],
                            cwd=REPO, env=environment, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 2
    assert f"prepare: {missing} is not a directory: expected <data_dir>/CUB_200_2011/" in failed.stderr
    assert "Traceback" not in failed.stderr
