"""The visual report of a trained model: one self-contained HTML page and its PNG files.

`write_report(config)` writes into `config.out`:
- `index.html`: the page (inline CSS; every image a relative link to a PNG beside it);
- `images/row<k>_<column>.png`: one PNG per cell of the edit table, whose rows are
  source | target text | coarse (ICM, S/2) | fine (the edit) | TLU map over the source |
  ground truth (SynthBirds cases; "-" for dataset images, whose right answer is unknown);
- `edits_grid.png`: the same table as one picture (the text rendered as a caption strip);
- `training_curves.png`: one line chart per logged loss, from `<model_dir>/train_log.jsonl`
  or, without it, the TensorBoard event files of `<model_dir>/logs/train`;
- `benchmark.json/.md` when it had to compute the SynthBirds benchmark (see below).
Metric tables come from the benchmark and evaluation JSON files written by
`benchmark_edits --out` and `evaluate --out` (looked for in the report folder, then the model
directory); without a benchmark file, a small benchmark is run (`num_cases`).
Charts are drawn with Pillow (no plotting library).
"""
from __future__ import annotations

import dataclasses
import glob
import html
import json
import math
import os
import time
from typing import Callable, Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mimnet_tf.apps import benchmark_edits_lib as bench
from mimnet_tf import images as image_io
from mimnet_tf.data.synthbirds.edit_cases import edit_cases
from mimnet_tf.data.synthbirds.render import render
from mimnet_tf.inference.editors import load_editor
from mimnet_tf.apps.evaluate_lib import draw_captions, read_test_captions
from mimnet_tf.models.model_dir import ModelDir

COLUMNS = ("source", "target text", "coarse", "fine", "TLU map", "ground truth")
HTML_FILENAME = "index.html"
GRID_FILENAME = "edits_grid.png"
CURVES_FILENAME = "training_curves.png"
IMAGES_SUBDIR = "images"
SOURCES = ("auto", "synthbirds", "test")
_FONT_SIZE = 12


@dataclasses.dataclass(frozen=True)
class ReportConfig:
    """What `python -m mimnet_tf.report` writes.

    Attributes:
        checkpoint: model directory (or checkpoint prefix) written by training.
        model: an exported model instead (no coarse column, no training curves).
        out: the report folder.
        num_examples: rows of the edit table.
        source: "synthbirds" (edit cases with ground truth), "test" (the prepared test split,
            each image with another image's caption) or "auto" (SynthBirds when the model was
            trained on it or when there is no prepared test split).
        seed: the SynthBirds dataset seed / the caption draw.
        size: SynthBirds render size (0: the model's image size).
        cell_size: pixels of an image cell in the grid (small images are enlarged, nearest).
        benchmark_json, evaluation_json: result files to show ("" looks in out, then the model dir).
        num_cases: benchmark cases to run when no benchmark file is found (0: none).
        notes: lines shown under the header (e.g. how much of the machine a timed run got).
    """

    checkpoint: str = ""
    model: str = ""
    out: str = "report"
    num_examples: int = 8
    source: str = "auto"
    seed: int = 0
    size: int = 0
    cell_size: int = 128
    benchmark_json: str = ""
    evaluation_json: str = ""
    num_cases: int = 50
    notes: tuple[str, ...] = ()


@dataclasses.dataclass
class Example:
    """One row of the edit table."""

    source: np.ndarray  # uint8 (S, S, 3)
    caption: str
    ground_truth: Optional[np.ndarray] = None


# ----------------------------------------------------------------------------- examples
def synthbirds_examples(count: int, size: int, seed: int = 0) -> list[Example]:
    """The first `count` SynthBirds edit cases: source render, target caption, ground truth."""
    return [Example(render(c.source, size).image, c.caption, render(c.target, size).image)
            for c in edit_cases(seed, count)]


def test_split_examples(data, count: int, seed: int = 0) -> list[Example]:
    """The first `count` test images, each with a caption of another test image (evaluation's draw)."""
    from mimnet_tf.data import pipeline

    _, captions = read_test_captions(data, count)
    targets, _, _ = draw_captions(captions, seed)
    batch = next(iter(pipeline.make_dataset(data, "test", training=False, batch_size=len(captions), splitter="core")))
    sources = image_io.to_uint8(batch["image"].numpy())
    return [Example(source, caption) for source, caption in zip(sources, targets)]


