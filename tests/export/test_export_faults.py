"""Faults and abuse lose nothing (exports): an existing export is replaced only with --overwrite
and never with a user's files, a read-only destination is a one-line error, and an export killed
half-way leaves the previous version servable with no temporary folder in a loader's way."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from mimnet_tf import files
from mimnet_tf.inference.editors import resolve_export
from mimnet_tf.export import saved_model, signatures, verify
from mimnet_tf.export.onnx import export_onnx
from mimnet_tf.export.tflite import export_tflite
from mimnet_tf.serving.servable import latest_version
from tests.export import artifacts

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def tree_bytes(folder) -> dict:
    """{relative path: bytes} of every file under `folder`."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            found[os.path.relpath(path, folder)] = open(path, "rb").read()
    return found


def edit_tensors(version_dir, example) -> np.ndarray:
    loaded = tf.saved_model.load(str(version_dir))
    outputs = loaded.signatures[signatures.EDIT_TENSORS](image=tf.constant(example["image"]),
                                                        token_ids=tf.constant(example["token_ids"]))
    return outputs[signatures.EDITED_IMAGE].numpy()


@pytest.mark.slow
def test_a_saved_model_version_is_replaced_only_with_overwrite_and_a_users_files_are_kept(trained, examples, tmp_path):
    version = tmp_path / "models" / "mimnet" / "1"
    saved_model.export_saved_model(trained, str(version))
    exported = tree_bytes(version)
    with pytest.raises(files.OutputError, match="already exists: pass --overwrite"):
        saved_model.export_saved_model(trained, str(version))
    assert tree_bytes(version) == exported

    (version / "notes.txt").write_text("mine")
    (version / "assets" / "labels.txt").write_text("mine too")
    saved_model.export_saved_model(trained, str(version), overwrite=True)
    assert os.path.isfile(version / "saved_model.pb") and not os.path.exists(version / "notes.txt")
    kept = [name for name in os.listdir(version.parent) if name.startswith("1.replaced-")]
    assert len(kept) == 1  # the old version minus what the new one holds: only the user's files
    assert tree_bytes(version.parent / kept[0]) == {"notes.txt": b"mine", os.path.join("assets", "labels.txt"): b"mine too"}
    assert sorted(os.listdir(version.parent)) == ["1", kept[0]]  # no temporary folder left
    assert latest_version(str(version.parent)) == (1, str(version))
    np.testing.assert_allclose(edit_tensors(version, examples[0]),
                               signatures.run_generator(trained.generator, examples[0]["image"],
                                                        examples[0]["token_ids"])[signatures.EDITED_IMAGE], atol=1e-5)


