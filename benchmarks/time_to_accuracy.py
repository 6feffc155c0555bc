"""Attribute accuracy against training minutes: every kept checkpoint of one or more runs, scored
on the SynthBirds validation cases, as a table and a PNG plot.

    python benchmarks/time_to_accuracy.py --runs=old:runs/synthbirds_old,new:runs/synthbirds \
        --num_cases=200 --phrasing=template,held_out --out=docs/time_to_accuracy

A run's minutes at a checkpoint are its training wall time up to that step, read from the run's
`train_log.jsonl` (summed over the processes of a resumed run, so a restart does not count
twice). Runs trained at the same time on one machine compare fairly; runs trained apart carry
the machine's state of the moment, which the table states beside each run (images/s). Scores
are cached in `<out>.json` by checkpoint, so a rerun after more checkpoints only scores the new
ones. Prints, per run and phrasing, the first minute at which the accuracy reached `--target`.
"""
from __future__ import annotations

import json
import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from mimnet_tf.training.summaries import training_minutes  # noqa: E402,F401 (the minutes of a train_log.jsonl)


def minutes_at(minutes: dict[int, float], step: int) -> float:
    """Minutes at `step`, or at the last logged step before it."""
    logged = [s for s in minutes if s <= step]
    return minutes[max(logged)] if logged else 0.0


def checkpoints(model_dir: str) -> list[tuple[int, str]]:
    """(step, prefix) of every checkpoint kept in `model_dir`, oldest first."""
    import tensorflow as tf

    from mimnet_tf.models.model_dir import CHECKPOINT_SUBDIR

    state = tf.train.get_checkpoint_state(os.path.join(model_dir, CHECKPOINT_SUBDIR))
    prefixes = list(state.all_model_checkpoint_paths) if state else []
    return sorted((int(p.rsplit("-", 1)[1]), p) for p in prefixes)


def score(prefix: str, num_cases: int, phrasings_: list[str], split: str) -> dict[str, float]:
    """{phrasing: attribute accuracy} of the checkpoint `prefix`."""
    from mimnet_tf.apps import benchmark_edits_lib
    from mimnet_tf.inference.editors import load_editor

    editor = load_editor(checkpoint=prefix)
    results = benchmark_edits_lib.compare_editors([editor], num_cases, editor.image_size, split=split,
                                                  phrasing_names=phrasings_)
    return {p: results[editor.name if p == "template" else f"{editor.name} ({p})"]["edit"]["attribute_accuracy"]
            for p in phrasings_}


def first_minute(points: list[dict], phrasing: str, target: float):
    """The first minute at which `phrasing`'s accuracy is at least `target`, or None."""
    for point in points:
        if point["accuracy"][phrasing] >= target:
            return point["minutes"]
    return None


_COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14))
_DASHES = {0: None, 1: (8, 6), 2: (2, 4)}


def plot(curves: dict[str, list[dict]], phrasings_: list[str], target: float, path: str) -> None:
    """A line plot (PIL) of accuracy against minutes: a colour per run, a dash per phrasing."""
    from PIL import Image, ImageDraw

    width, height, left, right, top, bottom = 720, 440, 60, 200, 20, 50
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    max_minutes = max([p["minutes"] for points in curves.values() for p in points] + [1.0])

    def xy(minutes, accuracy):
        return (left + (width - left - right) * minutes / max_minutes,
                top + (height - top - bottom) * (1.0 - accuracy))

    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    for tick in range(0, 11, 2):
        y = xy(0, tick / 10)[1]
        draw.line([left - 4, y, left, y], fill="black")
        draw.text((left - 34, y - 6), f"{tick / 10:.1f}", fill="black")
    step = max(1, round(max_minutes / 6))
    for tick in range(0, int(max_minutes) + 1, step):
        x = xy(tick, 0)[0]
        draw.line([x, height - bottom, x, height - bottom + 4], fill="black")
        draw.text((x - 8, height - bottom + 8), str(tick), fill="black")
    draw.text((left + 120, height - 22), "training minutes (this machine)", fill="black")
    draw.text((6, top - 14), "attribute accuracy", fill="black")
    y_target = xy(0, target)[1]
    for x in range(left, width - right, 6):
        draw.point((x, y_target), fill=(120, 120, 120))
    legend_y = top + 10
    for r, (name, points) in enumerate(curves.items()):
        colour = _COLOURS[r % len(_COLOURS)]
        for k, phrasing in enumerate(phrasings_):
            line = [xy(p["minutes"], p["accuracy"][phrasing]) for p in points]
            if len(line) > 1:
                _polyline(draw, line, colour, _DASHES.get(k % 3))
            for x, y in line:
                draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
            lx = width - right + 14
            _polyline(draw, [(lx, legend_y + 6), (lx + 28, legend_y + 6)], colour, _DASHES.get(k % 3))
            draw.text((lx + 34, legend_y), f"{name}, {phrasing}", fill="black")
            legend_y += 18
    image.save(path)


