"""Any image/caption collection described by a manifest file.

Formats (chosen by the extension):
- CSV with a header naming the columns `image`, `caption` and optionally `split`;
- JSON Lines (.jsonl), one {"image": ..., "caption": ..., "split": ...} object a line (or a
  .json file holding a list of such objects).

Relative image paths resolve against the manifest's folder. Several rows with the same image
merge their captions (in file order). `split` is "train" or "test" ("val", "valid" and
"validation" count as test); rows without one get a seeded 90/10 split of their images.
"""
from __future__ import annotations

import csv
import json
import os

from mimnet_tf.data import reading

LAYOUT = (
    "a manifest: CSV with a header (image, caption[, split]) or JSON Lines of "
    '{"image": ..., "caption": ..., "split": ...}'
)
_SPLIT_NAMES = {"train": "train", "test": "test", "val": "test", "valid": "test", "validation": "test"}
DEFAULT_NAMES = ("manifest.csv", "manifest.jsonl", "manifest.json")


def _rows(path: str):
    """Yields (line number, image, caption, split) of a CSV or JSON(L) manifest."""
    extension = os.path.splitext(path)[1].lower()
    if extension == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            columns = {c.strip().lower(): c for c in (reader.fieldnames or [])}
            missing = [c for c in ("image", "caption") if c not in columns]
            if missing:
                raise ValueError(f"{path}: the header {reader.fieldnames} lacks {missing}; expected {LAYOUT}")
            for row in reader:
                split = row.get(columns["split"], "") if "split" in columns else ""
                yield reader.line_num, row[columns["image"]] or "", row[columns["caption"]] or "", split or ""
    elif extension in (".jsonl", ".json"):
        with open(path, encoding="utf-8") as f:
            content = f.read()
        if extension == ".json":
            items = list(enumerate(json.loads(content), start=1))
        else:
            items = []
            for number, line in enumerate(content.splitlines(), start=1):
                if line.strip():
                    try:
                        items.append((number, json.loads(line)))
                    except json.JSONDecodeError as error:
                        raise ValueError(f"{path}, line {number}: not JSON ({error}); expected {LAYOUT}") from None
        for number, item in items:
            if not isinstance(item, dict) or "image" not in item or "caption" not in item:
                raise ValueError(f"{path}, item {number}: {item!r}; expected an object with image and caption")
            yield number, str(item["image"]), str(item["caption"] or ""), str(item.get("split") or "")
    else:
        raise ValueError(f"{path}: unknown manifest extension {extension!r}; expected .csv, .jsonl or .json")


def resolve_manifest(data_dir: str, manifest: str) -> str:
    """The manifest path: `manifest` itself, or inside data_dir, or data_dir/manifest.{csv,jsonl,json}."""
    if manifest:
        candidates = [manifest] if os.path.isabs(manifest) else [manifest, os.path.join(data_dir, manifest)]
    else:
        candidates = [os.path.join(data_dir, name) for name in DEFAULT_NAMES]
    return reading.find_required(candidates, LAYOUT)


def read(data_dir: str, split: str, manifest: str = "", split_seed: int = 0, test_fraction: float = 0.1):
    """Reads one split of a manifest.

    Args:
        data_dir: where to look for the manifest when `manifest` is relative or empty.
        split: "train" or "test".
        manifest: the manifest file (.csv, .jsonl, .json).
        split_seed, test_fraction: the seeded split of images with no split given.

    Returns:
        A `ReadResult` in first-appearance order; keys are the image paths as written.
    """
    reading.check_split(split)
    path = resolve_manifest(data_dir, manifest)
    folder = os.path.dirname(os.path.abspath(path))
    collector = reading.RecordCollector()
    order: list[str] = []
    captions: dict[str, list[str]] = {}
    splits: dict[str, str] = {}
    written: dict[str, str] = {}
    for number, image, caption, split_name in _rows(path):
        image = image.strip()
        if not image:
            collector.report(f"{os.path.basename(path)}, line {number}: no image, row skipped")
            continue
        resolved = os.path.normpath(os.path.join(folder, image))
        if resolved not in captions:
            order.append(resolved)
            captions[resolved] = []
            written[resolved] = image
        captions[resolved].append(caption)
        split_name = split_name.strip().lower()
        if split_name:
            if split_name not in _SPLIT_NAMES:
                collector.report(f"{image}: split {split_name!r} is not train/test/val; the image gets the seeded split")
            elif splits.setdefault(resolved, _SPLIT_NAMES[split_name]) != _SPLIT_NAMES[split_name]:
                collector.report(f"{image}: listed in both splits; kept in {splits[resolved]}")

    unassigned = [image for image in order if image not in splits]
    is_test = reading.seeded_test_mask(len(unassigned), test_fraction, split_seed)
    for image, test in zip(unassigned, is_test):
        splits[image] = "test" if test else "train"
    collector.split_rule = "manifest" if not unassigned else f"manifest+random-{1 - test_fraction:.0%}"
    for image in order:
        if splits[image] == split:
            key = os.path.normpath(written[image]).replace(os.sep, "/")
            collector.add(key, captions[image], image_path=image)
    return collector.result()
