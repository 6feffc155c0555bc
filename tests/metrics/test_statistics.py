import json
import math

import numpy as np
import pytest

from mimnet_tf.metrics import statistics


def test_running_mean_matches_numpy_over_uneven_batches():
    values = np.random.default_rng(0).normal(loc=5.0, scale=2.0, size=1000)
    tracker = statistics.RunningMean()
    for batch in np.split(values, [1, 7, 300, 301, 999]):
        tracker.update(batch)
    assert tracker.count == 1000
    assert tracker.mean == pytest.approx(values.mean(), abs=1e-12)
    assert tracker.std == pytest.approx(values.std(), abs=1e-12)


def test_running_mean_literal_values_scalars_and_vectors():
    tracker = statistics.RunningMean()
    tracker.update(np.array([0.1, 0.3]))
    tracker.update(0.5)
    assert (tracker.count, tracker.mean) == (3, pytest.approx(0.3))
    assert tracker.std == pytest.approx(math.sqrt(((0.2**2) * 2) / 3))
    per_class = statistics.RunningMean(shape=(2,))
    per_class.update(np.array([[1.0, 10.0], [3.0, 30.0]]))
    np.testing.assert_allclose(per_class.mean, [2.0, 20.0])
    with pytest.raises(ValueError, match=r"values must be \(B, \*\(2,\)\)"):
        per_class.update(np.ones((2, 3)))


def test_running_mean_before_any_update_and_after_reset_is_nan():
    tracker = statistics.RunningMean()
    assert math.isnan(tracker.mean) and math.isnan(tracker.std)
    tracker.update([1.0, 2.0])
    tracker.reset()
    assert tracker.count == 0 and math.isnan(tracker.mean)


def test_running_means_tracks_named_metrics():
    metrics = statistics.RunningMeans()
    metrics.update(sim=np.array([0.2, 0.4]), diff=np.array([0.1, 0.1]))
    metrics.update(sim=np.array([0.6]), diff=np.array([0.4]))
    assert metrics.means() == {"sim": pytest.approx(0.4), "diff": pytest.approx(0.2)}
    assert metrics["sim"].count == 3
    assert metrics.stds()["diff"] == pytest.approx(np.std([0.1, 0.1, 0.4]))


ROWS = [
    {"method": "TAGAN", "IS": 3.32, "Sim": 0.048, "Diff": 0.267},
    {"method": "MIM-Net 256", "IS": 4.551, "Sim": 0.171, "Diff": 0.19, "note": "a|b"},
    {"method": "real images", "IS": float("nan"), "Sim": np.float32(0.296), "Diff": 0},
]


def test_format_table_renders_markdown_with_formats_and_missing_cells():
    table = statistics.format_table(ROWS, ["method", "IS", "Sim", "Diff", "note"], title="CUB", formats={"IS": ".2f"})
    assert table == (
        "### CUB\n"
        "\n"
        "| method | IS | Sim | Diff | note |\n"
        "| --- | --- | --- | --- | --- |\n"
        "| TAGAN | 3.32 | 0.048 | 0.267 | - |\n"
        "| MIM-Net 256 | 4.55 | 0.171 | 0.190 | a\\|b |\n"
        "| real images | nan | 0.296 | 0 | - |\n"
    )


def test_format_table_defaults_to_every_key_in_order_of_appearance():
    table = statistics.format_table([{"a": 1}, {"b": 2.0, "a": 3}])
    assert table.splitlines() == ["| a | b |", "| --- | --- |", "| 1 | - |", "| 3 | 2.000 |"]
    with pytest.raises(ValueError, match="at least one column"):
        statistics.format_table([])


def test_write_results_writes_matching_json_and_markdown(tmp_path):
    prefix = str(tmp_path / "reports" / "table1")
    json_path, markdown_path = statistics.write_results(
        prefix, ROWS, ["method", "IS", "Sim"], title="CUB", metadata={"num_images": np.int64(600), "fid": np.nan}
    )
    assert (json_path, markdown_path) == (prefix + ".json", prefix + ".md")
    with open(json_path) as f:
        document = json.load(f)
    assert document["columns"] == ["method", "IS", "Sim"]
    assert document["rows"][1]["IS"] == 4.551
    assert document["rows"][2]["IS"] is None  # NaN becomes null: strict JSON
    assert document["rows"][2]["Sim"] == pytest.approx(0.296)
    assert document["metadata"] == {"num_images": 600, "fid": None}
    with open(markdown_path) as f:
        markdown = f.read()
    assert markdown.startswith("### CUB\n\n| method | IS | Sim |\n")
    assert "| MIM-Net 256 | 4.551 | 0.171 |" in markdown
    assert "- num_images: 600\n" in markdown