def _polyline(draw, points, colour, dash):
    if dash is None:
        draw.line(points, fill=colour, width=2)
        return
    on, off = dash
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        length = max(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5, 1e-6)
        t = 0.0
        while t < length:
            t1 = min(t + on, length)
            draw.line([(x0 + (x1 - x0) * t / length, y0 + (y1 - y0) * t / length),
                       (x0 + (x1 - x0) * t1 / length, y0 + (y1 - y0) * t1 / length)], fill=colour, width=2)
            t += on + off


def _define_flags():
    """The script's flags (defined when it runs, so importing it for its functions adds none)."""
    flags.DEFINE_list("runs", [], "name:model_dir pairs, one line each in the plot")
    flags.DEFINE_integer("num_cases", 200, "validation edit cases per checkpoint")
    flags.DEFINE_list("phrasing", ["template", "held_out"], "phrasings to score (benchmark_edits --phrasing)")
    flags.DEFINE_float("target", 0.85, "the accuracy whose first minute is reported")
    flags.DEFINE_string("out", "time_to_accuracy", "path prefix of the .json, .md and .png written")
    flags.DEFINE_enum("split", "validation", ["validation", "test"], "whose cases (validation for decisions)")


def main(argv):
    del argv
    F = flags.FLAGS
    if not F.runs:
        raise app.UsageError("--runs: give at least one name:model_dir")
    cache_path = F.out + ".json"
    cache = {}
    if os.path.exists(cache_path):
        with open(cache_path, encoding="utf-8") as f:
            cache = json.load(f).get("scores", {})
    curves, speeds = {}, {}
    for entry in F.runs:
        name, _, model_dir = entry.partition(":")
        if not model_dir or not os.path.isdir(model_dir):
            raise app.UsageError(f"--runs: {entry!r} is not name:model_dir of an existing directory")
        minutes = training_minutes(os.path.join(model_dir, "train_log.jsonl"))
        with open(os.path.join(model_dir, "train_log.jsonl"), encoding="utf-8") as f:
            rates = [json.loads(line).get("images_per_second") for line in f]
        rates = sorted(r for r in rates if r)
        speeds[name] = rates[len(rates) // 2] if rates else None
        points = []
        for step, prefix in checkpoints(model_dir):
            key = f"{os.path.abspath(prefix)}|{F.split}|{F.num_cases}"
            missing = [p for p in F.phrasing if p not in cache.get(key, {})]
            if missing:
                cache.setdefault(key, {}).update(score(prefix, F.num_cases, missing, F.split))
                print(f"{name} step {step}: {cache[key]}", flush=True)
            points.append({"step": step, "minutes": round(minutes_at(minutes, step), 2),
                           "accuracy": {p: cache[key][p] for p in F.phrasing}})
        curves[name] = points
    lines = [f"| run | median images/s | checkpoint | minutes | " + " | ".join(F.phrasing) + " |",
             "|---|---|---|---|" + "---|" * len(F.phrasing)]
    for name, points in curves.items():
        for p in points:
            lines.append(f"| {name} | {speeds[name]} | {p['step']} | {p['minutes']} | "
                         + " | ".join(f"{p['accuracy'][k]:.3f}" for k in F.phrasing) + " |")
    summary = []
    for name, points in curves.items():
        for phrasing in F.phrasing:
            reached = first_minute(points, phrasing, F.target)
            summary.append(f"{name}, {phrasing}: " + (f"{F.target} first reached at {reached} min"
                                                      if reached is not None else f"never reached {F.target}"))
    table = "\n".join(lines + [""] + summary)
    print(table)
    os.makedirs(os.path.dirname(os.path.abspath(F.out)), exist_ok=True)
    with open(cache_path, "w", encoding="utf-8") as f:
        json.dump({"scores": cache, "curves": curves, "split": F.split, "num_cases": F.num_cases},
                  f, indent=1, sort_keys=True)
    with open(F.out + ".md", "w", encoding="utf-8") as f:
        f.write(table + "\n")
    plot(curves, F.phrasing, F.target, F.out + ".png")
    print(f"Written: {F.out}.json, .md, .png")


if __name__ == "__main__":
    _define_flags()
    app.run(main)
