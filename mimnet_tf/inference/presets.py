"""The shipped models by name, and what a preset string may name instead (a path to any model).

A preset is the name of a model shipped in the repository's `pretrained/` folder, or a path:

    synthbirds64           pretrained/synthbirds64 (MIM-Net on SynthBirds, 64 px)
    synthbirds128          pretrained/synthbirds128 (fine-tuned from it at 128 px)
    runs/synthbirds        a model directory written by `python -m mimnet_tf.train`
    runs/x/checkpoints/ckpt-500   one checkpoint of it
    models/mimnet/1        a SavedModel (mimnet_tf.export.saved_model); models/mimnet, its TF
                           Serving base directory (the highest version is used)
    models/tflite/mimnet_fp32.tflite   a TFLite file (its metadata JSON and vocab.txt beside it)

as keras-hub's `from_preset` takes a preset name or a local directory.
"""
from __future__ import annotations

import os

from mimnet_tf.inference import editors

# name -> what it is. Each lives in <repository>/pretrained/<name> (a model directory).
PRESETS = {
    "synthbirds64": ("MIM-Net on SynthBirds at 64 px, 16,000 steps (attribute accuracy on 1,000 test cases: 0.890 with "
                     "template captions, 0.752 with held-out phrasings)"),
    "synthbirds128": ("MIM-Net on SynthBirds at 128 px, fine-tuned from synthbirds64 (0.890 template, 0.766 held-out "
                      "phrasings)"),
}
PRETRAINED_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "pretrained"))
PATH_KINDS = f"a model directory written by training, a checkpoint in it, or {editors.EXPORT_KINDS}"


def preset_dir(name: str) -> str:
    """The model directory of a shipped preset; raises ValueError (unknown name) or FileNotFoundError."""
    if name not in PRESETS:
        raise ValueError(f"preset {name!r}: unknown; the shipped presets are {', '.join(PRESETS)}")
    path = os.path.join(PRETRAINED_DIR, name)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"preset {name!r}: {path} is missing; the shipped models live in the repository's "
                                "pretrained/ folder (install from a clone with `make install` or `pip install -e .`)")
    return path


def name_of(path: str) -> str:
    """The preset name of a shipped model's directory (`pretrained/synthbirds64` -> synthbirds64), else ""."""
    for name in PRESETS:
        if path and os.path.abspath(path) == os.path.join(PRETRAINED_DIR, name):
            return name
    return ""


def _is_export(path: str) -> bool:
    if os.path.isfile(path):  # a .tflite file (resolve_export names any other file as not one)
        return True
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return True
    return any(name.isdigit() and os.path.exists(os.path.join(path, name, "saved_model.pb"))
               for name in os.listdir(path))


def resolve(preset: str) -> dict:
    """`preset` -> the `load_editor` keyword that loads it: {"checkpoint": dir} or {"model": export}.

    Raises:
        ValueError: an empty string, or neither a preset name nor an existing path.
        FileNotFoundError: a shipped preset whose folder is missing.
    """
    if not preset:
        raise ValueError(f"no preset given; expected one of {', '.join(PRESETS)} or a path to {PATH_KINDS}")
    if preset in PRESETS:
        return {"checkpoint": preset_dir(preset)}
    if os.path.isdir(preset) or os.path.isfile(preset):
        return {"model": preset} if _is_export(preset) else {"checkpoint": preset}
    if os.path.exists(preset + ".index"):  # a checkpoint prefix, runs/x/checkpoints/ckpt-500
        return {"checkpoint": preset}
    raise ValueError(f"preset {preset!r}: not a shipped preset ({', '.join(PRESETS)}) and no such file or "
                     f"directory; expected a preset name or a path to {PATH_KINDS}")


def load(preset: str, name: str = "") -> editors.ModelEditor:
    """The editor (model backend) of a preset name or model path; see `resolve`."""
    return editors.load_editor(name=name, **resolve(preset))