@pytest.mark.slow
def test_tflite_and_onnx_files_are_replaced_only_with_overwrite(trained, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    first = export_tflite(trained, str(folder), ["fp32"])["fp32"]
    written = tree_bytes(folder)
    assert sorted(written) == ["mimnet_fp32.json", "mimnet_fp32.tflite", "notes.txt", "vocab.txt"]
    with pytest.raises(files.OutputError, match="already holds mimnet_fp32.tflite, mimnet_fp32.json: pass --overwrite"):
        export_tflite(trained, str(folder), ["fp32"])
    (folder / "vocab.txt").write_text("<pad>\n<unk>\nmine\n")  # a vocabulary of another model
    with pytest.raises(files.OutputError, match="already holds vocab.txt"):
        export_tflite(trained, str(folder), ["fp16"])  # new files, but the vocabulary would change
    assert tree_bytes(folder) == {**written, "vocab.txt": b"<pad>\n<unk>\nmine\n"}
    assert export_tflite(trained, str(folder), ["fp32"], overwrite=True)["fp32"] == first
    assert tree_bytes(folder)["notes.txt"] == b"mine" and tree_bytes(folder)["vocab.txt"] == written["vocab.txt"]

    path = export_onnx(trained, str(folder))
    assert os.path.isfile(path) and sorted(os.listdir(folder)) == sorted([*written, "mimnet.json", "mimnet.onnx"])
    with pytest.raises(files.OutputError, match="already holds mimnet.onnx, mimnet.json"):
        export_onnx(trained, str(folder))
    assert not [name for name in os.listdir(folder) if files.TEMP_MARK in name]


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody may write into, root included (chmod, plus the immutable attribute for root)."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = os.geteuid() == 0
    if immutable and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        folder.chmod(0o755)
        pytest.skip("running as root where chattr +i is not available: no read-only folder to test with")
    try:
        yield folder
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_read_only_destinations_are_one_line_errors(trained, read_only_dir):
    exports = {
        "SavedModel": lambda: saved_model.export_saved_model(trained, str(read_only_dir / "1")),
        "TFLite": lambda: export_tflite(trained, str(read_only_dir), ["fp32"]),
        "ONNX": lambda: export_onnx(trained, str(read_only_dir)),
    }
    for name, export in exports.items():
        with pytest.raises(files.OutputError) as raised:
            export()
        assert str(raised.value).startswith(f"--out: cannot write into {read_only_dir}"), (name, raised.value)
        assert "\n" not in str(raised.value)
    assert os.listdir(read_only_dir) == []


@pytest.mark.slow
def test_the_export_command_names_a_read_only_destination_in_one_line(model_dir, read_only_dir):
    result = subprocess.run([sys.executable, "-m", "mimnet_tf.export.tflite", f"--checkpoint={model_dir}",
                             f"--out={read_only_dir}", "--variants=fp32"], capture_output=True, text=True, cwd=ROOT,
                            timeout=180, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: --out: cannot write into {read_only_dir}")


@pytest.mark.slow
@pytest.mark.slow
def test_a_refused_export_never_replaces_a_good_one(trained, tmp_path):
    """The checks score an export before it takes its name: with --overwrite, a refused SavedModel or
    TFLite file goes to its .rejected name and the good export already there stays whole."""
    checks = verify.CheckConfig(cases=0, examples=2)
    folder, version = tmp_path / "tflite", tmp_path / "mimnet" / "1"
    export_tflite(trained, str(folder), ["fp32"], checker=verify.Checker(trained, checks))
    saved_model.export_saved_model(trained, str(version), checker=verify.Checker(trained, checks))
    good = {"tflite": tree_bytes(folder), "savedmodel": tree_bytes(version)}

    checker = verify.Checker(trained, checks)  # scores against `trained`, exports an untrained generator
    broken = artifacts.untrained(trained)
    export_tflite(broken, str(folder), ["fp32"], overwrite=True, checker=checker)
    saved_model.export_saved_model(broken, str(version), overwrite=True, checker=checker)
    assert not checker.results["fp32"]["passed"] and not checker.results["savedmodel"]["passed"]
    now = tree_bytes(folder)
    assert {name: data for name, data in now.items() if ".rejected" not in name} == good["tflite"]
    assert sorted(name for name in now if ".rejected" in name) == ["mimnet_fp32.rejected.json", "mimnet_fp32.rejected.tflite"]
    assert checker.results["fp32"]["rejected_to"] == str(folder / "mimnet_fp32.rejected.tflite")
    assert tree_bytes(version) == good["savedmodel"]
    assert checker.results["savedmodel"]["rejected_to"] == str(version) + ".rejected"
    assert sorted(os.listdir(version.parent)) == ["1", "1.rejected"]  # no temporary folder left
    assert os.path.isfile(version.parent / "1.rejected" / "saved_model.pb")
    with open(version.parent / "1.rejected" / saved_model.CHECKS_FILENAME, encoding="utf-8") as f:
        assert json.load(f)["checks"]["passed"] is False


def test_a_killed_export_leaves_the_previous_version_servable(model_dir, trained, examples, tmp_path):
    base = tmp_path / "models" / "mimnet"
    version = base / "1"
    saved_model.export_saved_model(trained, str(version))
    before, edited = tree_bytes(version), edit_tensors(version, examples[0])
    process = subprocess.Popen([sys.executable, "-m", "mimnet_tf.export.saved_model", f"--checkpoint={model_dir}",
                                f"--out={version}", "--overwrite"], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        deadline = time.monotonic() + 180
        # Kill once the export writes: its temporary folder has files (or, as exporters used to, the
        # version folder was emptied).
        while not (any(files.TEMP_MARK in name and os.listdir(base / name) for name in os.listdir(base))
                   or tree_bytes(version) != before):
            assert process.poll() is None and time.monotonic() < deadline, "the export never started writing"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert tree_bytes(version) == before  # the previous version, whole
    assert latest_version(str(base)) == (1, str(version)) and resolve_export(str(base)) == str(version)
    np.testing.assert_array_equal(edit_tensors(version, examples[0]), edited)
    leftovers = [name for name in os.listdir(base) if name != "1"]
    assert leftovers and all(name.startswith(".1.tmp-") for name in leftovers)  # hidden, not a version number

    saved_model.export_saved_model(trained, str(version), overwrite=True)  # the next export tidies up
    assert os.listdir(base) == ["1"]
