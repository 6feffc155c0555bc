"""Editing image files with a sentence: one image, or a manifest of (image, text) rows.

The model edits S x S images (its training size). An input of any size, mode (grey, RGBA,
palette) or format (PNG, JPEG, ...) is read as RGB (transparency composited on white), resized
whole to S x S (no crop: nothing of the picture is lost; a non-square picture is squashed and
stretched back), edited, and the edit is resized back to the input's width and height, so the
result has the input's size and aspect. The TLU localisation map (S/ds x S/ds) is upsampled to
the input's size and drawn as a heat map over the input (`--save_map`).

Inputs are checked before anything runs: a missing or corrupt image is an `ImageError`, an
empty caption or one of only unknown words a `CaptionError` naming those words; in manifest
mode every row is checked first and the errors name the rows. An output that is an input (the
same file by any path: relative, through a symbolic or hard link) is an `OutputError`, and every
file is written to a temporary sibling and renamed over its destination.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
from typing import Callable, Optional, Sequence

import numpy as np
from tqdm import tqdm

from mimnet_tf import files
from mimnet_tf import images as image_io
from mimnet_tf.data import text
from mimnet_tf.inference.editor import Editor, describe_caption

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
INDEX_FILENAME = "edits.csv"
MANIFEST_LAYOUT = 'CSV with a header naming the columns image and text (or caption), or JSON Lines of {"image": ..., "text": ...}'


class EditError(ValueError):
    """Bad edit settings or manifest rows; the message names what is wrong and what was expected."""


@dataclasses.dataclass(frozen=True)
class EditConfig:
    """What `python -m mimnet_tf.edit` does.

    Attributes:
        checkpoint: model directory (or checkpoint prefix) written by training.
        model: an exported model instead (SavedModel dir, TF Serving base dir or .tflite).
        preset: instead of both, a shipped model's name (synthbirds64) or any model path.
        image: the image to edit (single mode).
        text: the sentence describing the wanted image (single mode).
        manifest: CSV / JSON Lines of (image, text) rows (batch mode; then `out` is a folder).
        out: the edited image file (single mode) or the results folder (batch mode).
        save_map: also write the localisation map as a heat-map overlay.
        map_out: where the overlay goes in single mode (default `<out stem>_map.png`).
        batch_size: images per model call in batch mode.
    """

    checkpoint: str = ""
    model: str = ""
    preset: str = ""
    image: str = ""
    text: str = ""
    manifest: str = ""
    out: str = ""
    save_map: bool = False
    map_out: str = ""
    batch_size: int = 16


@dataclasses.dataclass(frozen=True)
class EditRequest:
    """One manifest row: `line` is its line (CSV) or item (JSON) number, for error messages."""

    line: int
    image: str
    text: str


def map_path_for(out_path: str) -> str:
    """`edited.png` -> `edited_map.png` (the overlay beside the edit)."""
    stem, _ = os.path.splitext(out_path)
    return f"{stem}_map.png"


def check_output_path(path: str, flag: str = "--out") -> None:
    extension = os.path.splitext(path)[1].lower()
    if extension not in IMAGE_EXTENSIONS:
        raise EditError(f"{flag}={path}: unknown image extension {extension!r}; expected one of "
                        f"{', '.join(IMAGE_EXTENSIONS)}")


def read_manifest(path: str) -> list[EditRequest]:
    """The rows of an edit manifest (CSV with image,text columns, or JSON Lines); paths resolve
    against the manifest's folder."""
    if not os.path.isfile(path):
        raise EditError(f"--manifest={path}: no such file; expected {MANIFEST_LAYOUT}")
    folder = os.path.dirname(os.path.abspath(path))
    extension = os.path.splitext(path)[1].lower()
    rows = []
    if extension == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            columns = {c.strip().lower(): c for c in (reader.fieldnames or [])}
            text_column = columns.get("text") or columns.get("caption")
            if "image" not in columns or text_column is None:
                raise EditError(f"{path}: the header {reader.fieldnames} lacks image and text; expected {MANIFEST_LAYOUT}")
            for row in reader:
                rows.append((reader.line_num, row[columns["image"]] or "", row[text_column] or ""))
    elif extension in (".jsonl", ".json"):
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                raise EditError(f"{path}, line {number}: not JSON ({error}); expected {MANIFEST_LAYOUT}") from None
            if not isinstance(item, dict) or "image" not in item or not ("text" in item or "caption" in item):
                raise EditError(f"{path}, line {number}: {item!r}; expected an object with image and text")
            rows.append((number, str(item["image"]), str(item.get("text", item.get("caption")) or "")))
    else:
        raise EditError(f"--manifest={path}: unknown extension {extension!r}; expected .csv or .jsonl")
    if not rows:
        raise EditError(f"{path} has no rows; expected {MANIFEST_LAYOUT}")
    return [EditRequest(line, os.path.join(folder, image.strip()) if image.strip() else "", caption)
            for line, image, caption in rows]


def _check_requests(editor: Editor, requests: Sequence[EditRequest], manifest: str) -> list[np.ndarray]:
    """Loads every image and checks every caption; one EditError listing all bad rows."""
    pictures, problems = [], []
    for request in requests:
        try:
            if not request.image:
                raise image_io.ImageError("the image column is empty")
            pictures.append(image_io.load_image(request.image))
            editor.backend.token_ids([request.text], check=True)
        except (image_io.ImageError, text.CaptionError) as error:
            problems.append(f"row at line {request.line}: {error}")
    if problems:
        shown = problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise EditError(f"{manifest}: {len(problems)} bad row(s), nothing edited: " + "; ".join(shown))
    return pictures


