"""What `make demo` tells the user at the end (mimnet_tf/demo.py runs the steps).

The summary names where the report is, the shipped model's and the short run's benchmark
figures (the short run's with how much of the machine it got: a busy machine trains fewer
steps in the same minutes) and the one command that edits the user's own picture next.
"""
from __future__ import annotations

from typing import Optional

from mimnet_tf import machine_load
from mimnet_tf.inference import presets

NEXT_IMAGE = "my_bird.png"
NEXT_TEXT = "make the wings green and the crown red"


def edit_command(preset: str) -> str:
    """The command that edits the user's own picture with `preset` (a preset name or a model directory)."""
    return (f".venv/bin/python -m mimnet_tf.edit --preset={preset} --image={NEXT_IMAGE} --text=\"{NEXT_TEXT}\" "
            "--out=edited.png --save_map")


def describe_figures(edit: dict) -> str:
    """The headline benchmark figures of one model's `run_benchmark(...)["edit"]` summary."""
    parts = [f"{edit['cases']} cases: attribute accuracy {edit['attribute_accuracy']:.3f}",
             f"kept {edit['kept_accuracy']:.3f}", f"background L1 {edit['background_l1']:.3f}"]
    if edit.get("map_ratio") is not None:
        parts.append(f"TLU map {edit['map_ratio']:.1f}x inside the bird")
    return ", ".join(parts)


def describe_training(steps: int, train_seconds: float, budget_seconds: float) -> str:
    """`812 steps in 12.0 min of training (budget 11.8 min)`."""
    return f"{steps} steps in {train_seconds / 60:.1f} min of training (budget {budget_seconds / 60:.1f} min)"


def summary_lines(report: str, shipped_dir: str, shipped: Optional[dict], short_dir: str, short: dict, steps: int,
                  train_seconds: float, budget_seconds: float, usage: Optional[machine_load.CpuShare]) -> list[str]:
    """The demo's closing lines.

    Args:
        report: the report's index.html.
        shipped_dir: the shipped model's directory (its preset name is used when it is one).
        shipped, short: `run_benchmark(...)["edit"]` of the shipped model (None without one) and the short run.
        short_dir: the short run's model directory.
        steps, train_seconds, budget_seconds: what the short run trained, in how long, of what budget.
        usage: the CPU share the short run got (None where it could not be measured).
    """
    lines = ["Summary", f"  report:        {report}"]
    if shipped is not None:
        lines.append(f"  shipped model: {shipped_dir}, {describe_figures(shipped)}")
    else:
        lines.append(f"  shipped model: none at {shipped_dir or '(not asked for)'}; the short run made everything")
    lines.append(f"  short run:     {short_dir}, {describe_training(steps, train_seconds, budget_seconds)}, "
                 f"{describe_figures(short)}")
    lines.append(f"                 ({machine_load.describe(usage)})")
    best = (presets.name_of(shipped_dir) or shipped_dir) if shipped is not None else short_dir
    lines.append("  edit your own picture next:")
    lines.append(f"    {edit_command(best)}")
    return lines
