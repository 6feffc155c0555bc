"""Editing image files (mimnet_tf/edit.py, edit_lib.py) and the editors behind them (editors.py)."""
import csv
import json
import os

import numpy as np
import pytest
from PIL import Image

from mimnet_tf import images
from mimnet_tf.apps import edit_lib
from mimnet_tf.data.text import CaptionError
from mimnet_tf.inference.editor import Editor
from mimnet_tf.inference.editors import resolve_export
from tests.editing_fixtures import (  # noqa: F401  (fixtures)
    assert_one_line_error,
    run_cli,
    tiny_editor,
    tiny_model_dir,
)

CAPTION = "this bird has red wings and a blue crown"


def _direct_edit(editor, rgb: np.ndarray, caption: str) -> tuple[np.ndarray, np.ndarray]:
    """What an edit must be: the generator on the whole picture resized to S, resized back."""
    size = editor.image_size
    outputs = editor.generator({"image": images.to_model_range(images.resize(rgb, size))[None],
                                "token_ids": editor.vocab.encode(caption, editor.max_words)[0][None]})
    edited = images.to_uint8(outputs["fine"].numpy()[0])
    return images.resize(edited, (rgb.shape[1], rgb.shape[0])), outputs["localisation_map"].numpy()[0, ..., 0]


def _edit_file(editor, path, out, **kwargs) -> dict:
    config = edit_lib.EditConfig(image=str(path), text=kwargs.pop("text", CAPTION), out=str(out), **kwargs)
    return edit_lib.run(config, log=lambda _: None, editor=Editor(editor))


def _load(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


@pytest.fixture(scope="module")
def picture():
    return np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)  # odd, non-square


def test_edit_keeps_the_input_size_and_equals_the_model_output(tiny_editor, picture, tmp_path):
    path = tmp_path / "odd.png"
    images.save_image(str(path), picture)
    written = _edit_file(tiny_editor, path, tmp_path / "out.png", save_map=True)
    edited = _load(written["edited"])
    assert edited.shape == picture.shape  # 53 x 37 in, 53 x 37 out
    expected, values = _direct_edit(tiny_editor, picture, CAPTION)
    assert np.abs(edited.astype(int) - expected.astype(int)).max() <= 1
    overlay = _load(written["map"])
    assert written["map"] == str(tmp_path / "out_map.png")
    assert overlay.shape == picture.shape
    assert np.abs(overlay.astype(int) - images.overlay(picture, values).astype(int)).max() <= 1


