"""Bad inputs are decoded right or refused in one line, never a traceback: 16-bit PNGs (the PIL
path against the SavedModel's decoder), images over PIL's pixel limit, a config.json of the
wrong shape, a truncated checkpoint, and an output path that is an input."""
import json
import os
import shutil
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from mimnet_tf import files, images
from mimnet_tf.apps import edit_lib
from mimnet_tf.config import RunConfig
from mimnet_tf.export.signatures import decode_rgb_tf
from tests.editing_fixtures import assert_one_line_error, run_cli, tiny_model_dir  # noqa: F401 (fixture)

CAPTION = "this bird has red wings"


def png16(pixels: np.ndarray) -> bytes:
    """A 16-bit PNG of uint16 (H, W, C) pixels, C = 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA."""
    return tf.io.encode_png(tf.constant(pixels, tf.uint16)).numpy()


@pytest.mark.parametrize("channels", [1, 2, 3, 4], ids=["grey", "grey+alpha", "RGB", "RGBA"])
def test_16_bit_pngs_decode_like_the_saved_model(channels):
    rng = np.random.default_rng(channels)
    pixels = rng.integers(0, 65536, (9, 11, channels), dtype=np.uint16)
    data = png16(pixels)
    pil = images.decode_image(data).astype(np.float64)
    served = decode_rgb_tf(tf.constant(data)).numpy()
    # Compositing on white in uint8 (PIL) or float (TF) rounds differently by under half a level.
    assert np.abs(pil - served).max() <= (0.5 if channels in (2, 4) else 0.0)
    if channels == 1:  # the top 8 bits, as TF's uint16 -> uint8 conversion keeps
        np.testing.assert_array_equal(pil[..., 0], pixels[..., 0] >> 8)


def test_a_mid_grey_16_bit_png_stays_mid_grey(tmp_path):
    path = tmp_path / "grey16.png"
    path.write_bytes(png16(np.full((4, 4, 1), 32768, np.uint16)))
    assert images.load_image(str(path)).tolist() == [[[128, 128, 128]] * 4] * 4


