"""Writes SynthBirds to disk in the CUB-200-2011 + AttnGAN layout, plus the edit benchmark.

Layout under `out` (what the project's CUB reader reads):

    CUB_200_2011/images/<class>/<name>.png      the images
    CUB_200_2011/images.txt                     "<id> <class>/<name>.png" (ids from 1, train first)
    CUB_200_2011/image_class_labels.txt         "<id> <class id>"
    CUB_200_2011/classes.txt                    "<class id> <class>"
    CUB_200_2011/train_test_split.txt           "<id> <1 if train else 0>"
    CUB_200_2011/bounding_boxes.txt             "<id> x y w h" of the bird, float pixels
    text_c10/<class>/<name>.txt                 one caption per line
    train/filenames.pickle, test/filenames.pickle   pickled ["<class>/<name>", ...]
    masks/<class>/<name>.png                    uint8 part label map (PARTS[i] is i + 1)
    edit_cases/cases.jsonl                      one edit case per line
    edit_cases/{source,target,masks}/<case_id>.png
    edit_cases/identity.jsonl                   identity cases (a test image, one of its captions)
    synthbirds.json                             settings, counts, palette, parts; written last

Images are rendered by a multiprocessing pool. `synthbirds.json` is written only once
everything else is, so a directory that has it is complete; re-running with the same settings
finds it and does nothing.
"""
from __future__ import annotations

import dataclasses
import io
import json
import multiprocessing
import os
import pickle
import shutil
import sys
import time
from typing import Iterable

from PIL import Image
from tqdm import tqdm

from mimnet_tf.data.synthbirds.captions import captions_for
from mimnet_tf.data.synthbirds.edit_cases import EditCase, edit_cases, identity_cases
from mimnet_tf.data.synthbirds.palette import COLOURABLE_PARTS, PALETTE, PARTS
from mimnet_tf.data.synthbirds.render import render, sample_scene
from mimnet_tf.data.synthbirds.species import SPECIES, class_name

FORMAT_VERSION = 4  # bump whenever rendering, captions or edit cases change: old datasets are then refused
METADATA_FILENAME = "synthbirds.json"
CUB_DIR = "CUB_200_2011"
_OWNED = (CUB_DIR, "text_c10", "train", "test", "masks", "edit_cases", METADATA_FILENAME)