def test_grey_input_edits_like_the_same_picture_in_rgb(tiny_editor, tmp_path):
    grey = np.random.default_rng(1).integers(0, 256, (40, 24), dtype=np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    images.save_image(str(tmp_path / "rgb.png"), np.repeat(grey[..., None], 3, axis=-1))
    a = _load(_edit_file(tiny_editor, tmp_path / "grey.png", tmp_path / "a.png")["edited"])
    b = _load(_edit_file(tiny_editor, tmp_path / "rgb.png", tmp_path / "b.png")["edited"])
    assert a.shape == (40, 24, 3)
    np.testing.assert_array_equal(a, b)


def test_transparent_rgba_is_edited_as_white(tiny_editor, tmp_path):
    rgba = np.zeros((30, 30, 4), np.uint8)
    rgba[..., :3] = np.random.default_rng(2).integers(0, 256, (30, 30, 3))  # colours hidden by alpha 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "clear.png")
    images.save_image(str(tmp_path / "white.png"), np.full((30, 30, 3), 255, np.uint8))
    a = _load(_edit_file(tiny_editor, tmp_path / "clear.png", tmp_path / "a.png")["edited"])
    b = _load(_edit_file(tiny_editor, tmp_path / "white.png", tmp_path / "b.png")["edited"])
    assert a.shape == (30, 30, 3)
    np.testing.assert_array_equal(a, b)


def test_jpeg_in_and_out(tiny_editor, picture, tmp_path):
    Image.fromarray(picture).save(tmp_path / "in.jpg", quality=90)
    written = _edit_file(tiny_editor, tmp_path / "in.jpg", tmp_path / "out.jpg")
    with Image.open(written["edited"]) as result:
        assert result.format == "JPEG" and result.size == (53, 37)


@pytest.mark.parametrize("text, fragment", [
    ("", "--text is empty"),
    ("  !!  ", "is empty"),
    ("zork blorp", "zork, blorp"),  # names the unknown words
])
def test_unusable_captions_are_caption_errors(tiny_editor, picture, tmp_path, text, fragment):
    images.save_image(str(tmp_path / "in.png"), picture)
    with pytest.raises(CaptionError, match=fragment):
        _edit_file(tiny_editor, tmp_path / "in.png", tmp_path / "out.png", text=text)
    assert not os.path.exists(tmp_path / "out.png")


def test_bad_inputs_are_errors_that_name_them(tiny_editor, tmp_path):
    with pytest.raises(images.ImageError, match="not found"):
        _edit_file(tiny_editor, tmp_path / "missing.png", tmp_path / "out.png")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(images.ImageError, match="corrupt.png: not a readable image"):
        _edit_file(tiny_editor, tmp_path / "corrupt.png", tmp_path / "out.png")
    with pytest.raises(edit_lib.EditError, match="unknown image extension"):
        _edit_file(tiny_editor, tmp_path / "corrupt.png", tmp_path / "out.txt")
    with pytest.raises(edit_lib.EditError, match="exactly one of --image"):
        edit_lib.run(edit_lib.EditConfig(text=CAPTION), editor=Editor(tiny_editor))


def test_manifest_edits_every_row_into_a_folder(tiny_editor, picture, tmp_path):
    images.save_image(str(tmp_path / "a.png"), picture)
    Image.fromarray(picture[:20, :20, 0], "L").save(tmp_path / "b.png")
    with open(tmp_path / "edits.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerows([["image", "text"], ["a.png", CAPTION], ["b.png", "a bird with green wings"],
                          ["a.png", "this bird has whte belly, zork"]])
    result = edit_lib.run(edit_lib.EditConfig(manifest=str(tmp_path / "edits.csv"), out=str(tmp_path / "out"),
                                              save_map=True, batch_size=2), log=lambda _: None, editor=Editor(tiny_editor))
    out = tmp_path / "out"
    assert [r["edited"] for r in result["index"]] == ["0000_a.png", "0001_b.png", "0002_a.png"]
    assert _load(out / "0001_b.png").shape == (20, 20, 3) and _load(out / "0001_b_map.png").shape == (20, 20, 3)
    expected, _ = _direct_edit(tiny_editor, picture, "this bird has white belly, zork")  # "whte" read as "white"
    assert np.abs(_load(out / "0002_a.png").astype(int) - expected.astype(int)).max() <= 1
    with open(out / edit_lib.INDEX_FILENAME, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["text"] for r in rows] == [CAPTION, "a bird with green wings", "this bird has whte belly, zork"]
    assert [(r["corrected_words"], r["unknown_words"]) for r in rows] == [("", ""), ("", "with"), ("whte>white", "zork")]
    # JSON Lines works the same.
    with open(tmp_path / "edits.jsonl", "w", encoding="utf-8") as f:
        f.write(json.dumps({"image": "b.png", "text": CAPTION}) + "\n")
    result = edit_lib.run(edit_lib.EditConfig(manifest=str(tmp_path / "edits.jsonl"), out=str(tmp_path / "j")),
                          log=lambda _: None, editor=Editor(tiny_editor))
    assert os.path.exists(tmp_path / "j" / "0000_b.png") and result["index"][0]["map"] == ""


def test_a_manifest_with_bad_rows_edits_nothing_and_names_them(tiny_editor, picture, tmp_path):
    images.save_image(str(tmp_path / "a.png"), picture)
    (tmp_path / "edits.csv").write_text(f"image,text\na.png,{CAPTION}\nnope.png,{CAPTION}\na.png,zork\n")
    with pytest.raises(edit_lib.EditError, match=r"2 bad row\(s\).*line 3.*nope.png.*line 4.*zork"):
        edit_lib.run(edit_lib.EditConfig(manifest=str(tmp_path / "edits.csv"), out=str(tmp_path / "out")),
                     editor=Editor(tiny_editor))
    assert not os.path.exists(tmp_path / "out")
    (tmp_path / "bad.csv").write_text("picture,words\na.png,red\n")
    with pytest.raises(edit_lib.EditError, match="lacks image and text"):
        edit_lib.read_manifest(str(tmp_path / "bad.csv"))


