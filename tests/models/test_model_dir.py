"""ModelDir: the one place that knows a model directory's layout."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mimnet_tf import testing
from mimnet_tf.data.text import Vocabulary
from mimnet_tf.inference.editors import resolve_checkpoint
from mimnet_tf.models.model_dir import ModelDir

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _touch(path: str, text: str = "") -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def test_reads_the_config_vocabulary_and_newest_checkpoint_of_a_run(tmp_path):
    directory = ModelDir(str(tmp_path / "run"))
    assert not directory.has_config() and directory.newest_checkpoint() is None
    os.makedirs(directory.checkpoint_dir)
    config = testing.tiny_run_config(str(tmp_path / "prepared"), directory.path, image_size=16)
    config.save(directory.config_path)
    Vocabulary(["<pad>", "<unk>", "bird", "blue", "wings"]).save(directory.path)
    for step in (5, 40, 7):
        _touch(os.path.join(directory.checkpoint_dir, f"ckpt-{step}.index"))
        _touch(os.path.join(directory.checkpoint_dir, f"ckpt-{step}.data-00000-of-00001"))
    # The `checkpoint` state file names an older one: the newest is found by the file names.
    _touch(os.path.join(directory.checkpoint_dir, "checkpoint"), 'model_checkpoint_path: "ckpt-7"\n')

    assert directory.has_config()
    assert directory.config() == config
    assert directory.vocab().words == ["<pad>", "<unk>", "bird", "blue", "wings"]
    assert directory.newest_checkpoint() == os.path.join(directory.path, "checkpoints", "ckpt-40")
    run = directory.run_config()
    assert (run.model.vocab_size, run.model.image_size, run.model.max_words) == (5, 16, config.data.max_words)
    assert [os.path.basename(p) for p in (directory.config_path, directory.vocab_path, directory.log_path,
                                          directory.summary_path, directory.lock_path)] == [
        "config.json", "vocab.txt", "train_log.jsonl", "train_summary.json", "train.lock"]


def test_the_shipped_models_read_through_it():
    for name in ("synthbirds64", "synthbirds128"):
        directory = ModelDir(os.path.join(REPO, "pretrained", name))
        prefix = directory.newest_checkpoint()
        assert prefix and os.path.exists(prefix + ".index"), name
        assert directory.run_config().model.vocab_size == len(directory.vocab())


def test_a_checkpoint_argument_names_its_model_directory(tmp_path):
    """What `--checkpoint` of edit / evaluate / benchmark_edits accepts (editors.resolve_checkpoint)."""
    shipped = os.path.join(REPO, "pretrained", "synthbirds64")
    assert ModelDir.of_checkpoint(shipped) == (ModelDir(shipped), "")
    prefix = ModelDir(shipped).newest_checkpoint()
    assert ModelDir.of_checkpoint(prefix) == (ModelDir(shipped), prefix)
    assert resolve_checkpoint(prefix) == (shipped, prefix)
    with pytest.raises(FileNotFoundError, match=r"--checkpoint=.*ckpt-9: no such model directory"):
        ModelDir.of_checkpoint(str(tmp_path / "run" / "checkpoints" / "ckpt-9"))


def test_importing_it_loads_no_tensorflow():
    """Entry points read a run's config.json before they decide to load TensorFlow."""
    code = "import sys, mimnet_tf.models.model_dir; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]
