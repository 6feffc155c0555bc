import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from mimnet_tf.images import load_image
from mimnet_tf.data.synthbirds.captions import captions_for
from mimnet_tf.data.synthbirds.edit_cases import edit_cases
from mimnet_tf.data.synthbirds.palette import PALETTE, PARTS
from mimnet_tf.data.synthbirds.render import render, sample_scene
from mimnet_tf.data.synthbirds.writer import OutputDirError, image_name, write_dataset

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
TINY = dict(num_train=9, num_test=3, size=32, seed=0, captions_per_image=3, num_edit_cases=4, progress=False)


def _read_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def _load_grey(path):
    from PIL import Image

    with Image.open(path) as image:
        assert image.mode == "L"
        return np.asarray(image)


def _tree(root):
    """{relative path: bytes} of every file under root."""
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, root)] = f.read()
    return files


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("synthbirds") / "data")
    return out, write_dataset(out, workers=1, **TINY)


def test_writer_writes_the_cub_layout(tiny):
    out, summary = tiny
    assert summary["num_train"] == 9 and summary["num_test"] == 3 and not summary["skipped"]
    cub = os.path.join(out, "CUB_200_2011")
    scenes = [sample_scene(0, "train", i) for i in range(9)] + [sample_scene(0, "test", i) for i in range(3)]
    names = [image_name(s.split, s.index, s.bird.species) for s in scenes]
    assert _read_lines(os.path.join(cub, "images.txt")) == [f"{i} {n}.png" for i, n in enumerate(names, 1)]
    assert _read_lines(os.path.join(cub, "image_class_labels.txt")) == [
        f"{i} {s.bird.species + 1}" for i, s in enumerate(scenes, 1)
    ]
    assert _read_lines(os.path.join(cub, "train_test_split.txt")) == [f"{i} {int(i <= 9)}" for i in range(1, 13)]
    classes = _read_lines(os.path.join(cub, "classes.txt"))
    assert len(classes) == 20 and classes[0] == "1 001.Scarlet_Tanager"
    assert all(n.split("/")[0] in {c.split()[1] for c in classes} for n in names)
    with open(os.path.join(out, "train", "filenames.pickle"), "rb") as f:
        assert pickle.load(f) == names[:9]
    with open(os.path.join(out, "test", "filenames.pickle"), "rb") as f:
        assert pickle.load(f) == names[9:]
    boxes = _read_lines(os.path.join(cub, "bounding_boxes.txt"))
    for i, (scene, name) in enumerate(zip(scenes, names)):
        rendering = render(scene, 32)
        assert np.array_equal(load_image(os.path.join(cub, "images", name + ".png")), rendering.image)
        assert np.array_equal(_load_grey(os.path.join(out, "masks", name + ".png")), rendering.parts)
        assert _read_lines(os.path.join(out, "text_c10", name + ".txt")) == captions_for(scene, 3)
        box = [float(v) for v in boxes[i].split()[1:]]
        assert boxes[i].split()[0] == str(i + 1)
        np.testing.assert_allclose(box, rendering.bounding_box())
        assert box[2] > 5 and box[3] > 5


def test_writer_writes_the_edit_benchmark(tiny):
    out, _ = tiny
    records = [json.loads(line) for line in _read_lines(os.path.join(out, "edit_cases", "cases.jsonl"))]
    cases = edit_cases(0, 4, num_scenes=3)
    assert [r["case_id"] for r in records] == [c.case_id for c in cases]
    for record, case in zip(records, cases):
        assert record["source"] == case.source.key and record["caption"] == case.caption
        assert record["named"] == dict(case.named) and record["changed"] == list(case.changed)
        assert record["kept"] == list(case.kept)
        assert os.path.exists(os.path.join(out, record["image"]))
        source, target = render(case.source, 32), render(case.target, 32)
        assert np.array_equal(load_image(os.path.join(out, record["source_image"])), source.image)
        assert np.array_equal(load_image(os.path.join(out, record["target_image"])), target.image)
        assert np.array_equal(_load_grey(os.path.join(out, record["mask"])), source.parts)
    identity = [json.loads(line) for line in _read_lines(os.path.join(out, "edit_cases", "identity.jsonl"))]
    assert len(identity) == 3 and all(r["changed"] == [] for r in identity)
    with open(os.path.join(out, "synthbirds.json")) as f:
        metadata = json.load(f)
    assert metadata["seed"] == 0 and metadata["size"] == 32
    assert metadata["counts"] == {"train": 9, "test": 3, "edit_cases": 4, "identity_cases": 3}
    assert metadata["palette"] == {k: list(v) for k, v in PALETTE.items()} and metadata["parts"] == list(PARTS)


def test_rerun_is_idempotent_and_workers_give_the_same_bytes(tiny, tmp_path):
    out, _ = tiny
    before = {p: os.stat(os.path.join(out, p)).st_mtime_ns for p in _tree(out)}
    again = write_dataset(out, workers=1, **TINY)
    assert again["skipped"] and again["num_train"] == 9
    assert {p: os.stat(os.path.join(out, p)).st_mtime_ns for p in _tree(out)} == before
    parallel = str(tmp_path / "parallel")
    write_dataset(parallel, workers=2, **TINY)
    assert _tree(parallel) == _tree(out)


def test_other_settings_are_refused_unless_overwrite(tmp_path):
    out = str(tmp_path / "data")
    small = dict(TINY, num_train=2, num_test=1, num_edit_cases=1)
    write_dataset(out, workers=1, **small)
    with pytest.raises(OutputDirError, match=r"size: 32 -> 16"):
        write_dataset(out, workers=1, **dict(small, size=16))
    summary = write_dataset(out, workers=1, overwrite=True, **dict(small, size=16))
    assert not summary["skipped"]
    name = image_name("train", 0, sample_scene(0, "train", 0).bird.species)
    assert load_image(os.path.join(out, "CUB_200_2011", "images", name + ".png")).shape == (16, 16, 3)


def test_bad_output_directories_give_clear_errors(tmp_path):
    with pytest.raises(OutputDirError, match="No output directory"):
        write_dataset("", 1, 1, progress=False)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(OutputDirError, match="not a directory"):
        write_dataset(str(a_file), 1, 1, progress=False)
    with pytest.raises(OutputDirError, match="Cannot create output directory"):
        write_dataset(str(a_file / "sub"), 1, 1, progress=False)
    with pytest.raises(ValueError, match="num_train and num_test must be >= 1"):
        write_dataset(str(tmp_path / "x"), 0, 1, progress=False)


def test_command_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO)
    command = [sys.executable, "-m", "mimnet_tf.data.synthbirds"]
    missing = subprocess.run(command, capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert missing.returncode != 0 and "--out is required" in missing.stderr
    out = tmp_path / "cli"
    flags = [f"--out={out}", "--num=3", "--num_test=2", "--size=16", "--num_edit_cases=2", "--workers=1"]
    flags.append("--noprogress")
    done = subprocess.run(command + flags, capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["num_train"] == 3
    assert len(_read_lines(out / "CUB_200_2011" / "images.txt")) == 5
    (tmp_path / "blocker").write_text("x")
    failed = subprocess.run(command + ["--out=" + str(tmp_path / "blocker")], capture_output=True, text=True, env=env)
    assert failed.returncode == 1 and "is not a directory" in failed.stderr
