import os
import pickle

import h5py
import numpy as np
import pytest
import scipy.io

from mimnet_tf.data import deepfashion
from tests.data.dataset_fixtures import random_image

NAMES = [f"img/WOMEN/Dresses/id_0000000{i}/01_1_front.jpg" for i in range(1, 6)]
CAPTIONS = ["The lady was wearing a blue long-sleeved blouse.", "A man in a white shirt.", "...",
            "The woman wears a black sleeveless dress.", "She has a red short-sleeved tee."]
HEIGHT, WIDTH = 16, 12  # not square, so a swapped width/height shows


def _cell(strings):
    cell = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        cell[i, 0] = s
    return cell


def write_fashiongan(root, with_index=True, v73=False):
    """FashionGAN's data_release: benchmark/{language_original,ind}.mat, supervision_signals/G2.h5."""
    rng = np.random.default_rng(3)
    pictures = np.stack([random_image(rng, WIDTH, HEIGHT) for _ in NAMES])  # [N, H, W, 3] uint8
    benchmark = os.path.join(root, "benchmark")
    signals = os.path.join(root, "supervision_signals")
    os.makedirs(benchmark), os.makedirs(signals)
    categories = np.array([[3], [1], [2], [3], [5]], dtype=np.float64)
    language = os.path.join(benchmark, "language_original.mat")
    if v73:
        write_mat73(language, {"engJ": CAPTIONS, "nameList": NAMES}, {"cate_new": categories})
    else:
        scipy.io.savemat(language, {"engJ": _cell(CAPTIONS), "nameList": _cell(NAMES), "cate_new": categories})
    if with_index:
        scipy.io.savemat(os.path.join(benchmark, "ind.mat"),
                         {"train_ind": np.array([[1], [3], [4]], np.float64), "test_ind": np.array([[2], [5]], np.float64)})
    # MATLAB wrote [H, W, 3, N] column-major: HDF5 sees (N, 3, W, H); ih is minus the mean, in [0, 1].
    stored = pictures.transpose(0, 3, 2, 1).astype(np.float32) / 255.0
    mean = stored.mean(axis=0)
    with h5py.File(os.path.join(signals, "G2.h5"), "w") as f:
        f.create_dataset("ih", data=stored - mean)
        f.create_dataset("ih_mean", data=mean)
        f.create_dataset("b_", data=np.zeros((len(NAMES), 1, WIDTH, HEIGHT), np.uint8))
    return pictures


def write_mat73(path, cells, numbers):
    """A MATLAB -v7.3 file: HDF5 with reversed dimensions, cells as references, chars as uint16."""
    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        for name, strings in cells.items():
            references = []
            for i, s in enumerate(strings):
                data = np.array([ord(c) for c in s], np.uint16).reshape(-1, 1)  # 1 x n char -> (n, 1)
                item = refs.create_dataset(f"{name}{i}", data=data)
                item.attrs["MATLAB_class"] = np.bytes_("char")
                references.append(item.ref)
            cell = f.create_dataset(name, data=np.array(references, dtype=h5py.ref_dtype).reshape(1, -1))
            cell.attrs["MATLAB_class"] = np.bytes_("cell")
        for name, values in numbers.items():
            f.create_dataset(name, data=np.asarray(values).T)
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2018 HDF5 schema 1.00 ."
    with open(path, "r+b") as f:  # the 128-byte MAT header in the HDF5 user block: version 0x0200, "IM"
        f.write(header.ljust(116) + b"\x00" * 8 + b"\x00\x02IM")


def test_deepfashion_ind_mat_split_captions_labels_and_pixels(tmp_path):
    root = str(tmp_path / "fashion")
    pictures = write_fashiongan(root)
    train, test = deepfashion.read(root, "train"), deepfashion.read(root, "test")
    assert train.split_rule == "fashiongan-ind"
    assert [r.key for r in train.records] == [os.path.splitext(NAMES[i])[0] for i in (0, 3)]  # 3rd: "..."
    assert train.records[0].captions == (CAPTIONS[0],) and train.records[1].captions == (CAPTIONS[3],)
    assert [r.label for r in train.records] == [2, 2]
    assert train.dropped_captions == 1 and train.skipped_images == 1
    assert train.problems == [f"{os.path.splitext(NAMES[2])[0]}: dropped caption '...' (no word made of letters or digits)",
                              f"{os.path.splitext(NAMES[2])[0]}: skipped, no usable caption"]
    assert [r.key for r in test.records] == [os.path.splitext(NAMES[i])[0] for i in (1, 4)]
    for record, index in zip(train.records + test.records, (0, 3, 1, 4)):
        assert record.image_path == "" and record.load is not None
        np.testing.assert_array_equal(record.load(), pictures[index])  # (H, W, 3), exact
    loader = pickle.loads(pickle.dumps(test.records[1].load))  # prepare's worker processes get it pickled
    np.testing.assert_array_equal(loader(), pictures[4])


def test_deepfashion_without_ind_mat_uses_a_seeded_80_20_split(tmp_path):
    root = str(tmp_path / "fashion")
    write_fashiongan(root, with_index=False)
    train, test = deepfashion.read(root, "train"), deepfashion.read(root, "test")
    assert train.split_rule == "random-80%" and "no ind.mat" in train.problems[0]
    train_keys = {r.key for r in train.records} | {p.split(":")[0] for p in train.problems[1:]}
    test_keys = {r.key for r in test.records} | {p.split(":")[0] for p in test.problems[1:]}
    assert (len(train_keys), len(test_keys)) == (4, 1) and not train_keys & test_keys
    assert [r.key for r in deepfashion.read(root, "train").records] == [r.key for r in train.records]
    assert deepfashion.read(str(tmp_path / "fashion"), "train", split_rule="random").split_rule == "random-80%"


def test_deepfashion_reads_a_v73_language_mat(tmp_path):
    root = str(tmp_path / "fashion")
    pictures = write_fashiongan(root, v73=True)
    with pytest.raises(NotImplementedError):  # scipy sees a real v7.3 header
        scipy.io.loadmat(os.path.join(root, "benchmark", "language_original.mat"))
    train = deepfashion.read(root, "train")
    assert [r.captions for r in train.records] == [(CAPTIONS[0],), (CAPTIONS[3],)]
    assert [r.label for r in train.records] == [2, 2]
    np.testing.assert_array_equal(train.records[1].load(), pictures[3])


def test_deepfashion_bad_layout_errors(tmp_path):
    root = str(tmp_path / "fashion")
    write_fashiongan(root)
    scipy.io.savemat(os.path.join(root, "benchmark", "language_original.mat"), {"engJ": _cell(CAPTIONS[:4])})
    with pytest.raises(ValueError, match="holds 5 images but .* has 4 captions"):
        deepfashion.read(root, "train")
    os.remove(os.path.join(root, "supervision_signals", "G2.h5"))
    with pytest.raises(FileNotFoundError, match="G2.h5 not found: expected FashionGAN"):
        deepfashion.read(root, "train")
