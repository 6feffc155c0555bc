"""mimnet_tf.serving.tflite_edit: the LiteRT runner the apps mirror (tokenizer, value ranges, sizes, CLI)."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from mimnet_tf.export import common
from mimnet_tf import images
from mimnet_tf.data import text
from mimnet_tf.serving.tflite_edit import TFLiteEditor

pytestmark = pytest.mark.slow
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CAPTIONS = ["this bird has a RED crown, blue wings", "Über-blue café wings; 3 spots", "",
            "a " * 30, "zzz red", "the BLACK-and-white tail!!"]


@pytest.fixture(scope="module")
def editor(tflite_paths):
    return TFLiteEditor(tflite_paths["fp32"])


def test_token_ids_follow_the_one_spec_like_the_saved_model(editor, tflite_paths):
    vocab_path = os.path.join(os.path.dirname(tflite_paths["fp32"]), "vocab.txt")
    max_words = editor.model.max_words
    in_graph = text.tokenize_tf(tf.constant(CAPTIONS), text.lookup_table(vocab_path), max_words, splitter="core")
    for caption, graph_ids in zip(CAPTIONS, in_graph.numpy()):
        ids, _ = editor.vocab.encode(caption, max_words)
        np.testing.assert_array_equal(ids, graph_ids)
        if np.any(ids > text.UNK_ID):
            np.testing.assert_array_equal(editor.token_ids(caption)[0], ids)


@pytest.mark.parametrize("caption, message", [("", "is empty"), ("?!", "is empty"), ("zzz qqq", "zzz, qqq")])
def test_unusable_captions_raise_caption_error(editor, caption, message):
    with pytest.raises(text.CaptionError, match=message):
        editor.token_ids(caption)


def test_edit_at_model_size_equals_keras_to_one_level(editor, trained):
    example = common.parity_batches(trained, 1)[0]
    pixels = images.to_uint8(example["image"][0])
    result = editor.edit(pixels, example["caption"])
    reference = common.keras_outputs(trained, images.to_model_range(pixels)[None], example["token_ids"])
    assert np.abs(result.edited.astype(int) - images.to_uint8(reference["edited_image"][0]).astype(int)).max() <= 1
    np.testing.assert_allclose(result.localisation_map, reference["localisation_map"][0, :, :, 0], atol=1e-4)


def test_edit_returns_images_at_the_input_size(editor):
    photo = np.random.default_rng(0).integers(0, 256, (45, 70, 3), dtype=np.uint8)
    result = editor.edit(photo, "a yellow belly")
    assert result.edited.shape == result.map_overlay.shape == (45, 70, 3)
    assert result.edited.dtype == np.uint8
    size = editor.model.metadata["map_size"]
    assert result.localisation_map.shape == (size, size)
    assert np.all((result.localisation_map >= 0) & (result.localisation_map <= 1))


def test_entry_point_writes_the_edit_and_the_map_without_tensorflow(tflite_paths, tmp_path):
    image_path = tmp_path / "bird.png"
    images.save_image(str(image_path), np.random.default_rng(1).integers(0, 256, (40, 30, 3), dtype=np.uint8))
    command = [sys.executable, "-m", "mimnet_tf.serving.tflite_edit", f"--model={tflite_paths['int8']}", f"--image={image_path}", f"--out={tmp_path / 'out.png'}"]
    result = subprocess.run(command + ["--text=a blue crown"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert images.load_image(str(tmp_path / "out.png")).shape == (40, 30, 3)
    assert images.load_image(str(tmp_path / "out_map.png")).shape == (40, 30, 3)
    result = subprocess.run(command + ["--text=zebra"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: The caption 'zebra' has only words the model does not know: zebra. "
        "Use words from the vocabulary file shipped beside the model.")
    probe = subprocess.run([sys.executable, "-c", "import sys, mimnet_tf.serving.tflite_edit as m; "
                            "m.TFLiteEditor(sys.argv[1]); print('tensorflow' in sys.modules)", tflite_paths["fp32"]],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert probe.stdout.strip().splitlines()[-1] == "False", probe.stderr[-2000:]
