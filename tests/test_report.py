"""The visual report (mimnet_tf/report.py, report_lib.py): a self-contained HTML page and its PNGs."""
import html.parser
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from mimnet_tf.apps import report_lib
from mimnet_tf.data.synthbirds.edit_cases import edit_cases
from tests.editing_fixtures import run_cli, tiny_model_dir  # noqa: F401  (fixtures)


class _Page(html.parser.HTMLParser):
    """Collects every referenced resource (img src, link href) and the visible text."""

    def __init__(self):
        super().__init__()
        self.sources, self.text = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.sources.append(attrs.get("src", ""))
        if tag in ("link", "script") and (attrs.get("href") or attrs.get("src")):
            self.sources.append(attrs.get("href") or attrs.get("src"))

    def handle_data(self, data):
        self.text.append(data)


def _check_page(path: str) -> _Page:
    """Every resource of the page is a valid PNG file beside it (relative path, no network)."""
    page = _Page()
    with open(path, encoding="utf-8") as f:
        page.feed(f.read())
    assert page.sources, "the page references no image"
    folder = os.path.dirname(path)
    for source in page.sources:
        assert not os.path.isabs(source) and "://" not in source, source
        file = os.path.join(folder, source)
        assert os.path.isfile(file), f"{source} is referenced but missing"
        with Image.open(file) as image:
            assert image.format == "PNG", source
            image.verify()
    return page


@pytest.fixture()
def run_dir(tiny_model_dir, tmp_path):
    """A copy of the tiny model directory with a training log (non-finite values included)."""
    copy = tmp_path / "run"
    shutil.copytree(tiny_model_dir, copy)
    with open(copy / "train_log.jsonl", "w", encoding="utf-8") as f:
        for step in range(1, 11):
            losses = {"g_total": 2.0 / step, "d_total": 1.0 + 0.01 * step, "rec": "nan" if step == 5 else 0.5}
            f.write(json.dumps({"step": step, "losses": losses, "images_per_second": 12.0, "elapsed": step}) + "\n")
    return str(copy)


def test_report_page_references_only_valid_pngs(run_dir, tmp_path):
    out = str(tmp_path / "report")
    written = report_lib.write_report(report_lib.ReportConfig(checkpoint=run_dir, out=out, num_examples=3,
                                                              source="synthbirds", num_cases=4), log=lambda _: None)
    page = _check_page(written["html"])
    text = " ".join(page.text)
    for column in report_lib.COLUMNS:
        assert column in text
    for case in edit_cases(0, 3):
        assert case.caption in text  # the target texts, as HTML text
    # 3 rows x 5 image cells (ground truth known) + the grid + the curves.
    assert len(page.sources) == 3 * 5 + 2
    assert "images/row2_ground_truth.png" in page.sources
    assert report_lib.GRID_FILENAME in page.sources and report_lib.CURVES_FILENAME in page.sources
    with Image.open(written["grid"]) as grid:
        assert grid.height > 3 * 128 and grid.width > 6 * 128
    # No benchmark.json anywhere: a small one was run and is shown (and written beside the page).
    assert written["benchmark"] == os.path.join(out, "benchmark.json")
    assert "SynthBirds edit benchmark" in text and "attribute accuracy" in text
    assert "Not available" in text and "mimnet_tf.evaluate" in text  # no evaluation.json yet


def test_report_of_test_images_and_existing_results(run_dir, tmp_path):
    results = {"title": "t", "columns": ["method", "Sim"], "rows": [{"method": "MIM-Net 32", "Sim": 0.123456}],
               "metadata": {}}
    with open(os.path.join(run_dir, "evaluation.json"), "w", encoding="utf-8") as f:
        json.dump(results, f)
    out = str(tmp_path / "report")
    note = "Short run: 12 steps; the machine was busy: other processes took 60 % of its 2 cores <sic>"
    written = report_lib.write_report(report_lib.ReportConfig(checkpoint=run_dir, out=out, num_examples=2,
                                                              source="test", num_cases=0, notes=(note,)),
                                      log=lambda _: None)
    page = _check_page(written["html"])
    assert len(page.sources) == 2 * 4 + 2  # dataset images: no ground-truth cell
    assert written["evaluation"] == os.path.join(run_dir, "evaluation.json") and written["benchmark"] == ""
    assert "0.123" in " ".join(page.text)
    assert note in page.text  # shown as text (escaped), under the header


def test_training_curves_from_the_jsonl_log_and_from_tensorboard_events(run_dir, tmp_path):
    import tensorflow as tf

    source, series = report_lib.training_curves(run_dir)
    assert source.endswith("train_log.jsonl")
    assert series["loss/g_total"][:2] == [(1.0, 2.0), (2.0, 1.0)]
    assert np.isnan(series["loss/rec"][4][1]) and series["perf/images_per_second"][0] == (1.0, 12.0)
    # Without the JSON-lines log, the TensorBoard scalars are read.
    events_run = tmp_path / "events_run"
    writer = tf.summary.create_file_writer(str(events_run / "logs" / "train"))
    with writer.as_default():
        for step in (0, 10, 20):
            tf.summary.scalar("loss/g_total", 1.0 / (step + 1), step=step)
    writer.close()
    source, series = report_lib.training_curves(str(events_run))
    assert source.endswith(os.path.join("logs", "train"))
    assert [s for s, _ in series["loss/g_total"]] == [0.0, 10.0, 20.0]
    np.testing.assert_allclose([v for _, v in series["loss/g_total"]], [1.0, 1 / 11, 1 / 21], rtol=1e-6)


def test_line_chart_draws_the_series_where_it_belongs():
    chart = report_lib.line_chart([(0, 0.0), (1, float("nan")), (10, 1.0)], "rising", width=200, height=120)
    assert chart.shape == (120, 200, 3)
    blue = np.all(chart == (30, 90, 200), axis=-1)
    ys, xs = np.nonzero(blue)
    # Two dots (the NaN breaks the line): the first at the bottom left, the last at the top right.
    assert xs.min() < 60 and ys[xs.argmin()] > 90
    assert xs.max() > 180 and ys[xs.argmax()] < 30
    empty = report_lib.line_chart([(0, float("nan"))], "nothing")
    assert not np.all(empty == (30, 90, 200), axis=-1).any()


@pytest.mark.slow
def test_cli_prints_the_page_path(run_dir, tmp_path):
    process = run_cli("mimnet_tf.report", f"--checkpoint={run_dir}", f"--out={tmp_path}/r", "--num_examples=2",
                      "--num_cases=2")
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip() == f"Report: {tmp_path}/r/index.html"
    _check_page(str(tmp_path / "r" / "index.html"))
