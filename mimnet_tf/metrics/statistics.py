"""Accumulating per-example metrics over batches, and reporting them as paper-style tables.

`RunningMean` keeps count, mean and variance of values seen batch by batch (Chan et al.'s
parallel update in float64, so a long evaluation does not lose precision); `RunningMeans` is a
named set of them. `format_table` renders rows as a Markdown table and `write_results` stores
the same rows as JSON (for machines) and Markdown (for people) side by side.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping, Optional, Sequence

import numpy as np


class RunningMean:
    """Mean and standard deviation of values arriving in batches.

    Args:
        shape: shape of one value (`()` for scalars, `(C,)` for per-class values, ...).

    Example:
        >>> sim = RunningMean()
        >>> sim.update(np.array([0.1, 0.3]))
        >>> sim.update(0.5)
        >>> sim.mean, sim.count  # (0.3, 3)
    """

    def __init__(self, shape: Sequence[int] = ()):
        self.shape = tuple(shape)
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self._mean = np.zeros(self.shape, np.float64)
        self._sum_squares = np.zeros(self.shape, np.float64)  # sum of squared deviations (M2)

    def update(self, values) -> None:
        """Adds a batch `(B, *shape)` of values, or a single value of `shape`."""
        values = np.asarray(values, np.float64)
        if values.shape == self.shape:
            values = values[None]
        if values.shape[1:] != self.shape:
            raise ValueError(f"values must be (B, *{self.shape}) or {self.shape}; got shape {values.shape}")
        batch_count = values.shape[0]
        if batch_count == 0:
            return
        batch_mean = values.mean(axis=0)
        batch_sum_squares = ((values - batch_mean) ** 2).sum(axis=0)
        total = self.count + batch_count
        delta = batch_mean - self._mean
        self._mean = self._mean + delta * (batch_count / total)
        self._sum_squares = self._sum_squares + batch_sum_squares + delta**2 * (self.count * batch_count / total)
        self.count = total

    @property
    def mean(self):
        """The mean so far (a float for scalar values); NaN before any update."""
        mean = self._mean if self.count else np.full(self.shape, np.nan)
        return float(mean) if mean.ndim == 0 else mean.copy()

    @property
    def std(self):
        """Population standard deviation so far (as np.std); NaN before any update."""
        std = np.sqrt(self._sum_squares / self.count) if self.count else np.full(self.shape, np.nan)
        return float(std) if np.ndim(std) == 0 else std


class RunningMeans:
    """A `RunningMean` per metric name, created on first use.

    Example:
        >>> metrics = RunningMeans()
        >>> metrics.update(sim=batch_sims, diff=batch_diffs)
        >>> metrics.means()  # {"sim": ..., "diff": ...}
    """

    def __init__(self):
        self._trackers: dict[str, RunningMean] = {}

    def update(self, **values) -> None:
        for name, value in values.items():
            if name not in self._trackers:
                self._trackers[name] = RunningMean(np.shape(value)[1:] if np.ndim(value) else ())
            self._trackers[name].update(value)

    def __getitem__(self, name: str) -> RunningMean:
        return self._trackers[name]

    def means(self) -> dict[str, Any]:
        return {name: tracker.mean for name, tracker in self._trackers.items()}

    def stds(self) -> dict[str, Any]:
        return {name: tracker.std for name, tracker in self._trackers.items()}


def _format_cell(value, float_format: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        return format(float(value), float_format) if math.isfinite(value) else str(float(value))
    if isinstance(value, np.generic):
        value = value.item()
    # A pipe or a newline inside a cell would break the Markdown table.
    return str(value).replace("|", "\\|").replace("\n", " ")


def _resolve_columns(rows: Sequence[Mapping[str, Any]], columns: Optional[Sequence[str]]) -> list[str]:
    if columns is not None:
        return list(columns)
    names: dict[str, None] = {}  # keys in order of first appearance
    for row in rows:
        names.update(dict.fromkeys(row))
    return list(names)


def format_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Optional[Sequence[str]] = None,
    title: Optional[str] = None,
    formats: Optional[Mapping[str, str]] = None,
    float_format: str = ".3f",
) -> str:
    """Renders rows as a Markdown table, like the papers' tables.

    Args:
        rows: one dict per table row, e.g. `{"method": "MIM-Net", "IS": 4.55, "Sim": 0.171}`.
        columns: keys to show, in order (their names are the headers); default: every key, in
            order of first appearance.
        title: optional heading placed above the table (`### title`).
        formats: per-column format specs for floats, e.g. `{"IS": ".2f"}`.
        float_format: format spec of other float cells.

    Returns:
        The table as a string ending in a newline. Missing keys and None show as "-".
    """
    columns = _resolve_columns(rows, columns)
    if not columns:
        raise ValueError("format_table needs at least one column; got no columns and no row keys")
    formats = dict(formats or {})
    lines = [f"### {title}", ""] if title else []
    lines.append("| " + " | ".join(_format_cell(c, float_format) for c in columns) + " |")
    lines.append("| " + " | ".join("---" for _ in columns) + " |")
    for row in rows:
        cells = [_format_cell(row.get(c), formats.get(c, float_format)) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _json_ready(value):
    """numpy scalars/arrays -> Python; non-finite floats -> None (strict JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_results(
    path_prefix: str,
    rows: Sequence[Mapping[str, Any]],
    columns: Optional[Sequence[str]] = None,
    title: Optional[str] = None,
    metadata: Optional[Mapping[str, Any]] = None,
    formats: Optional[Mapping[str, str]] = None,
) -> tuple[str, str]:
    """Writes `<path_prefix>.json` and `<path_prefix>.md` holding the same rows.

    Args:
        path_prefix: output path without extension (its folder is created).
        rows, columns, title, formats: as in `format_table`.
        metadata: extra JSON-serialisable facts (checkpoint, dataset, number of images, ...),
            stored under "metadata" in the JSON and listed under the Markdown table.

    Returns:
        `(json_path, markdown_path)`.
    """
    columns = _resolve_columns(rows, columns)
    folder = os.path.dirname(os.path.abspath(path_prefix))
    os.makedirs(folder, exist_ok=True)
    json_path, markdown_path = path_prefix + ".json", path_prefix + ".md"
    document = {
        "title": title,
        "columns": columns,
        "rows": [dict(row) for row in rows],
        "metadata": dict(metadata or {}),
    }
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(_json_ready(document), f, indent=2, allow_nan=False)
        f.write("\n")
    markdown = format_table(rows, columns, title, formats)
    if metadata:
        markdown += "\n" + "\n".join(f"- {key}: {_format_cell(value, 'g')}" for key, value in metadata.items()) + "\n"
    with open(markdown_path, "w", encoding="utf-8") as f:
        f.write(markdown)
    return json_path, markdown_path
