"""The edit page (mimnet_tf/serving/web.py, web_lib.py, web_static/): its HTTP answers, its limits, and the
page itself driven end to end in a headless Chromium."""
import base64
import http.client
import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from mimnet_tf import images
from mimnet_tf.inference.editor import Editor
from mimnet_tf.serving.web_lib import CONTENT_SECURITY_POLICY, WebConfig, WebServer
from tests.editing_fixtures import assert_one_line_error, run_cli
from tests.webdriver import Browser, find_browser

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CAPTION = "this bird has red wings and a blue crown"
LIMIT = 64 << 10


@pytest.fixture(scope="module")
def tiny_page(model_dir):
    """The page over the tiny test model, on a free loopback port, with small limits."""
    editor = Editor.from_preset(model_dir)
    with WebServer(editor, WebConfig(port=0, max_upload_bytes=LIMIT, max_image_pixels=300 * 300)) as server:
        yield editor, server


def _request(server: WebServer, method: str, path: str, body: bytes = b"", headers=None):
    host, port = server.url[len("http://"):-1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def _edit(server, image: bytes, text: str):
    body = json.dumps({"image": base64.b64encode(image).decode("ascii"), "text": text}).encode("utf-8")
    status, _, answer = _request(server, "POST", "/edit", body, {"Content-Type": "application/json"})
    return status, json.loads(answer)


def _png(array: np.ndarray) -> bytes:
    return images.encode_png(array)


def _decode_data_url(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as image:
        return np.asarray(image)


def test_the_page_and_its_files_are_served_from_the_package(tiny_page):
    _, server = tiny_page
    for path, kind in (("/", "text/html"), ("/app.js", "text/javascript"), ("/style.css", "text/css")):
        status, headers, body = _request(server, "GET", path)
        assert status == 200 and headers["Content-Type"].startswith(kind) and body
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    _, _, page = _request(server, "GET", "/")
    assert b"http" not in page.replace(b"http-equiv", b"")  # nothing loaded from elsewhere
    status, _, body = _request(server, "GET", "/../setup.py")
    assert status == 404 and "the page is at /" in json.loads(body)["error"]
    status, _, body = _request(server, "GET", "/model")
    model = json.loads(body)
    assert status == 200 and model["image_size"] == 32 and model["max_upload_bytes"] == LIMIT and "wings" in model["words"]


def test_an_edit_answers_the_editors_edit_at_the_pictures_size(tiny_page):
    editor, server = tiny_page
    picture = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    sentence = "please " + CAPTION.replace("blue", "blu")
    status, answer = _edit(server, _png(picture), sentence)
    assert status == 200, answer
    expected = editor.edit(picture, sentence)
    np.testing.assert_array_equal(_decode_data_url(answer["edited"]), expected.edited)
    np.testing.assert_array_equal(_decode_data_url(answer["map"]), expected.map_overlay)
    assert (answer["width"], answer["height"]) == (53, 37)
    assert answer["unknown_words"] == ["please"] and answer["corrected_words"] == [["blu", "blue"]]
    assert answer["caption_note"] == "Read 'blu' as 'blue'; unknown words (ignored): please."


@pytest.mark.parametrize("body, status, fragment", [
    (b"not json", 400, "the request is not JSON"),
    (json.dumps({"image": "x"}).encode(), 400, "\"text\" (the sentence)"),
    (json.dumps({"image": "***", "text": CAPTION}).encode(), 400, "\"image\" is not base64"),
    (json.dumps({"image": "", "text": CAPTION}).encode(), 400, "the picture is empty"),
    (json.dumps({"image": base64.b64encode(b"\x89PNG broken").decode(), "text": CAPTION}).encode(), 400,
     "the picture: not a readable image"),
    (json.dumps({"image": base64.b64encode(_png(np.zeros((400, 400, 3), np.uint8))).decode(), "text": CAPTION}).encode(),
     400, "400x400 pixels exceeds the limit of 90000"),
    (json.dumps({"image": base64.b64encode(_png(np.zeros((8, 8, 3), np.uint8))).decode(), "text": "zork blorp"}).encode(),
     400, "only words the model does not know: zork, blorp"),
    (json.dumps({"image": base64.b64encode(_png(np.zeros((8, 8, 3), np.uint8))).decode(), "text": "  "}).encode(),
     400, "the sentence is empty"),
    (b"x" * (LIMIT + 1), 413, f"the upload is {LIMIT + 1:,} bytes, over the limit of {LIMIT:,}"),
])
def test_bad_uploads_get_one_line_errors(tiny_page, body, status, fragment):
    _, server = tiny_page
    got, _, answer = _request(server, "POST", "/edit", body, {"Content-Type": "application/json"})
    error = json.loads(answer)["error"]
    assert got == status and fragment in error and "\n" not in error


def test_the_server_keeps_serving_after_bad_uploads(tiny_page):
    _, server = tiny_page
    _request(server, "POST", "/edit", b"x" * (LIMIT + 1))
    try:  # far over the limit: not read, the connection is closed (the client may not see the 413)
        status, _, _ = _request(server, "POST", "/edit", b"x" * (10 * LIMIT))
        assert status == 413
    except (BrokenPipeError, ConnectionResetError):
        pass
    status, answer = _edit(server, _png(np.zeros((8, 8, 3), np.uint8)), CAPTION)
    assert status == 200 and _decode_data_url(answer["edited"]).shape == (8, 8, 3)
    status, _, _ = _request(server, "POST", "/nothing", b"{}")
    assert status == 404


def test_the_command_needs_one_model_and_says_so_in_one_line():
    assert_one_line_error(run_cli("mimnet_tf.serving.web", "--port=0", timeout=120), "web", "give exactly one of --preset")
    assert_one_line_error(run_cli("mimnet_tf.serving.web", "--preset=nope", "--port=0", timeout=120), "web",
                          "preset 'nope'", "synthbirds64, synthbirds128")


@pytest.mark.slow
def test_the_page_edits_in_a_real_browser(tmp_path):
    """Headless Chromium: set a picture on the file input, type a sentence, click Edit; the edit the page
    shows is the Editor API's edit of the same picture, and the typo and the unknown word are named. Then a sentence
    of unknown words shows the server's one-line error."""
    browser_path, driver_or_reason = find_browser()
    if not browser_path:
        pytest.skip(driver_or_reason)
    editor = Editor.from_preset("synthbirds64")
    picture = images.resize(images.load_image(os.path.join(REPO, "docs", "bird.png")), (100, 80))  # not square
    picture_path = str(tmp_path / "my_bird.png")
    images.save_image(picture_path, picture)
    sentence = "please make the wings grean"
    with WebServer(editor, WebConfig(port=0)) as server, \
            Browser(browser_path, driver_or_reason, str(tmp_path / "profile"), str(tmp_path / "chromedriver.log")) as page:
        page.open(server.url)
        state = "return document.body.dataset.state"
        page.wait_for(state, lambda s: s == "ready", timeout=30)
        assert "64 x 64 px" in page.script("return document.getElementById('model').textContent")
        page.type("#file", picture_path)
        page.wait_for("return document.getElementById('input').naturalWidth", lambda w: w == 100, timeout=30)
        page.type("#text", sentence)
        page.click("#edit")
        assert page.wait_for(state, lambda s: s in ("done", "error"), timeout=120) == "done", \
            page.script("return document.getElementById('status').textContent")
        shown = page.script("return [document.getElementById('edited').src, document.getElementById('map').src, "
                            "document.getElementById('unknown').textContent, "
                            "document.getElementById('unknown').dataset.corrected]")
        expected = editor.edit(picture_path, sentence)
        np.testing.assert_array_equal(_decode_data_url(shown[0]), expected.edited)
        np.testing.assert_array_equal(_decode_data_url(shown[1]), expected.map_overlay)
        assert shown[2:] == ["Read 'grean' as 'green'; unknown words (ignored): please.", "grean>green"]

        page.clear("#text")
        page.type("#text", "zork blorp")
        page.script("document.body.dataset.state = 'ready'")  # so "done" below can only be this edit's
        page.click("#edit")
        assert page.wait_for(state, lambda s: s in ("done", "error"), timeout=60) == "error"
        status = page.script("return document.getElementById('status').textContent")
        assert "only words the model does not know: zork, blorp" in status