class OutputDirError(OSError):
    """The output directory cannot be used (not given, not a directory, not writable, or it
    holds a SynthBirds dataset made with other settings)."""


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """The settings that determine every byte of a written dataset."""

    seed: int
    size: int
    num_train: int
    num_test: int
    captions_per_image: int
    num_edit_cases: int
    num_identity_cases: int

    def validate(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{field.name} must be an int, got {value!r}")
        if self.size < 8:
            raise ValueError(f"size must be >= 8 pixels, got {self.size}")
        if self.num_train < 1 or self.num_test < 1:
            raise ValueError(f"num_train and num_test must be >= 1, got {self.num_train} and {self.num_test}")
        if self.captions_per_image < 1:
            raise ValueError(f"captions_per_image must be >= 1, got {self.captions_per_image}")
        if self.num_edit_cases < 0 or self.num_identity_cases < 0:
            raise ValueError("num_edit_cases and num_identity_cases must be >= 0")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")


def image_name(split: str, index: int, species: int) -> str:
    """`<class>/<name>` of a scene, e.g. `004.Northern_Cardinal/Northern_Cardinal_test_000017`."""
    return f"{class_name(species)}/{SPECIES[species].name}_{split}_{index:06d}"


def _save_png(path: str, array) -> None:
    # compress_level=1: about half the encoding time of the default for files a few % larger;
    # encoding in memory and writing once halves the system calls of PIL writing to the file.
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
    with open(path, "wb") as f:
        f.write(buffer.getbuffer())


def _write_scene(out: str, spec: DatasetSpec, split: str, index: int) -> dict:
    """Renders one scene and writes its image, mask and captions; returns its index entries."""
    scene = sample_scene(spec.seed, split, index)
    rendering = render(scene, spec.size)
    name = image_name(split, index, scene.bird.species)
    _save_png(os.path.join(out, CUB_DIR, "images", name + ".png"), rendering.image)
    _save_png(os.path.join(out, "masks", name + ".png"), rendering.parts)
    with open(os.path.join(out, "text_c10", name + ".txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(captions_for(scene, spec.captions_per_image)) + "\n")
    return {
        "name": name,
        "species": scene.bird.species,
        "bbox": rendering.bounding_box(),
        "family": scene.background.family,
        "train": split == "train",
    }


def _write_case(out: str, spec: DatasetSpec, case: EditCase) -> dict:
    """Renders and writes the source, ground truth and mask of one edit case."""
    source = render(case.source, spec.size)
    target = render(case.target, spec.size)
    for kind, image in (("source", source.image), ("target", target.image), ("masks", source.parts)):
        _save_png(os.path.join(out, "edit_cases", kind, case.case_id + ".png"), image)
    record = case.to_json()
    record.update(
        image=f"{CUB_DIR}/images/{image_name('test', case.source.index, case.source.bird.species)}.png",
        source_image=f"edit_cases/source/{case.case_id}.png",
        target_image=f"edit_cases/target/{case.case_id}.png",
        mask=f"edit_cases/masks/{case.case_id}.png",
    )
    return record


def _make_directories(out: str) -> None:
    """Every directory the workers write into, made once up front."""
    for k in range(len(SPECIES)):
        for parent in (os.path.join(CUB_DIR, "images"), "masks", "text_c10"):
            os.makedirs(os.path.join(out, parent, class_name(k)), exist_ok=True)
    for kind in ("source", "target", "masks"):
        os.makedirs(os.path.join(out, "edit_cases", kind), exist_ok=True)
    for split in ("train", "test"):
        os.makedirs(os.path.join(out, split), exist_ok=True)


def _identity_record(case: EditCase) -> dict:
    name = image_name("test", case.source.index, case.source.bird.species)
    record = case.to_json()
    record.update(image=f"{CUB_DIR}/images/{name}.png", mask=f"masks/{name}.png")
    return record


# Worker state: set once per process by the pool initializer, so tasks stay tiny.
_WORKER: dict = {}


def _init_worker(out: str, spec: DatasetSpec) -> None:
    _WORKER.update(out=out, spec=spec)


def _run_task(task):
    kind, payload = task
    if kind == "scene":
        return _write_scene(_WORKER["out"], _WORKER["spec"], *payload)
    return _write_case(_WORKER["out"], _WORKER["spec"], payload)


def _pool_context():
    """fork (fast start) unless TensorFlow is loaded: forking its threads is unsafe, so then spawn."""
    if "tensorflow" in sys.modules or "fork" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    return multiprocessing.get_context("fork")


def _run_all(tasks: list, out: str, spec: DatasetSpec, workers: int, progress: bool, description: str) -> list:
    """Runs tasks in order (in a pool when workers > 1) and returns their results in order."""
    bar = tqdm(total=len(tasks), desc=description, unit="img", disable=not progress, leave=False)
    results = []
    try:
        if workers > 1 and len(tasks) > 1:
            with _pool_context().Pool(workers, initializer=_init_worker, initargs=(out, spec)) as pool:
                chunk = max(1, min(64, len(tasks) // (4 * workers)))
                for result in pool.imap(_run_task, tasks, chunksize=chunk):
                    results.append(result)
                    bar.update()
        else:
            _init_worker(out, spec)
            for task in tasks:
                results.append(_run_task(task))
                bar.update()
    finally:
        bar.close()
    return results


def _prepare_out_dir(out: str) -> str:
    if not out or not str(out).strip():
        raise OutputDirError("No output directory given: pass --out=DIR (where to write SynthBirds)")
    out = os.path.abspath(os.path.expanduser(str(out)))
    if os.path.exists(out) and not os.path.isdir(out):
        raise OutputDirError(f"Output path {out} exists and is not a directory; expected a directory")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as error:
        raise OutputDirError(f"Cannot create output directory {out}: {error.strerror or error}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputDirError(f"Output directory {out} is not writable")
    return out


def _existing(out: str, spec: DatasetSpec, overwrite: bool) -> dict | None:
    """The metadata of a complete dataset with the same spec in `out`, or None (after checks)."""
    path = os.path.join(out, METADATA_FILENAME)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            metadata = json.load(f)
        previous = DatasetSpec(**metadata["spec"])
    except (OSError, ValueError, KeyError, TypeError):
        previous = None
    if previous == spec and metadata.get("format_version") == FORMAT_VERSION:
        return metadata
    if not overwrite:
        if previous is None:
            detail = f"an unreadable {METADATA_FILENAME}"
        elif metadata.get("format_version") != FORMAT_VERSION:
            version = metadata.get("format_version")
            detail = f"a dataset of another SynthBirds version (format {version}, this is {FORMAT_VERSION})"
        else:
            differences = {
                f.name: (getattr(previous, f.name), getattr(spec, f.name))
                for f in dataclasses.fields(spec)
                if getattr(previous, f.name) != getattr(spec, f.name)
            }
            changes = ", ".join(f"{k}: {a} -> {b}" for k, (a, b) in differences.items())
            detail = f"a dataset made with other settings ({changes})"
        raise OutputDirError(f"{out} already holds {detail}; choose another --out or pass --overwrite")
    for name in _OWNED:  # only what this writer creates; the rest of the directory is left alone
        target = os.path.join(out, name)
        if os.path.isdir(target):
            shutil.rmtree(target)
        elif os.path.exists(target):
            os.remove(target)
    return None


def _write_lines(path: str, lines: Iterable[str]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)


def _write_index(out: str, entries: list[dict]) -> None:
    """The CUB text files and the AttnGAN filename pickles."""
    cub = os.path.join(out, CUB_DIR)
    numbered = list(enumerate(entries, 1))  # CUB ids start at 1
    _write_lines(os.path.join(cub, "images.txt"), (f"{i} {e['name']}.png" for i, e in numbered))
    _write_lines(os.path.join(cub, "image_class_labels.txt"), (f"{i} {e['species'] + 1}" for i, e in numbered))
    _write_lines(os.path.join(cub, "classes.txt"), (f"{k + 1} {class_name(k)}" for k in range(len(SPECIES))))
    _write_lines(os.path.join(cub, "train_test_split.txt"), (f"{i} {int(e['train'])}" for i, e in numbered))
    boxes = (f"{i} " + " ".join(f"{v:.1f}" for v in e["bbox"]) for i, e in numbered)
    _write_lines(os.path.join(cub, "bounding_boxes.txt"), boxes)
    for split, is_train in (("train", True), ("test", False)):
        os.makedirs(os.path.join(out, split), exist_ok=True)
        with open(os.path.join(out, split, "filenames.pickle"), "wb") as f:
            pickle.dump([e["name"] for e in entries if e["train"] == is_train], f, protocol=2)


def _write_jsonl(path: str, records: list[dict]) -> None:
    _write_lines(path, (json.dumps(r, sort_keys=False) for r in records))


def write_dataset(
    out: str,
    num_train: int,
    num_test: int,
    size: int = 64,
    seed: int = 0,
    captions_per_image: int = 10,
    num_edit_cases: int = 200,
    num_identity_cases: int | None = None,
    workers: int = 2,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Renders SynthBirds into `out` (see the module docstring for the layout).

    Args:
        out: output directory (created if missing).
        num_train, num_test: number of train and test images.
        size: image side in pixels.
        seed: dataset seed; the same seed gives the same bytes.
        captions_per_image: captions per image (CUB has 10).
        num_edit_cases: edit cases of the benchmark (they cycle over the test images).
        num_identity_cases: identity cases; defaults to min(num_edit_cases, num_test).
        workers: rendering processes (1 renders in this process).
        overwrite: replace a SynthBirds dataset made with other settings instead of failing.
        progress: show tqdm progress bars.

    Returns:
        A summary dict (counts, timings, background families); `skipped` is True when `out`
        already held this exact dataset.

    Raises:
        OutputDirError: `out` missing, unwritable, or holding a dataset with other settings.
    """
    spec = DatasetSpec(
        seed=seed,
        size=size,
        num_train=num_train,
        num_test=num_test,
        captions_per_image=captions_per_image,
        num_edit_cases=num_edit_cases,
        num_identity_cases=min(num_edit_cases, num_test) if num_identity_cases is None else num_identity_cases,
    )
    spec.validate()
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    out = _prepare_out_dir(out)
    metadata = _existing(out, spec, overwrite)
    if metadata is not None:
        return {**metadata["summary"], "out": out, "skipped": True, "seconds": 0.0}

    started = time.perf_counter()
    _make_directories(out)
    tasks = [("scene", ("train", i)) for i in range(num_train)] + [("scene", ("test", i)) for i in range(num_test)]
    entries = _run_all(tasks, out, spec, workers, progress, "SynthBirds images")
    render_seconds = time.perf_counter() - started
    _write_index(out, entries)

    cases = edit_cases(seed, spec.num_edit_cases, num_scenes=num_test)
    records = _run_all([("case", c) for c in cases], out, spec, workers, progress, "SynthBirds edit cases")
    _write_jsonl(os.path.join(out, "edit_cases", "cases.jsonl"), records)
    identities = identity_cases(seed, spec.num_identity_cases, num_scenes=num_test)
    _write_jsonl(os.path.join(out, "edit_cases", "identity.jsonl"), [_identity_record(c) for c in identities])

    families: dict[str, int] = {}
    for entry in entries:
        families[entry["family"]] = families.get(entry["family"], 0) + 1
    seconds = time.perf_counter() - started
    summary = {
        "out": out,
        "num_train": num_train,
        "num_test": num_test,
        "num_classes": len(SPECIES),
        "num_edit_cases": spec.num_edit_cases,
        "num_identity_cases": spec.num_identity_cases,
        "size": size,
        "seed": seed,
        "workers": workers,
        "seconds": round(seconds, 3),
        "images_per_second": round(len(entries) / max(render_seconds, 1e-9), 1),
        "families": dict(sorted(families.items())),
        "skipped": False,
    }
    metadata = {
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "size": size,
        "spec": dataclasses.asdict(spec),
        "palette": {name: list(rgb) for name, rgb in PALETTE.items()},
        "parts": list(PARTS),
        "colourable_parts": list(COLOURABLE_PARTS),
        "classes": [class_name(k) for k in range(len(SPECIES))],
        "counts": {
            "train": num_train,
            "test": num_test,
            "edit_cases": spec.num_edit_cases,
            "identity_cases": spec.num_identity_cases,
        },
        "summary": {k: v for k, v in summary.items() if k not in ("out", "seconds", "images_per_second", "workers")},
    }
    # Written last: its presence means the dataset is complete.
    with open(os.path.join(out, METADATA_FILENAME), "w", encoding="utf-8") as f:
        json.dump(metadata, f, indent=2)
    return summary
