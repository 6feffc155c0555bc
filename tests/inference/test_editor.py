"""mimnet_tf.Editor (mimnet_tf/inference/editor.py), its presets (presets.py), and the documentation that shows them
(docs/python_api.md: the quickstart command and the Python example, run as written)."""
import doctest
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mimnet_tf.inference import editor as editor_module
from mimnet_tf import images
from mimnet_tf.inference import presets
from mimnet_tf.models.model_dir import ModelDir
from mimnet_tf.data.text import CaptionError
from mimnet_tf.inference.editor import Editor, as_rgb
from tests.doc_blocks import REPO, block_after, fenced_block, make_install_is_done, repository_view
from tests.editing_fixtures import tiny_editor, tiny_model_dir  # noqa: F401  (fixtures)

DOC = os.path.join(REPO, "docs", "python_api.md")
BIRD = os.path.join(REPO, "docs", "bird.png")
CAPTION = "this bird has red wings and a blue crown"


def _direct(backend, picture: np.ndarray, caption: str) -> np.ndarray:
    """The backend's edit of the whole picture resized to S, resized back: what Editor must return."""
    square = images.resize(picture, backend.image_size)[None]
    edited, _ = backend.edit(square, [caption])
    return images.resize(edited[0], (picture.shape[1], picture.shape[0]))


def test_import_is_instant_and_tensorflow_waits_for_a_model():
    code = ("import sys, mimnet_tf; before = 'tensorflow' in sys.modules; cls = mimnet_tf.Editor; "
            "print(before, 'tensorflow' in sys.modules, cls.__name__, sorted(cls.presets))")
    process = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    assert process.stdout.split() == ["False", "False", "Editor", "['synthbirds128',", "'synthbirds64']"]


def test_every_kind_of_image_becomes_the_same_rgb_array(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    images.save_image(str(tmp_path / "p.png"), rgb)
    for image in (str(tmp_path / "p.png"), tmp_path / "p.png", Image.fromarray(rgb), rgb, rgb / 255.0,
                  rgb.astype(np.int64), np.concatenate([rgb, np.full((7, 5, 1), 255, np.uint8)], axis=-1)):
        np.testing.assert_array_equal(as_rgb(image), rgb)
    grey = rgb[..., 0]
    for image in (grey, grey[..., None], Image.fromarray(grey, "L")):
        np.testing.assert_array_equal(as_rgb(image), np.repeat(grey[..., None], 3, axis=-1))
    clear = np.zeros((4, 4, 4), np.uint8)  # colours hidden by alpha 0: white
    np.testing.assert_array_equal(as_rgb(clear), np.full((4, 4, 3), 255, np.uint8))


@pytest.mark.parametrize("image, fragment", [
    (np.full((4, 4, 3), 2.0), r"values in \[2, 2\]; expected \[0, 1\]"),
    (np.full((4, 4, 3), np.nan), "NaN or infinite values; expected [0, 1]"),
    (np.zeros((4, 4, 2), np.uint8), r"shape \(4, 4, 2\)"),
    (np.zeros((0, 4, 3), np.uint8), r"shape \(0, 4, 3\)"),
    (np.full((4, 4, 3), 300), "expected uint8 in [0, 255]"),
    (np.zeros((4, 4, 3), bool), "a bool array"),
    (12, "a int; expected a file path"),
])
def test_bad_images_are_image_errors_that_name_them(image, fragment):
    with pytest.raises(images.ImageError, match=re.escape(fragment) if "\\" not in fragment else fragment) as error:
        as_rgb(image, "images[3]")
    assert str(error.value).startswith("images[3]: ")


def test_edit_is_the_model_at_the_inputs_size_alone_or_in_a_batch(tiny_editor):
    editor = Editor(tiny_editor)
    rng = np.random.default_rng(1)
    pictures = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in ((37, 53, 3), (32, 32, 3), (20, 64, 3))]
    captions = [CAPTION, "a bird with green wings", "this bird has a white belly"]
    one = editor.edit(pictures[0], CAPTION)
    assert isinstance(one, editor_module.EditResult)
    assert one.edited.shape == (37, 53, 3) and one.map_overlay.shape == (37, 53, 3)
    assert np.abs(one.edited.astype(int) - _direct(tiny_editor, pictures[0], CAPTION).astype(int)).max() <= 1
    assert one.text == CAPTION and one.unknown_words == ()
    for batch_size in (16, 2):  # one model call, and two (the second of one image)
        results = editor.edit(pictures, captions, batch_size=batch_size)
        assert [r.edited.shape for r in results] == [p.shape for p in pictures]
        for picture, caption, result in zip(pictures, captions, results):
            assert np.abs(result.edited.astype(int) - _direct(tiny_editor, picture, caption).astype(int)).max() <= 1
            assert result.localisation_map.dtype == np.float32
            assert 0.0 <= result.localisation_map.min() and result.localisation_map.max() <= 1.0
    stacked = editor.edit(np.stack([pictures[1]] * 2), [CAPTION, CAPTION])  # a (B, H, W, 3) array is a batch
    np.testing.assert_array_equal(stacked[0].edited, stacked[1].edited)


