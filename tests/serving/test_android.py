"""The Android app's tokenizer and tensor contract match text.py and the exported metadata."""
import json
import os
import re

import numpy as np
import pytest

from mimnet_tf import images
from mimnet_tf.data import text

APP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "serving", "android", "app", "src",
                                   "main"))
KOTLIN = os.path.join(APP, "java", "org", "mimnet", "demo")


def _read(name: str) -> str:
    with open(os.path.join(KOTLIN, name), encoding="utf-8") as f:
        return f.read()


def _constants(source: str) -> dict:
    """`const val NAME = "..."` / `= 123` / `= 0.5f` declarations of a Kotlin file."""
    found = {}
    for name, value in re.findall(r"const val (\w+)\s*=\s*(\"(?:[^\"\\]|\\.)*\"|[\d.]+f?)", source):
        found[name] = value[1:-1] if value.startswith('"') else float(value.rstrip("f")) if "." in value else int(value)
    return found


def _kotlin_words(caption: str, pattern: str) -> list[str]:
    """Tokenizer.words as Kotlin computes it: on UTF-16 text, A-Z lowered, split by the regex."""
    lowered = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in caption)
    return [w for w in re.split(pattern, lowered) if w]


def test_tokenizer_constants_are_text_py_constants():
    constants = _constants(_read("Tokenizer.kt"))
    assert constants["SEPARATOR_PATTERN"] == text.SEPARATOR_PATTERN
    assert (constants["PAD"], constants["UNK"]) == (text.PAD, text.UNK)
    assert (constants["PAD_ID"], constants["UNK_ID"]) == (text.PAD_ID, text.UNK_ID)


def test_tokenizer_lowers_ascii_only_and_keeps_the_first_max_words():
    source = _read("Tokenizer.kt")
    assert "c in 'A'..'Z'" in source and ".lowercase()" not in source.split("fun lowerAscii")[1]
    assert ".take(maxWords)" in source
    assert "IntArray(maxWords) { PAD_ID }" in source
    # a known word's id; else the correction's; else <unk>, as Vocabulary.read
    assert "val known = ids[word]" in source and "correction.correct(word)" in source and "= UNK_ID" in source


def test_correction_java_constants_are_text_py_constants():
    source = _read("Correction.java")
    assert f"MIN_LENGTH = {text.CORRECTION_MIN_LENGTH};" in source
    assert f"TWO_EDITS_LENGTH = {text.CORRECTION_TWO_EDITS_LENGTH};" in source


def test_python_tensorflow_and_the_android_app_correct_typos_alike(tmp_path):
    """Correction.java, compiled and run, reads a fuzzed word list (swaps of two adjacent letters
    included) as the spec says where one edit decides it, and as Python and the SavedModel's TF
    ops do."""
    import shutil
    import subprocess

    import tensorflow as tf

    from mimnet_tf.data.synthbirds.captions import captions_for
    from mimnet_tf.data.synthbirds.render import sample_scene
    from tests.data.test_text import assert_one_edit_corrections, fuzzed_words

    javac = shutil.which("javac")
    if javac is None:
        pytest.fail("javac is missing: .ci/run installs a JDK (default-jdk-headless) before the tests")
    vocab = text.Vocabulary.build(c for i in range(200) for c in captions_for(sample_scene(0, "train", i)))
    path = vocab.save(str(tmp_path))
    words = fuzzed_words(vocab, seed=1)
    subprocess.run([javac, "-d", str(tmp_path / "classes"), os.path.join(KOTLIN, "Correction.java")], check=True,
                   timeout=120)
    run = subprocess.run(["java", "-cp", str(tmp_path / "classes"), "org.mimnet.demo.Correction", path],
                         input="\n".join(words) + "\n", capture_output=True, text=True, check=True, timeout=120)
    java = [line or None for line in run.stdout.split("\n")[:len(words)]]
    python = [vocab.correct(w) for w in words]
    _, corrected = text.correct_tf(tf.constant(words), text.lookup_table(path))
    assert_one_edit_corrections(vocab, words, java)
    assert java == python
    assert [c.decode() or None for c in corrected.numpy()] == python
    assert sum(c is not None for c in python) > 100


