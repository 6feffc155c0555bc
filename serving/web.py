"""Edit pictures in the browser: `python -m mimnet_tf.serving.web`.

    python -m mimnet_tf.serving.web --preset=synthbirds64              # then open http://127.0.0.1:8080/
    python -m mimnet_tf.serving.web --model=models/mimnet/1            # a SavedModel (or a .tflite file)
    python -m mimnet_tf.serving.web --checkpoint=runs/synthbirds --port=0

Pick or drop a picture, type a sentence, press Edit: the page shows the picture, its edit and
the TLU localisation map side by side, and names the words the model does not know (see
serving/web_lib.py). Binds 127.0.0.1 (this machine only) unless --host says otherwise; Ctrl-C
stops it. Exit code 2 with one line on stderr for a bad flag or a model that does not load.
"""
from __future__ import annotations

import sys

from absl import app, flags

from mimnet_tf import cli
from mimnet_tf.inference.editor import Editor
from mimnet_tf.serving.web_lib import WebConfig, WebServer

PROGRAM = "web"
_DEFAULTS = WebConfig()
_PRESET = flags.DEFINE_string("preset", "", "A shipped model (synthbirds64, synthbirds128), or any model path.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "", "A model directory written by training (or a checkpoint prefix).")
_MODEL = flags.DEFINE_string("model", "", "An exported model: SavedModel dir, TF Serving base dir or .tflite file.")
_HOST = flags.DEFINE_string("host", _DEFAULTS.host, "Address to bind (127.0.0.1: this machine only).")
_PORT = flags.DEFINE_integer("port", _DEFAULTS.port, "Port (0: a free one).")
_MAX_UPLOAD_BYTES = flags.DEFINE_integer("max_upload_bytes", _DEFAULTS.max_upload_bytes,
                                         "Largest request accepted (the picture travels base64: 4/3 of its file).")
_MAX_IMAGE_PIXELS = flags.DEFINE_integer("max_image_pixels", _DEFAULTS.max_image_pixels,
                                         "Largest picture (width x height) accepted.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        cli.fail(PROGRAM, f"unexpected arguments {argv[1:]}: every setting is a --flag")
    config = WebConfig(preset=_PRESET.value, checkpoint=_CHECKPOINT.value, model=_MODEL.value, host=_HOST.value,
                       port=_PORT.value, max_upload_bytes=_MAX_UPLOAD_BYTES.value,
                       max_image_pixels=_MAX_IMAGE_PIXELS.value)
    editor = cli.guarded(PROGRAM, lambda: Editor.from_flags(config.preset, config.checkpoint, config.model))
    server = cli.guarded(PROGRAM, lambda: WebServer(editor, config)).start()
    print(f"Editing with {editor!r} at {server.url} (Ctrl-C stops)", flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
    finally:
        server.stop()


def run() -> None:
    """Console script `mimnet-web`."""
    app.run(main, flags_parser=cli.flags_parser(PROGRAM))


if __name__ == "__main__":
    run()