def test_typos_and_unknown_words_are_reported_and_a_sentence_of_none_known_is_refused(tiny_editor, monkeypatch):
    editor = Editor(tiny_editor)
    picture = np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    result = editor.edit(picture, "please make this bird have blu wings, zork")
    assert result.corrected_words == (("blu", "blue"),)
    assert result.unknown_words == ("please", "make", "have", "zork")
    assert editor_module.describe_caption(result) == \
        "Read 'blu' as 'blue'; unknown words (ignored): please, make, have, zork."
    # The model was given "blue": the same edit as the sentence typed right.
    np.testing.assert_array_equal(result.edited, editor.edit(picture, "please make this bird have blue wings, zork").edited)
    assert editor_module.describe_caption(editor.edit(picture, CAPTION)) == "Every word is known to the model."
    calls = []
    run = tiny_editor.outputs
    monkeypatch.setattr(tiny_editor, "outputs", lambda *a, **k: calls.append(a) or run(*a, **k))
    with pytest.raises(CaptionError, match="zork, blorp"):
        editor.edit([picture, picture], [CAPTION, "zork blorp"], batch_size=1)
    assert calls == []  # checked before the model ran on the good first sentence


@pytest.mark.parametrize("images_, texts, fragment", [
    ("one", ["a", "b"], "got one image"),
    ("docs/bird.png", ["a", "b"], "got one image"),  # not its characters
    ([np.zeros((4, 4, 3), np.uint8)] * 2, "red wings", "2 images but one sentence"),
    ([np.zeros((4, 4, 3), np.uint8)] * 2, ["red wings"], "2 images but 1 sentences"),
    ([np.zeros((4, 4, 3), np.uint8)], [3], "expected a string or a list of strings"),
])
def test_mismatched_images_and_sentences_are_value_errors(tiny_editor, images_, texts, fragment):
    if images_ == "one":
        images_ = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match=fragment):
        Editor(tiny_editor).edit(images_, texts)


def test_a_preset_is_a_shipped_name_or_a_path_to_any_model(tmp_path, tiny_model_dir):
    assert presets.resolve("synthbirds64") == {"checkpoint": os.path.join(REPO, "pretrained", "synthbirds64")}
    shipped = os.path.join(REPO, "pretrained")
    editors_shipped = {name for name in os.listdir(shipped)  # the MIM-Net models; MirrorGAN draws, it does not edit
                       if ModelDir(os.path.join(shipped, name)).config().model.model == "mimnet"}
    assert set(presets.PRESETS) == editors_shipped and "synthbirds_mirrorgan" not in presets.PRESETS
    assert presets.resolve(tiny_model_dir) == {"checkpoint": tiny_model_dir}
    (tmp_path / "m.tflite").write_bytes(b"")
    assert presets.resolve(str(tmp_path / "m.tflite")) == {"model": str(tmp_path / "m.tflite")}
    os.makedirs(tmp_path / "base" / "3")
    (tmp_path / "base" / "3" / "saved_model.pb").write_bytes(b"")
    assert presets.resolve(str(tmp_path / "base")) == {"model": str(tmp_path / "base")}
    assert presets.resolve(str(tmp_path / "base" / "3")) == {"model": str(tmp_path / "base" / "3")}
    with pytest.raises(ValueError, match=r"^preset 'synthbirds32': not a shipped preset \(synthbirds64, synthbirds128\)"):
        Editor.from_preset("synthbirds32")
    with pytest.raises(ValueError, match="no preset given"):
        Editor.from_preset("")
    editor = Editor.from_preset(tiny_model_dir)
    assert editor.image_size == 32 and len(editor.vocabulary) == len(presets.load(tiny_model_dir).vocab)


@pytest.fixture(scope="module")
def shipped_editor():
    return Editor.from_preset("synthbirds64")


@pytest.mark.slow
def test_the_documented_python_example_runs_as_written(tmp_path, shipped_editor):
    """docs/python_api.md's example, run in a folder laid out like the repository: every `# ->` is
    what it prints, and the edit it saves is the Editor's edit of docs/bird.png."""
    block = fenced_block(DOC, "python-example")
    expected = [line.split("# -> ", 1)[1] for line in block.splitlines() if "# -> " in line]
    folder = repository_view(str(tmp_path / "repo"))
    process = subprocess.run([sys.executable, "-c", block], cwd=folder, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr
    assert process.stdout.splitlines() == expected
    reference = shipped_editor.edit(BIRD, "this bird has green wings and a red crown")
    saved = np.asarray(Image.open(os.path.join(folder, "edited.png")))
    np.testing.assert_array_equal(saved, reference.edited)
    np.testing.assert_array_equal(np.asarray(Image.open(os.path.join(folder, "edited_map.png"))), reference.map_overlay)


@pytest.mark.slow
def test_the_docstring_example_holds(monkeypatch):
    monkeypatch.chdir(REPO)  # its paths are the repository's, as the docs say
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    (test,) = finder.find(Editor, "Editor", globs={"Editor": Editor})
    assert test.examples
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


@pytest.mark.slow
def test_the_quickstart_command_runs_as_written(tmp_path, shipped_editor):
    """The quickstart block (make install + one edit command), run by bash in a folder laid out like a
    fresh clone: it prints what the docs show and writes the Editor's edit and map."""
    if not make_install_is_done():
        pytest.fail("make install has work to do: run the tests with `make test` (it installs first)")
    block = fenced_block(DOC, "quickstart")
    folder = repository_view(str(tmp_path / "repo"))
    process = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=folder, capture_output=True, text=True,
                             timeout=300)
    assert process.returncode == 0, process.stderr
    documented = block_after(DOC, "quickstart").splitlines()
    assert [line for line in process.stdout.splitlines() if not line.startswith("make")] == documented
    command = re.search(r'--text="([^"]+)"', block).group(1)
    reference = shipped_editor.edit(BIRD, command)
    np.testing.assert_array_equal(np.asarray(Image.open(os.path.join(folder, "edited.png"))), reference.edited)
    assert np.asarray(Image.open(os.path.join(folder, "edited_map.png"))).shape == reference.map_overlay.shape