def choose_examples(config: ReportConfig, editor, log: Callable[[str], None]) -> tuple[str, list[Example]]:
    """(source name, examples) as `config.source` asks (see ReportConfig)."""
    if config.source not in SOURCES:
        raise ValueError(f"--source={config.source!r}: expected one of {', '.join(SOURCES)}")
    run = getattr(editor, "config", None)
    source = config.source
    if source == "auto":
        source = "test" if run is not None and run.data.dataset != "synthbirds" else "synthbirds"
    if source == "test":
        if run is None:
            raise ValueError("--source=test needs --checkpoint (the model directory names its data); "
                             "an exported model can only show SynthBirds examples")
        try:
            return "test", test_split_examples(run.data, config.num_examples, config.seed)
        except FileNotFoundError as error:
            if config.source == "test":
                raise
            log(f"No prepared test split ({error}); showing SynthBirds edit cases instead")
    size = config.size or editor.image_size
    return "synthbirds", synthbirds_examples(config.num_examples, size, config.seed)


# ----------------------------------------------------------------------------- drawing
def _font(size: int = _FONT_SIZE):
    return ImageFont.load_default(size=size)


def enlarge(image: np.ndarray, cell: int) -> np.ndarray:
    """A uint8 image shown in a `cell` x `cell` box: enlarged (nearest) when smaller, else shrunk."""
    height, width = image.shape[:2]
    scale = cell / max(height, width)
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    resample = Image.NEAREST if scale >= 1 else Image.BICUBIC
    return np.asarray(Image.fromarray(image).resize(target, resample), dtype=np.uint8)


def wrap(text: str, width_px: int, font) -> list[str]:
    """Greedy word wrap of `text` to lines at most `width_px` wide."""
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines, current = [], ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if current and measure.textlength(trial, font=font) > width_px:
            lines.append(current)
            current = word
        else:
            current = trial
    return lines + ([current] if current else [])


def text_cell(text: str, width: int, height: int, background=(255, 255, 255)) -> np.ndarray:
    """A caption strip: `text` wrapped into a width x height uint8 image."""
    font = _font()
    canvas = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(canvas)
    y = 4
    for line in wrap(text, width - 8, font):
        if y + _FONT_SIZE > height:
            break
        draw.text((4, y), line, fill=(20, 20, 20), font=font)
        y += _FONT_SIZE + 3
    return np.asarray(canvas)


