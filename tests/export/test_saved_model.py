"""The SavedModel: layout, parity with Keras, every signature through TF Serving's (TF1) loader."""
import io
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from mimnet_tf.export import common, saved_model, signatures
from mimnet_tf import images
from mimnet_tf.config import ExportConfig

pytestmark = pytest.mark.slow
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _png(array, mode=None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, "PNG")
    return buffer.getvalue()


def _jpeg_grey(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array[..., 0]).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def tf1_session(saved_model_dir):
    """The SavedModel loaded as TF Serving loads it: TF1 loader, tag "serve", its init op run."""
    graph = tf.Graph()
    with graph.as_default():
        session = tf.compat.v1.Session(graph=graph)
        meta_graph = tf.compat.v1.saved_model.loader.load(session, [signatures.SERVE_TAG], saved_model_dir)
    yield session, meta_graph.signature_def
    session.close()


def _run(tf1_session, key, feeds):
    session, defs = tf1_session
    signature = defs[key]
    fetches = {name: info.name for name, info in signature.outputs.items()}
    return session.run(fetches, {signature.inputs[name].name: value for name, value in feeds.items()})


def test_layout_is_a_tf_serving_version_with_the_vocabulary_as_asset(saved_model_dir, model_dir):
    assert os.path.basename(saved_model_dir) == "1"
    assert os.path.isfile(os.path.join(saved_model_dir, "saved_model.pb"))
    assert os.path.isfile(os.path.join(saved_model_dir, "variables", "variables.index"))
    with open(os.path.join(saved_model_dir, "assets", "vocab.txt"), encoding="utf-8") as f:
        exported = f.read()
    with open(os.path.join(model_dir, "vocab.txt"), encoding="utf-8") as f:
        assert exported == f.read()