@pytest.mark.parametrize("caption", [
    "this bird has a RED crown, blue wings and a white belly",
    "  Über-blue café wings; 3 spots  ",
    "İstanbul ßtraße ǅ x\u00a0y\tz\nw",
    "emoji 🐦 bird",
    "",
    "...",
    "a-b_c.d/e",
])
def test_kotlin_word_rules_give_text_py_words(caption):
    pattern = _constants(_read("Tokenizer.kt"))["SEPARATOR_PATTERN"]
    assert _kotlin_words(caption, pattern) == text.split_words(caption)


def test_kotlin_caption_messages_match_check_caption():
    source = _read("Tokenizer.kt")
    assert "has only words the model does not know: " in source
    assert "is empty: it has no word made of letters or digits." in source
    assert '"unknown words (ignored): "' in source and "prefix = \"read \"" in source  # Reading.describe
    with pytest.raises(text.CaptionError, match="has only words the model does not know: zzz"):
        text.Vocabulary(["<pad>", "<unk>", "red"]).encode_checked("zzz", 4)


def test_editor_tensor_names_and_metadata_fields_match_the_export(tflite_paths):
    source = _read("Editor.kt")
    constants = _constants(source)
    with open(os.path.splitext(tflite_paths["fp32"])[0] + ".json", encoding="utf-8") as f:
        meta = json.load(f)
    assert [t["name"] for t in meta["inputs"]] == [constants["INPUT_IMAGE"], constants["INPUT_TOKEN_IDS"]]
    assert [t["name"] for t in meta["outputs"]] == [constants["OUTPUT_EDITED_IMAGE"],
                                                    constants["OUTPUT_LOCALISATION_MAP"]]
    assert constants["SIGNATURE_KEY"] == "serving_default"
    for field in re.findall(r'json\.get(?:Int|String|JSONObject)\("(\w+)"\)', source):
        assert field in meta, field
    for field in re.findall(r'getJSONObject\("normalisation"\)\.getDouble\("(\w+)"\)', source):
        assert field in meta["normalisation"]
    # The buffers Editor.kt allocates have the metadata's shapes.
    size, small = meta["image_size"], meta["map_size"]
    assert meta["inputs"][0]["shape"] == [1, size, size, 3] and meta["inputs"][0]["dtype"] == "float32"
    assert meta["inputs"][1]["shape"] == [1, meta["max_words"]] and meta["inputs"][1]["dtype"] == "int32"
    assert meta["outputs"][1]["shape"] == [1, small, small, 1]
    assert "Array(1) { Array(size) { Array(size) { FloatArray(3) } } }" in source
    assert "Array(1) { Array(metadata.mapSize) { Array(metadata.mapSize) { FloatArray(1) } } }" in source
    assert "4 * 3 * size * size" in source  # float32 NHWC image buffer
    assert f'MODEL_FILE = "{os.path.basename(tflite_paths["dynamic"])}"' in _read("MainActivity.kt")


def test_editor_heat_map_and_overlay_match_images_module():
    source = _read("Editor.kt")
    stops = [[int(v) for v in row] for row in re.findall(r"intArrayOf\((\d+), (\d+), (\d+)\)", source)]
    assert len(stops) == 5
    corners = images.heat_map(np.linspace(0, 1, 5, dtype=np.float32))
    assert stops == corners.tolist()
    assert _constants(source)["OVERLAY_ALPHA"] == pytest.approx(0.55)
    assert images.overlay.__defaults__ == (0.55,)


def test_app_files_exist_and_name_the_litert_dependency():
    root = os.path.dirname(os.path.dirname(os.path.dirname(APP)))
    for path in ("settings.gradle.kts", "build.gradle.kts", "app/build.gradle.kts", "README.md",
                 "app/src/main/AndroidManifest.xml", "app/src/main/res/layout/activity_main.xml"):
        assert os.path.isfile(os.path.join(root, path)), path
    with open(os.path.join(root, "app", "build.gradle.kts"), encoding="utf-8") as f:
        gradle = f.read()
    assert 'implementation("com.google.ai.edge.litert:litert:' in gradle
    assert 'noCompress += "tflite"' in gradle
    with open(os.path.join(APP, "res", "layout", "activity_main.xml"), encoding="utf-8") as f:
        layout = f.read()
    for view_id in re.findall(r"R\.id\.(\w+)", _read("MainActivity.kt")):
        assert f'android:id="@+id/{view_id}"' in layout, view_id