def _place(canvas: Image.Image, image: np.ndarray, x: int, y: int, cell_w: int, cell_h: int) -> None:
    tile = Image.fromarray(image)
    canvas.paste(tile, (x + (cell_w - tile.width) // 2, y + (cell_h - tile.height) // 2))


def edit_grid(rows: Sequence[dict], cell: int, text_width: int = 0) -> np.ndarray:
    """The edit table as one picture: a header, then one row per example.

    Args:
        rows: dicts with the COLUMNS as keys: uint8 images, the text for "target text", None for
            an empty cell.
        cell: side of an image cell.
        text_width: width of the text column (default 2 cells).
    """
    text_width = text_width or 2 * cell
    widths = [text_width if c == "target text" else cell for c in COLUMNS]
    header, gap = 22, 4
    canvas = Image.new("RGB", (sum(widths) + gap * (len(widths) + 1), header + len(rows) * (cell + gap) + gap),
                       (236, 236, 236))
    draw = ImageDraw.Draw(canvas)
    font = _font()
    x = gap
    for column, width in zip(COLUMNS, widths):
        draw.text((x + 4, 5), column, fill=(0, 0, 0), font=font)
        x += width + gap
    for r, row in enumerate(rows):
        y = header + r * (cell + gap)
        x = gap
        for column, width in zip(COLUMNS, widths):
            value = row.get(column)
            if column == "target text":
                _place(canvas, text_cell(value, width, cell), x, y, width, cell)
            elif value is None:
                _place(canvas, text_cell("-", width, cell, (250, 250, 250)), x, y, width, cell)
            else:
                _place(canvas, enlarge(value, cell), x, y, width, cell)
            x += width + gap
    return np.asarray(canvas)


def _nice(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.2e}"


def line_chart(points: Sequence[tuple[float, float]], title: str, width: int = 360, height: int = 200) -> np.ndarray:
    """A line chart of (x, y) points as a uint8 (height, width, 3) image; non-finite y break the line."""
    font = _font(11)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    left, right, top, bottom = 52, 10, 20, 22
    draw.text((left, 4), title, fill=(0, 0, 0), font=font)
    finite = [(x, y) for x, y in points if math.isfinite(x) and math.isfinite(y)]
    draw.rectangle([left, top, width - right, height - bottom], outline=(160, 160, 160))
    if not finite:
        draw.text((left + 8, top + 8), "no finite values", fill=(160, 0, 0), font=font)
        return np.asarray(canvas)
    xs, ys = [p[0] for p in finite], [p[1] for p in finite]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        pad = abs(y0) * 0.1 or 1.0
        y0, y1 = y0 - pad, y1 + pad
    plot_w, plot_h = width - left - right, height - top - bottom

    def to_pixel(x, y):
        return left + (x - x0) / (x1 - x0) * plot_w, top + (1 - (y - y0) / (y1 - y0)) * plot_h

    for k in range(3):  # y ticks: min, middle, max
        value = y0 + (y1 - y0) * k / 2
        _, py = to_pixel(x0, value)
        draw.line([left - 3, py, left, py], fill=(120, 120, 120))
        draw.text((2, py - 6), _nice(value), fill=(60, 60, 60), font=font)
    for value in (x0, x1):
        px, _ = to_pixel(value, y0)
        draw.text((px - 10, height - bottom + 4), _nice(value), fill=(60, 60, 60), font=font)
    segment = []
    for x, y in points:
        if math.isfinite(y):
            segment.append(to_pixel(x, y))
            continue
        _draw_segment(draw, segment)
        segment = []
    _draw_segment(draw, segment)
    return np.asarray(canvas)


def _draw_segment(draw: ImageDraw.ImageDraw, segment: list) -> None:
    if len(segment) == 1:
        x, y = segment[0]
        draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=(30, 90, 200))
    elif segment:
        draw.line(segment, fill=(30, 90, 200), width=2)


def chart_grid(series: dict[str, list], columns: int = 3, width: int = 360, height: int = 200) -> np.ndarray:
    """Small multiples: one `line_chart` per series, `columns` per row."""
    names = sorted(series)
    rows = math.ceil(len(names) / columns)
    canvas = Image.new("RGB", (columns * width, rows * height), (255, 255, 255))
    for k, name in enumerate(names):
        chart = Image.fromarray(line_chart(series[name], name, width, height))
        canvas.paste(chart, ((k % columns) * width, (k // columns) * height))
    return np.asarray(canvas)


# ----------------------------------------------------------------------------- training curves
def _number(value) -> float:
    """A logged value as a float; "nan"/"inf" strings (train_log.jsonl's non-finite) too."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def curves_from_jsonl(model_dir: str) -> dict[str, list]:
    """{series name: [(step, value)]} from `<model_dir>/train_log.jsonl` (losses and images/s)."""
    from mimnet_tf.training.summaries import read_train_log

    series: dict[str, list] = {}
    for record in read_train_log(model_dir):
        step = _number(record.get("step"))
        for name, value in (record.get("losses") or {}).items():
            series.setdefault(f"loss/{name}", []).append((step, _number(value)))
        if record.get("images_per_second") is not None:
            series.setdefault("perf/images_per_second", []).append((step, _number(record["images_per_second"])))
    return series


def curves_from_events(log_dir: str) -> dict[str, list]:
    """{tag: [(step, value)]} of the scalar summaries in the TensorBoard event files of `log_dir`."""
    import tensorflow as tf

    series: dict[str, list] = {}
    for path in sorted(glob.glob(os.path.join(log_dir, "**", "events.out.tfevents.*"), recursive=True)):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                kind = value.WhichOneof("value")
                if kind == "simple_value":
                    number = value.simple_value
                elif kind == "tensor" and value.metadata.plugin_data.plugin_name == "scalars":
                    number = float(tf.make_ndarray(value.tensor))
                else:
                    continue
                series.setdefault(value.tag, []).append((float(event.step), float(number)))
    return {tag: sorted(points) for tag, points in series.items()}


def training_curves(model_dir: str) -> tuple[str, dict[str, list]]:
    """(where they came from, series): the JSON-lines log, else the TensorBoard events, else none."""
    from mimnet_tf.training.summaries import LOG_SUBDIR

    series = curves_from_jsonl(model_dir)
    if series:
        return ModelDir(model_dir).log_path, series
    log_dir = os.path.join(model_dir, LOG_SUBDIR)
    if os.path.isdir(log_dir):
        series = curves_from_events(log_dir)
        if series:
            return log_dir, series
    return "", {}


# ----------------------------------------------------------------------------- metric tables
def find_results(explicit: str, name: str, folders: Sequence[str]) -> str:
    """The results file to show: `explicit` (must exist), else `<folder>/<name>` in order, else ""."""
    if explicit:
        if not os.path.isfile(explicit):
            raise FileNotFoundError(f"{explicit}: no such results file (written by the command's --out)")
        return explicit
    for folder in folders:
        path = os.path.join(folder, name)
        if folder and os.path.isfile(path):
            return path
    return ""


def load_results(path: str) -> dict:
    """A results JSON of metrics.statistics.write_results: {"title", "columns", "rows", "metadata"}."""
    with open(path, encoding="utf-8") as f:
        document = json.load(f)
    if not isinstance(document, dict) or "rows" not in document:
        raise ValueError(f"{path}: not a results file (expected the JSON written by evaluate/benchmark_edits --out)")
    return document


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return html.escape(str(value))


def html_table(document: dict) -> str:
    """A results document as an HTML table."""
    columns = document.get("columns") or list(dict.fromkeys(k for row in document["rows"] for k in row))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(row.get(c))}</td>" for c in columns) + "</tr>"
                   for row in document["rows"])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# ----------------------------------------------------------------------------- the page
_STYLE = """
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1200px; }
table { border-collapse: collapse; margin: 8px 0 20px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: middle; }
th { background: #f0f0f0; }
td.text { max-width: 260px; }
img { image-rendering: pixelated; }
.note { color: #666; font-size: 0.9em; }
"""


def _save_png(path: str, image: np.ndarray) -> str:
    image_io.save_image(path, image)
    return path


def _img(relative: str, size: int, alt: str) -> str:
    return f'<img src="{html.escape(relative)}" width="{size}" alt="{html.escape(alt)}">'


def write_report(config: ReportConfig, log: Callable[[str], None] = print, editor=None) -> dict:
    """Writes the report; returns {"html", "grid", "curves", "images", "benchmark", "evaluation"}.

    Args:
        config: what to write.
        log: where progress messages go.
        editor: an already loaded editor (else loaded from `config`).
    """
    began = time.time()
    if config.num_examples < 1:
        raise ValueError(f"--num_examples={config.num_examples}: expected >= 1")
    editor = editor or load_editor(config.checkpoint, config.model)
    model_dir = getattr(editor, "model_dir", "")
    out = config.out
    os.makedirs(os.path.join(out, IMAGES_SUBDIR), exist_ok=True)
    written: dict = {"images": []}

    source, examples = choose_examples(config, editor, log)
    outputs = editor.outputs(np.stack([e.source for e in examples]), [e.caption for e in examples], coarse=True)
    rows, cells_html = [], []
    for k, example in enumerate(examples):
        values = outputs["localisation_map"][k]
        row = {"source": example.source, "target text": example.caption,
               "coarse": None if outputs["coarse"] is None else outputs["coarse"][k],
               "fine": outputs["edited"][k], "TLU map": image_io.overlay(example.source, values),
               "ground truth": example.ground_truth}
        rows.append(row)
        cells = []
        for column in COLUMNS:
            value = row[column]
            if column == "target text":
                cells.append(f'<td class="text">{html.escape(value)}</td>')
            elif value is None:
                cells.append("<td>-</td>")
            else:
                relative = f"{IMAGES_SUBDIR}/row{k}_{column.replace(' ', '_')}.png"
                written["images"].append(_save_png(os.path.join(out, relative), enlarge(value, config.cell_size)))
                cells.append(f"<td>{_img(relative, config.cell_size, column)}</td>")
        cells_html.append("<tr>" + "".join(cells) + "</tr>")
    written["grid"] = _save_png(os.path.join(out, GRID_FILENAME), edit_grid(rows, config.cell_size))

    curves_from, series = training_curves(model_dir) if model_dir else ("", {})
    if series:
        written["curves"] = _save_png(os.path.join(out, CURVES_FILENAME), chart_grid(series))
        curves_html = (f'<p class="note">From {html.escape(curves_from)}.</p>'
                       f'{_img(CURVES_FILENAME, 1080, "training curves")}')
    else:
        written["curves"] = ""
        curves_html = '<p class="note">No training log found (train_log.jsonl or logs/train events).</p>'

    tables_html = []
    benchmark_path = find_results(config.benchmark_json, "benchmark.json", [out, model_dir])
    if not benchmark_path and config.num_cases > 0:
        size = config.size or editor.image_size
        log(f"No benchmark.json found: running the SynthBirds benchmark ({config.num_cases} cases at {size} px)")
        results = bench.compare_editors([editor, bench.NoEditEditor()], config.num_cases, size, config.seed)
        benchmark_path = bench.write_comparison(
            results, out, {"checkpoint": checkpoint_name(editor, config), "num_cases": config.num_cases,
                           "size": size, "seed": config.seed})[0]
    evaluation_path = find_results(config.evaluation_json, "evaluation.json", [out, model_dir])
    for title, path, howto in (
            ("SynthBirds edit benchmark", benchmark_path, "python -m mimnet_tf.benchmark_edits --checkpoint=DIR --out=DIR"),
            ("Evaluation (the paper's Table 1 layout)", evaluation_path,
             "python -m mimnet_tf.evaluate --checkpoint=DIR")):
        if path:
            document = load_results(path)
            tables_html.append(f"<h3>{html.escape(title)}</h3><p class=\"note\">From {html.escape(path)}.</p>"
                               + html_table(document))
        else:
            tables_html.append(f"<h3>{html.escape(title)}</h3><p class=\"note\">Not available: run "
                               f"<code>{html.escape(howto)}</code>.</p>")
    written["benchmark"], written["evaluation"] = benchmark_path, evaluation_path

    header = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in (
        ("model", checkpoint_name(editor, config)), ("image size", editor.image_size), ("examples", source),
        ("written", time.strftime("%Y-%m-%d %H:%M:%S"))))
    notes = "".join(f'<p class="note">{html.escape(note)}</p>' for note in config.notes)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    page = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>MIM-Net report</title>"
            f"<style>{_STYLE}</style></head><body><h1>MIM-Net report</h1><table>{header}</table>{notes}"
            f"<h2>Edits</h2><p class=\"note\">Each source edited with the target text; the TLU map is the "
            f"model's localisation map A over the source (bright: edited here).</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(cells_html)}</tbody></table>"
            f"<p>The same table as one picture: {_img(GRID_FILENAME, 900, 'edit grid')}</p>"
            f"<h2>Training curves</h2>{curves_html}<h2>Metrics</h2>{''.join(tables_html)}"
            f"<p class=\"note\">Written in {time.time() - began:.1f} s by python -m mimnet_tf.report.</p>"
            f"</body></html>\n")
    written["html"] = os.path.join(out, HTML_FILENAME)
    with open(written["html"], "w", encoding="utf-8") as f:
        f.write(page)
    return written


def checkpoint_name(editor, config: ReportConfig) -> str:
    return getattr(editor, "checkpoint_path", "") or config.model or config.checkpoint