def test_graph_uses_core_tf_ops_only(saved_model_dir):
    """A stock TF Serving binary has no tensorflow-text kernels: every op must be a core op."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    graph = proto.meta_graphs[0].graph_def
    ops = {node.op for node in graph.node}
    ops |= {node.op for function in graph.library.function for node in function.node_def}
    called = {function.signature.name for function in graph.library.function}
    custom = sorted(op for op in ops - called if not hasattr(tf.raw_ops, op))
    assert custom == []
    assert {"StaticRegexReplace", "StringSplitV2", "LookupTableFindV2", "DecodeImage", "EncodePng"} <= ops


def test_edit_tensors_equals_keras(saved_model_dir, trained, examples):
    parity = saved_model.saved_model_parity(trained, saved_model_dir, examples)
    print(f"SavedModel edit_tensors vs Keras: max abs diff {parity['max_abs_diff']:.2e}")
    assert parity["max_abs_diff"] < 1e-5
    # A batch of several examples (dynamic batch) too.
    batch = common.group(examples, len(examples))[0]
    loaded = tf.saved_model.load(saved_model_dir).signatures[signatures.EDIT_TENSORS]
    outputs = {k: v.numpy() for k, v in loaded(image=tf.constant(batch["image"]),
                                               token_ids=tf.constant(batch["token_ids"])).items()}
    assert common.max_abs_diff(common.keras_outputs(trained, batch["image"], batch["token_ids"]), outputs) < 1e-5


def test_tf1_loader_sees_three_signatures_and_edit_tensors_equals_keras(tf1_session, trained, examples):
    _, defs = tf1_session
    assert {signatures.EDIT, signatures.EDIT_TENSORS, signatures.SERVING_DEFAULT} <= set(defs)
    assert set(defs[signatures.EDIT].inputs) == {"image_bytes", "text"}
    assert set(defs[signatures.EDIT].outputs) == {"edited_image_bytes", "localisation_map_bytes", "corrected_words",
                                                   "unknown_words"}
    assert set(defs[signatures.EDIT_TENSORS].outputs) == {"edited_image", "localisation_map"}
    example = examples[0]
    outputs = _run(tf1_session, signatures.EDIT_TENSORS, {"image": example["image"], "token_ids": example["token_ids"]})
    reference = common.keras_outputs(trained, example["image"], example["token_ids"])
    assert common.max_abs_diff(reference, outputs) < 1e-5


def test_tf1_edit_at_model_size_equals_keras_to_one_level(tf1_session, trained, examples):
    example = examples[1]
    pixels = images.to_uint8(example["image"][0])  # exactly representable: the test images are uint8
    ids = trained.vocab.encode(example["caption"], trained.config.model.max_words)[0]
    np.testing.assert_array_equal(ids, example["token_ids"][0])  # TF tokenizer == Python tokenizer
    outputs = _run(tf1_session, signatures.EDIT, {"image_bytes": [images.encode_png(pixels)],
                                                   "text": [example["caption"].encode()]})
    reference = common.keras_outputs(trained, images.to_model_range(pixels)[None], example["token_ids"])
    edited = images.decode_image(outputs["edited_image_bytes"][0])
    expected = images.to_uint8(reference["edited_image"][0])
    assert np.abs(edited.astype(int) - expected.astype(int)).max() <= 1
    size = trained.config.model.image_size
    heat = images.decode_image(outputs["localisation_map_bytes"][0])
    values = tf.image.resize(reference["localisation_map"][0], [size, size], method="bilinear").numpy()[..., 0]
    assert heat.shape == (size, size, 3)
    assert np.abs(heat.astype(int) - images.heat_map(values).astype(int)).max() <= 1


def test_tf1_edit_returns_pngs_at_each_inputs_size_for_any_mode(tf1_session, saved_model_dir):
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    rgba = np.concatenate([rgb[:30, :20], rng.integers(0, 256, (30, 20, 1), dtype=np.uint8)], -1)
    inputs = [_png(rgb), _png(rgba, "RGBA"), _jpeg_grey(rng.integers(0, 256, (70, 25, 3), dtype=np.uint8))]
    captions = [b"a red bird", b"BLUE wings!", b"this bird has a green tail and zzz"]
    outputs = _run(tf1_session, signatures.EDIT, {"image_bytes": inputs, "text": captions})
    for data, edited, heat in zip(inputs, outputs["edited_image_bytes"], outputs["localisation_map_bytes"]):
        height, width = images.decode_image(data).shape[:2]
        assert edited.startswith(b"\x89PNG") and heat.startswith(b"\x89PNG")
        assert images.decode_image(edited).shape == (height, width, 3)
        assert images.decode_image(heat).shape == (height, width, 3)
    default = _run(tf1_session, signatures.SERVING_DEFAULT, {"image_bytes": inputs, "text": captions})
    assert list(default["edited_image_bytes"]) == list(outputs["edited_image_bytes"])


def test_tf1_edit_reports_corrected_and_unknown_words_as_python_reads_them(tf1_session, trained, examples):
    words = [w for w in trained.vocab.words[2:] if len(w) >= 4][:3]
    typos = [w[:-1] + ("q" if w[-1] != "q" else "z") for w in words]  # one letter replaced
    captions = [f"{typos[0]} and {words[1]} zzzzqq", " ".join(typos), example_caption := examples[0]["caption"]]
    pixels = images.to_uint8(examples[0]["image"][0])
    outputs = _run(tf1_session, signatures.EDIT, {"image_bytes": [images.encode_png(pixels)] * 3,
                                                   "text": [c.encode() for c in captions]})
    max_words = trained.config.model.max_words
    for caption, corrected, unknown in zip(captions, outputs["corrected_words"], outputs["unknown_words"]):
        reading = trained.vocab.read(caption, max_words)
        assert corrected.decode() == " ".join(f"{a}>{b}" for a, b in reading.corrections)
        assert unknown.decode() == " ".join(reading.unknown)
    assert outputs["unknown_words"][0] == b"zzzzqq" and outputs["corrected_words"][0] == f"{typos[0]}>{words[0]}".encode()
    assert outputs["corrected_words"][2] == b"" and outputs["unknown_words"][2] == b"" and example_caption


@pytest.mark.parametrize("caption", [b"", b"?!", b"zzz qqq"])
def test_tf1_edit_rejects_captions_without_a_known_word(tf1_session, caption):
    png = _png(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError, match="no word of the model vocabulary") as error:
        _run(tf1_session, signatures.EDIT, {"image_bytes": [png, png], "text": [b"a red bird", caption]})
    assert caption.decode() in error.value.message


def test_tf1_edit_rejects_undecodable_images(tf1_session):
    with pytest.raises(tf.errors.InvalidArgumentError, match="Unknown image file format"):
        _run(tf1_session, signatures.EDIT, {"image_bytes": [b"GIF89a but truncated"[:3] + b"xx"], "text": [b"red"]})


def test_saved_model_cli_shows_all_signatures(saved_model_dir):
    result = subprocess.run([sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show", "--all",
                             "--dir", saved_model_dir], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    shown = result.stdout
    for key in ("edit", "edit_tensors", "serving_default"):
        assert f"signature_def['{key}']" in shown
    assert "inputs['image_bytes'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1)" in shown
    assert "inputs['token_ids'] tensor_info:\n        dtype: DT_INT32\n        shape: (-1, 12)" in shown
    assert "inputs['image'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 32, 32, 3)" in shown
    assert "outputs['localisation_map'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 8, 8, 1)" in shown
    assert "outputs['edited_image_bytes']" in shown and "outputs['localisation_map_bytes']" in shown
    assert "Method name is: tensorflow/serving/predict" in shown


def test_export_refuses_bad_output_directories(trained, tmp_path):
    with pytest.raises(ValueError, match="version number"):
        saved_model.export_saved_model(trained, str(tmp_path / "models" / "mimnet"))
    occupied = tmp_path / "models" / "mimnet" / "2"
    occupied.mkdir(parents=True)
    (occupied / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a SavedModel"):
        saved_model.export_saved_model(trained, str(occupied))
    assert (occupied / "notes.txt").read_text() == "mine"


def test_main_names_a_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="--checkpoint=.*no such directory"):
        saved_model.main(ExportConfig(checkpoint=str(tmp_path / "missing"), out=str(tmp_path / "m" / "1")))


def test_entry_point_prints_one_line_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mimnet_tf.export.saved_model", f"--checkpoint={tmp_path / 'missing'}",
                             f"--out={tmp_path / 'm' / '1'}"], capture_output=True, text=True, cwd=ROOT,
                            timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: --checkpoint=")
