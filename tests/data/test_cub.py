import os
import pickle
import shutil

import pytest

from mimnet_tf.config import DataConfig
from mimnet_tf.data import cub, readers
from tests.data.dataset_fixtures import CUB_CLASSES, write_attngan_pickles, write_cub, write_lines, write_tagan_class_lists


@pytest.fixture
def cub_dir(tmp_path):
    root = str(tmp_path / "birds")
    return root, write_cub(root)


def test_cub_split_from_train_test_split_with_captions_bbox_labels(cub_dir):
    root, facts = cub_dir
    train = cub.read(root, "train")
    test = cub.read(root, "test")
    assert train.split_rule == test.split_rule == "cub"
    assert [r.key for r in train.records] == [k for k, f in facts.items() if f["is_train"]]
    assert [r.key for r in test.records] == [k for k, f in facts.items() if not f["is_train"]]
    first = train.records[0]
    key = f"{CUB_CLASSES[0]}/Black_footed_Albatross_0001_1001"
    assert first.key == key
    assert first.captions == tuple(f"caption {c} of black_footed_albatross_0001_1001 a bird with red wings"
                                   for c in range(10))
    assert first.bbox == facts[key]["bbox"] == (first.bbox[0], first.bbox[1], 20.0, 17.0)
    assert first.label == 0 and test.records[-1].label == 2
    assert first.image_path == os.path.join(root, "CUB_200_2011", "images", key + ".jpg")
    assert train.problems == [] and train.dropped_captions == 0 and train.skipped_images == 0


def test_cub_drops_bad_captions_and_reports_them(cub_dir):
    root, _ = cub_dir
    test = cub.read(root, "test")
    second = test.records[0]  # image id 2: "..." dropped, the blank line is formatting
    assert second.key == f"{CUB_CLASSES[0]}/Black_footed_Albatross_0002_1002"
    assert len(second.captions) == 9 and "..." not in second.captions
    assert test.dropped_captions == 1
    assert test.problems == [f"{second.key}: dropped caption '...' (no word made of letters or digits)"]


def test_cub_tagan_class_lists_decide_the_split(cub_dir):
    root, _ = cub_dir
    write_tagan_class_lists(os.path.join(root, "cub_icml"), CUB_CLASSES[:2], CUB_CLASSES[2:])
    train, test = cub.read(root, "train"), cub.read(root, "test")
    assert train.split_rule == "tagan"
    assert {r.key.split("/")[0] for r in train.records} == set(CUB_CLASSES[:2]) and len(train.records) == 4
    assert {r.key.split("/")[0] for r in test.records} == {CUB_CLASSES[2]} and len(test.records) == 2


def test_cub_attngan_pickles_come_first(cub_dir):
    root, facts = cub_dir
    keys = list(facts)
    write_tagan_class_lists(root, CUB_CLASSES[:2], CUB_CLASSES[2:])
    write_attngan_pickles(root, keys[1:], keys[:1])
    train, test = cub.read(root, "train"), cub.read(root, "test")
    assert train.split_rule == "attngan"
    assert [r.key for r in train.records] == keys[1:] and [r.key for r in test.records] == keys[:1]
    os.remove(os.path.join(root, "test", "filenames.pickle"))
    with pytest.raises(FileNotFoundError, match="test/filenames.pickle"):
        cub.read(root, "train")
    assert cub.read(root, "train", split_rule="tagan").split_rule == "tagan"


def test_cub_filenames_pickle_may_not_run_code(cub_dir):
    root, facts = cub_dir
    write_attngan_pickles(root, list(facts), [])
    with open(os.path.join(root, "test", "filenames.pickle"), "wb") as f:
        pickle.dump([os.getcwd], f)  # a reference to a function, as a malicious pickle would hold
    assert len(cub.read(root, "train").records) == 6
    with pytest.raises(ValueError, match="posix.getcwd in a filenames.pickle; expected a list of file names"):
        cub.read(root, "test")


def test_synthbirds_layout_png_text_folder_and_no_bbox(tmp_path):
    root = str(tmp_path / "synthbirds")
    facts = write_cub(root, extension=".png")
    os.rename(os.path.join(root, "text_c10"), os.path.join(root, "text"))  # AttnGAN's folder name
    os.remove(os.path.join(root, "CUB_200_2011", "bounding_boxes.txt"))
    assert readers.READERS["synthbirds"] is readers.READERS["cub"] is cub.read
    result = readers.read_dataset(DataConfig(dataset="synthbirds", data_dir=root), "train")
    assert len(result.records) == 3
    assert all(r.image_path.endswith(".png") and os.path.isfile(r.image_path) for r in result.records)
    assert all(r.bbox is None for r in result.records)
    with pytest.raises(FileNotFoundError, match="bounding_boxes.txt"):
        readers.read_dataset(DataConfig(dataset="cub", data_dir=root, use_bbox=True), "train")
    assert len(facts) == 6


def test_cub_missing_files_and_images_are_reported(cub_dir):
    root, facts = cub_dir
    keys = [k for k, f in facts.items() if f["is_train"]]
    os.remove(os.path.join(root, "text_c10", keys[0] + ".txt"))
    os.remove(os.path.join(root, "CUB_200_2011", "images", keys[1] + ".jpg"))
    write_lines(os.path.join(root, "text_c10", keys[2] + ".txt"), [f"red bird number {i}" for i in range(12)])
    train = cub.read(root, "train")
    assert [r.key for r in train.records] == [keys[2]]
    assert train.records[0].captions == tuple(f"red bird number {i}" for i in range(10))  # AttnGAN reads 10
    assert train.skipped_images == 2
    assert train.problems[0].startswith(f"{keys[0]}: skipped, caption file missing: ")
    assert train.problems[1].startswith(f"{keys[1]}: skipped, image file missing: ")


def test_cub_missing_layout_names_the_path(tmp_path, cub_dir):
    root, _ = cub_dir
    missing = str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="nowhere.*CUB_200_2011/"):
        cub.read(missing, "train")
    os.remove(os.path.join(root, "CUB_200_2011", "train_test_split.txt"))
    with pytest.raises(FileNotFoundError, match="train_test_split.txt.*filenames.pickle.*trainvalclasses.txt"):
        cub.read(root, "train")
    shutil.rmtree(os.path.join(root, "text_c10"))
    with pytest.raises(FileNotFoundError, match="text_c10 or .*text not found"):
        cub.read(root, "train")
    os.remove(os.path.join(root, "CUB_200_2011", "images.txt"))
    with pytest.raises(FileNotFoundError, match=r"CUB_200_2011/images.txt not found: expected"):
        cub.read(root, "train")
    with pytest.raises(ValueError, match="split='val'"):
        cub.read(root, "val")
    with pytest.raises(FileNotFoundError, match=r"nowhere is not a directory.*python -m mimnet_tf.data.synthbirds --out="):
        readers.read_dataset(DataConfig(dataset="synthbirds", data_dir=missing), "train")