def check_manifest_outputs(requests: Sequence[EditRequest], out_dir: str, save_map: bool, manifest: str) -> list[str]:
    """The result stems (`NNNN_<image stem>`) of the rows; OutputError when a result, a map or the
    index would be written over a row's image or the manifest itself."""
    stems = [f"{number:04d}_{os.path.splitext(os.path.basename(request.image))[0]}"
             for number, request in enumerate(requests)]
    outputs = {"--out": os.path.join(out_dir, INDEX_FILENAME)}
    for stem in stems:
        outputs[f"--out (result {stem})"] = os.path.join(out_dir, stem + ".png")
        if save_map:
            outputs[f"--out (map {stem})"] = os.path.join(out_dir, stem + "_map.png")
    inputs = {"--manifest": manifest, **{f"--manifest line {r.line}": r.image for r in requests}}
    files.refuse_overwriting_inputs(outputs, inputs)
    return stems


def edit_manifest(editor: Editor, requests: Sequence[EditRequest], out_dir: str, save_map: bool = False,
                  batch_size: int = 16, manifest: str = "manifest", progress: bool = False) -> list[dict]:
    """Edits every row into `out_dir` and writes `out_dir/edits.csv` (one line per row).

    Results are `NNNN_<image stem>.png` (and `NNNN_<image stem>_map.png` with `save_map`), NNNN
    the row's position, so rows that share an image do not overwrite each other.
    """
    if batch_size < 1:
        raise EditError(f"--batch_size={batch_size}: expected >= 1")
    stems = check_manifest_outputs(requests, out_dir, save_map, manifest)
    pictures = _check_requests(editor, requests, manifest)
    os.makedirs(out_dir, exist_ok=True)
    index = []
    for start in tqdm(range(0, len(requests), batch_size), desc="edit", unit="batch", disable=not progress):
        chunk = requests[start:start + batch_size]
        results = editor.edit(pictures[start:start + batch_size], [r.text for r in chunk], batch_size)
        for offset, (request, result) in enumerate(zip(chunk, results)):
            stem = stems[start + offset]
            entry = {"image": request.image, "text": request.text, "edited": stem + ".png",
                     "map": stem + "_map.png" if save_map else "",
                     "corrected_words": " ".join(f"{typed}>{word}" for typed, word in result.corrected_words),
                     "unknown_words": " ".join(result.unknown_words)}
            result.save(os.path.join(out_dir, entry["edited"]), os.path.join(out_dir, entry["map"]) if save_map else "")
            index.append(entry)
    with files.replaced_file(os.path.join(out_dir, INDEX_FILENAME)) as temporary, \
            open(temporary, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["image", "text", "edited", "map", "corrected_words", "unknown_words"])
        writer.writeheader()
        writer.writerows(index)
    return index


def run(config: EditConfig, log: Callable[[str], None] = print, editor: Optional[Editor] = None,
        progress: bool = True) -> dict:
    """Checks the settings and inputs, loads the model, edits, writes; returns what was written.

    Args:
        config: the edit settings.
        log: where the summary lines go.
        editor: an already loaded Editor (else one is loaded from `config`).
        progress: progress bar in manifest mode.

    Raises:
        EditError, ImageError, CaptionError, FileNotFoundError: with a one-line message.
    """
    if bool(config.image) == bool(config.manifest):
        raise EditError("give exactly one of --image (with --text) and --manifest")
    if config.image:
        if not config.text.strip():
            raise text.CaptionError("--text is empty: describe the wanted image, e.g. --text=\"this bird has blue wings\"")
        out = config.out or "edited.png"
        map_out = config.map_out or map_path_for(out)
        check_output_path(out)
        outputs = {"--out": out}
        if config.save_map:
            check_output_path(map_out, "--map_out")
            if files.same_file(out, map_out):
                raise files.OutputError(f"--map_out={map_out} is --out={out}: the map would replace the edit")
            outputs["--map_out"] = map_out
        files.refuse_overwriting_inputs(outputs, {"--image": config.image})
        picture = image_io.load_image(config.image)  # before the (slow) model load
        editor = editor or Editor.from_flags(config.preset, config.checkpoint, config.model)
        result = editor.edit(picture, config.text)
        result.save(out, map_out if config.save_map else "")
        log(f"Edited image ({picture.shape[1]}x{picture.shape[0]}): {out}"
            + (f"; localisation map overlay: {map_out}" if config.save_map else ""))
        log(describe_caption(result))
        return {"edited": out, "map": map_out if config.save_map else "",
                "corrected_words": list(result.corrected_words), "unknown_words": list(result.unknown_words)}
    if config.text:
        raise EditError("--text is for --image; with --manifest the text comes from each row")
    requests = read_manifest(config.manifest)
    out_dir = config.out or "edits"
    if os.path.isfile(out_dir):
        raise EditError(f"--out={out_dir} is a file; with --manifest, --out is the folder of the results")
    check_manifest_outputs(requests, out_dir, config.save_map, config.manifest)  # before the (slow) model load
    editor = editor or Editor.from_flags(config.preset, config.checkpoint, config.model)
    index = edit_manifest(editor, requests, out_dir, config.save_map, config.batch_size, config.manifest, progress)
    log(f"Edited {len(index)} image(s) into {out_dir} (index: {os.path.join(out_dir, INDEX_FILENAME)})")
    return {"out_dir": out_dir, "index": index}