def oversized_png(path, side: int = 20000) -> str:
    """A valid PNG header announcing side x side 1-bit pixels (over PIL's decompression-bomb limit)
    with one zlib stream of blank rows: a few kB on disk."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + (side + 7) // 8)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return str(path)


def test_an_image_over_the_pixel_limit_is_an_image_error(tmp_path):
    path = oversized_png(tmp_path / "huge.png")
    with pytest.raises(images.ImageError, match="huge.png: too many pixels to decode safely"):
        images.load_image(path)


@pytest.mark.parametrize("content, fragment", [
    ("[]", "a JSON list, expected an object"),
    ('{"model": []}', "model is a JSON list, expected an object"),
    ('{"train": {"max_steps": "ten"}}', "train.max_steps is 'ten', expected a int"),
    ('{"data": {"random_flip": 1}}', "data.random_flip is 1, expected a bool"),
    ('{"model": {"image_size": 64.5}}', "model.image_size is 64.5, expected a int"),
    ('{"data": ', "Expecting value"),
])
def test_a_config_json_of_the_wrong_shape_is_a_value_error_naming_the_file(tmp_path, content, fragment):
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(ValueError) as raised:
        RunConfig.load(str(path))
    message = str(raised.value)
    assert message.startswith(f"{path} is not a run configuration (") and fragment in message and "\n" not in message


def test_ints_stay_valid_floats_in_a_config_json(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"train": {"g_learning_rate": 1}}')
    assert RunConfig.load(str(path)).train.g_learning_rate == 1.0


@pytest.fixture
def broken_model_dir(tiny_model_dir, tmp_path):  # noqa: F811
    copy = str(tmp_path / "model")
    shutil.copytree(tiny_model_dir, copy)
    return copy


@pytest.mark.slow
def test_the_edit_command_names_a_bad_config_a_truncated_checkpoint_and_a_huge_image(broken_model_dir, tmp_path):
    picture = tmp_path / "in.png"
    images.save_image(str(picture), np.zeros((8, 8, 3), np.uint8))
    common = [f"--checkpoint={broken_model_dir}", f"--text={CAPTION}", f"--out={tmp_path}/out.png"]

    huge = oversized_png(tmp_path / "huge.png")
    assert_one_line_error(run_cli("mimnet_tf.edit", *common, f"--image={huge}"), "edit", "too many pixels", huge)

    config = os.path.join(broken_model_dir, "config.json")
    original = open(config).read()
    with open(config, "w") as f:
        f.write("[]")
    assert_one_line_error(run_cli("mimnet_tf.edit", *common, f"--image={picture}"), "edit", config,
                          "a JSON list, expected an object")

    with open(config, "w") as f:
        f.write(original)
    data = [os.path.join(broken_model_dir, "checkpoints", n) for n in os.listdir(os.path.join(broken_model_dir,
                                                                                               "checkpoints"))
            if ".data-" in n][0]
    content = open(data, "rb").read()
    with open(data, "wb") as f:
        f.write(content[:len(content) // 2])
    prefix = data.split(".data-")[0]
    assert_one_line_error(run_cli("mimnet_tf.edit", *common, f"--image={picture}"), "edit",
                          f"{prefix} is a damaged checkpoint (")
    assert not os.path.exists(tmp_path / "out.png")


def test_outputs_that_are_inputs_are_refused_and_the_inputs_kept(tmp_path, monkeypatch):
    picture = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    source = tmp_path / "photos" / "bird.png"
    images.save_image(str(source), picture)
    original = source.read_bytes()
    os.symlink(source, tmp_path / "link.png")
    os.link(source, tmp_path / "hard.png")
    monkeypatch.chdir(tmp_path / "photos")

    def refused(**settings):
        config = edit_lib.EditConfig(checkpoint="/nonexistent", text="" if "manifest" in settings else CAPTION,
                                     **settings)
        with pytest.raises(files.OutputError, match="refusing to overwrite it|the map would replace the edit"):
            edit_lib.run(config, log=lambda _: None)

    for out in (str(source), "bird.png", "../photos/./bird.png", str(tmp_path / "link.png"), str(tmp_path / "hard.png")):
        refused(image=str(source), out=out)
    refused(image="bird.png", out=str(tmp_path / "x.png"), save_map=True, map_out=str(tmp_path / "link.png"))
    refused(image="bird.png", out=str(tmp_path / "x.png"), save_map=True, map_out=str(tmp_path / "x.png"))

    # Manifest mode: a result or the index would land on a row's image or on the manifest itself.
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(source, results / "0000_bird.png")  # where row 0's result (0000_<its stem>.png) goes
    manifest = tmp_path / "rows.jsonl"
    manifest.write_text("".join(json.dumps({"image": image, "text": CAPTION}) + "\n"
                                for image in ("photos/bird.png", "results/0000_bird.png")))
    refused(manifest=str(manifest), out=str(results))
    index = results / edit_lib.INDEX_FILENAME  # a manifest where the results' index goes
    index.write_text(f"image,text\n../photos/bird.png,{CAPTION}\n")
    written = index.read_bytes()
    refused(manifest=str(index), out=str(results))
    assert index.read_bytes() == written
    assert source.read_bytes() == original and (results / "0000_bird.png").read_bytes() == original


def test_the_edit_command_refuses_to_overwrite_its_input(tmp_path):
    source = tmp_path / "bird.png"
    images.save_image(str(source), np.zeros((8, 8, 3), np.uint8))
    original = source.read_bytes()
    result = run_cli("mimnet_tf.edit", "--checkpoint=/nonexistent", f"--image={source}", f"--text={CAPTION}",
                     f"--out={source}")
    assert_one_line_error(result, "edit", f"--out={source} is the input --image={source}: refusing to overwrite it")
    assert source.read_bytes() == original


def test_a_written_image_replaces_the_old_one_in_one_rename(tmp_path, monkeypatch):
    path = tmp_path / "out.png"
    images.save_image(str(path), np.zeros((4, 4, 3), np.uint8))
    before = path.read_bytes()

    def fail(self, fp, *args, **kwargs):  # the encoder dies half-way through the new file
        open(fp, "wb").write(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", fail)
    with pytest.raises(OSError, match="disk full"):
        images.save_image(str(path), np.ones((4, 4, 3), np.uint8))
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["out.png"]
