"""The edit page: pick or drop a picture, type a sentence, see the picture, its edit and the TLU map.

    GET  /                  the page (web_static/index.html, app.js, style.css: plain files, nothing fetched
                            from elsewhere)
    GET  /model             {"name", "image_size", "max_words", "words", "max_upload_bytes"}
    POST /edit              {"image": base64 of the picture file, "text": "..."} ->
                            {"edited": PNG data URL, "map": PNG data URL, "width", "height",
                             "corrected_words": [[typed, read as], ...], "unknown_words": [...],
                             "caption_note": one line}

An error is HTTP 4xx with {"error": one line naming the problem}: 413 for a body over
`max_upload_bytes`, 400 for a body that is not that JSON, a picture that is not a readable image
or has more than `max_image_pixels` pixels, a sentence with no word the model knows. The model
is any `mimnet_tf.Editor` (a shipped preset, a checkpoint, a SavedModel, a TFLite file); edits
run one at a time (a TFLite interpreter is not thread-safe, and 2 cores gain nothing from more).
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import http.server
import importlib.resources
import json
import threading

from mimnet_tf import images as image_io
from mimnet_tf.data.text import CaptionError
from mimnet_tf.inference.editor import Editor, describe_caption
from mimnet_tf.serving.bounded_http import drain_oversized

STATIC_FILES = {"/": ("index.html", "text/html; charset=utf-8"),
                "/app.js": ("app.js", "text/javascript; charset=utf-8"),
                "/style.css": ("style.css", "text/css; charset=utf-8")}
# The page's own files and the data: URLs of its results, nothing else.
CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'"


@dataclasses.dataclass(frozen=True)
class WebConfig:
    """What `python -m mimnet_tf.serving.web` serves (read once from flags in its `main`).

    Attributes:
        preset, checkpoint, model: the model, as `Editor.from_flags` takes them (exactly one).
        host: the address to bind; 127.0.0.1 keeps the page on this machine.
        port: the port (0: a free one).
        max_upload_bytes: the largest request body accepted (the picture travels base64, 4/3 of its file).
        max_image_pixels: the largest picture (width x height) accepted, read from its header.
    """

    preset: str = ""
    checkpoint: str = ""
    model: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    max_upload_bytes: int = 12 << 20
    max_image_pixels: int = 4096 * 4096


class RequestError(ValueError):
    """A bad request: `status` is its HTTP status, the message one line."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _data_url(image) -> str:
    return "data:image/png;base64," + base64.b64encode(image_io.encode_png(image)).decode("ascii")


def edit_request(editor: Editor, body: bytes, max_image_pixels: int) -> dict:
    """Runs one POST /edit body through the editor; raises RequestError (400) naming what is wrong."""
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestError(400, f"the request is not JSON ({error}); expected {{\"image\": base64, \"text\": ...}}")
    if not isinstance(request, dict) or not isinstance(request.get("image"), str) \
            or not isinstance(request.get("text"), str):
        raise RequestError(400, "expected a JSON object with \"image\" (base64 of the picture file) and \"text\" "
                                "(the sentence) as strings")
    if not request["text"].strip():
        raise RequestError(400, "the sentence is empty: describe the wanted picture, e.g. \"this bird has blue wings\"")
    try:
        data = base64.b64decode(request["image"], validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(400, "\"image\" is not base64") from None
    if not data:
        raise RequestError(400, "the picture is empty; pick a PNG or JPEG file")
    try:
        picture = image_io.decode_image(data, "the picture", max_pixels=max_image_pixels)
        result = editor.edit(picture, request["text"])
    except (image_io.ImageError, CaptionError) as error:
        raise RequestError(400, str(error)) from None
    return {"edited": _data_url(result.edited), "map": _data_url(result.map_overlay),
            "width": int(picture.shape[1]), "height": int(picture.shape[0]),
            "corrected_words": [list(pair) for pair in result.corrected_words],
            "unknown_words": list(result.unknown_words), "caption_note": describe_caption(result)}


def model_info(editor: Editor, config: WebConfig) -> dict:
    return {"name": editor.backend.name, "image_size": editor.image_size, "max_words": editor.max_words,
            "words": editor.vocabulary.words[2:], "max_upload_bytes": config.max_upload_bytes}


def make_handler(editor: Editor, config: WebConfig):
    """A request handler class bound to one editor."""
    lock = threading.Lock()
    static = importlib.resources.files("mimnet_tf.serving") / "web_static"

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "mimnet-web"

        def log_message(self, format, *args):  # noqa: A002 - one line per request is noise for a local page
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, body: dict) -> None:
            self._send(status, json.dumps(body).encode("utf-8"), "application/json")

        def do_GET(self):  # noqa: N802 - http.server's naming
            path = self.path.split("?", 1)[0]
            if path == "/model":
                self._json(200, model_info(editor, config))
            elif path in STATIC_FILES:
                filename, content_type = STATIC_FILES[path]
                self._send(200, (static / filename).read_bytes(), content_type)
            else:
                self._json(404, {"error": f"no page {path}; the page is at /"})

        def do_POST(self):  # noqa: N802
            try:
                if self.path.split("?", 1)[0] != "/edit":
                    raise RequestError(404, f"no endpoint POST {self.path}; edits are POST /edit")
                body = self._read_body()
                with lock:
                    answer = edit_request(editor, body, config.max_image_pixels)
                self._json(200, answer)
            except RequestError as error:
                self._json(error.status, {"error": str(error)})
            except Exception as error:  # noqa: BLE001 - a bug answers 500 with its name, never a dropped connection
                self._json(500, {"error": f"internal error: {type(error).__name__}: {error}"})

        def _read_body(self) -> bytes:
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self.close_connection = True
                raise RequestError(411, "the request has no Content-Length") from None
            limit = config.max_upload_bytes
            if length > limit:
                self.close_connection = True
                drain_oversized(self.rfile, length, limit)  # so the browser sees the 413
                raise RequestError(413, f"the upload is {int(self.headers['Content-Length']):,} bytes, over the "
                                        f"limit of {limit:,} (--max_upload_bytes); pick a smaller picture")
            return self.rfile.read(length)

    return Handler


class WebServer:
    """The page's HTTP server in a thread. After `start()`, `url` is its address.

    Args:
        editor: the Editor every request edits with.
        config: WebConfig (host, port and limits; its model fields are not read here).
    """

    def __init__(self, editor: Editor, config: WebConfig):
        self._httpd = http.server.ThreadingHTTPServer((config.host, config.port), make_handler(editor, config))
        self._httpd.daemon_threads = True
        host, port = self._httpd.server_address[:2]
        self.url = f"http://{host}:{port}/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="web", daemon=True)

    def start(self) -> "WebServer":
        self._thread.start()
        return self

    def wait(self) -> None:
        """Blocks until the server stops (Ctrl-C interrupts it)."""
        self._thread.join()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> "WebServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