def test_resolve_export_finds_the_newest_version_and_rejects_others(tmp_path):
    for version in ("1", "12", "3"):
        os.makedirs(tmp_path / "base" / version)
        (tmp_path / "base" / version / "saved_model.pb").write_bytes(b"")
    assert resolve_export(str(tmp_path / "base")) == str(tmp_path / "base" / "12")
    (tmp_path / "x.onnx").write_bytes(b"")
    with pytest.raises(ValueError, match="not a .tflite file"):
        resolve_export(str(tmp_path / "x.onnx"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        resolve_export(str(tmp_path / "nothing"))


def test_cli_missing_image_is_one_line_with_exit_code_2(tmp_path):
    process = run_cli("mimnet_tf.edit", "--checkpoint=/nonexistent", f"--image={tmp_path}/missing.png",
                      f"--text={CAPTION}", f"--out={tmp_path}/out.png")
    assert_one_line_error(process, "edit", "Image file not found", "missing.png")


@pytest.mark.slow
def test_cli_edits_and_names_unknown_words(tiny_model_dir, picture, tmp_path):
    images.save_image(str(tmp_path / "in.png"), picture)
    common = [f"--checkpoint={tiny_model_dir}", f"--image={tmp_path}/in.png"]
    process = run_cli("mimnet_tf.edit", *common, "--text=zork blorp", f"--out={tmp_path}/x.png")
    assert_one_line_error(process, "edit", "zork, blorp")
    typed = "please " + CAPTION.replace("blue", "blu")
    process = run_cli("mimnet_tf.edit", *common, f"--text={typed}", f"--out={tmp_path}/out.png", "--save_map")
    assert process.returncode == 0, process.stderr
    assert _load(tmp_path / "out.png").shape == picture.shape and _load(tmp_path / "out_map.png").shape == picture.shape
    assert process.stdout.splitlines() == [
        f"Edited image (53x37): {tmp_path}/out.png; localisation map overlay: {tmp_path}/out_map.png",
        "Read 'blu' as 'blue'; unknown words (ignored): please."]
    # --preset takes a model path too, and is one of three ways to name the model.
    process = run_cli("mimnet_tf.edit", f"--preset={tiny_model_dir}", f"--image={tmp_path}/in.png",
                      f"--text={typed}", f"--out={tmp_path}/preset.png")
    assert process.returncode == 0, process.stderr
    np.testing.assert_array_equal(_load(tmp_path / "preset.png"), _load(tmp_path / "out.png"))
    process = run_cli("mimnet_tf.edit", *common, "--preset=synthbirds64", f"--text={CAPTION}", f"--out={tmp_path}/x.png")
    assert_one_line_error(process, "edit", "give exactly one of --preset", "got --preset and --checkpoint")
    process = run_cli("mimnet_tf.edit", "--preset=synthbirds32", f"--image={tmp_path}/in.png", f"--text={CAPTION}",
                      f"--out={tmp_path}/x.png")
    assert_one_line_error(process, "edit", "preset 'synthbirds32'", "synthbirds64, synthbirds128")


@pytest.mark.slow
def test_exported_models_edit_like_the_checkpoint(tmp_path_factory, tiny_editor, picture, tmp_path):
    """--model runs the same edit on a SavedModel (edit_tensors) and a TFLite file (LiteRT)."""
    from mimnet_tf.export.tflite import export_tflite
    from mimnet_tf.inference.editors import LiteRTEditor, SavedModelEditor, load_editor
    from tests.export import artifacts

    basetemp = str(tmp_path_factory.getbasetemp())
    saved_model = artifacts.saved_model_base(basetemp)  # the TF Serving base dir: newest version used
    tflite = export_tflite(artifacts.trained(basetemp), str(tmp_path / "tflite"), ["fp32"])["fp32"]
    images.save_image(str(tmp_path / "in.png"), picture)
    reference = _load(_edit_file(tiny_editor, tmp_path / "in.png", tmp_path / "ref.png")["edited"]).astype(int)
    squares = np.stack([images.resize(picture, 32)] * 3)  # 3 images: a batch-1 TFLite model loops
    reference_edits, reference_maps = tiny_editor.edit(squares, [CAPTION] * 3)
    for model, kind in ((saved_model, SavedModelEditor), (tflite, LiteRTEditor)):
        editor = load_editor(model=model)
        assert isinstance(editor, kind) and editor.image_size == 32 and editor.max_words == tiny_editor.max_words
        edited = _load(_edit_file(editor, tmp_path / "in.png", tmp_path / f"{kind.name}.png")["edited"])
        assert np.abs(edited.astype(int) - reference).max() <= 2
        edits, maps = editor.edit(squares, [CAPTION] * 3)
        assert np.abs(edits.astype(int) - reference_edits.astype(int)).max() <= 2
        np.testing.assert_allclose(maps, reference_maps, atol=1e-4)
        with pytest.raises(CaptionError, match="zork"):
            _edit_file(editor, tmp_path / "in.png", tmp_path / "x.png", text="zork")
