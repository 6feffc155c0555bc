"""The SynthBirds edit benchmark: run an editor over the held-out edit cases and score it.

An editor is anything with `edit(images, captions) -> (edited, maps)`: uint8 (B, S, S, 3)
images and strings in, uint8 edited images and optional (B, h, w) localisation maps out. The
trained model (`GeneratorEditor`), exported models and the baselines all take this one shape
(see mimnet_tf/inference/editors.py).

`compare_editors` runs several editors over the same rendered cases (the model, "no edit",
optionally the "w/o memory" model and the ground truth itself), each case's caption in one or
more phrasings (the template captions, the held-out request families, no "bird", typos; see
`data/synthbirds/phrasings.py`), and `comparison_rows` lays their summaries side by side, one row
per measure; `run` is what `python -m mimnet_tf.benchmark_edits` does.

Cases come from the validation split (every tuning decision reads those) or the test split (the
figures a shipped model reports, scored once per model by `ship_model`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from typing import Callable, Optional, Sequence

import numpy as np

from mimnet_tf.data.synthbirds import phrasings
from mimnet_tf.data.synthbirds.edit_cases import EditCase, edit_cases, identity_cases, rephrase
from mimnet_tf.data.synthbirds.palette import COLOURABLE_PARTS
from mimnet_tf.data.synthbirds.render import render
from mimnet_tf.inference.editors import BatchEditor, GeneratorEditor, NoEditEditor, load_editor  # noqa: F401 (names users import)
from mimnet_tf.apps.evaluate_lib import load_damsm
from mimnet_tf.metrics.edits import score_edit, summarise
from mimnet_tf.metrics.statistics import format_table, write_results

RESULTS_NAME = "benchmark"
TITLE = "SynthBirds edit benchmark"
ABLATION_NAME = "w/o memory"
GROUND_TRUTH_NAME = "ground truth"


class OracleEditor:
    """Returns the ground-truth render of each case: the best any editor can score.

    Looks a request up by (source image bytes, caption), so it answers edit and identity cases
    in any order. Used as the "ground truth" column and to test the benchmark itself.
    """

    name = GROUND_TRUTH_NAME

    def __init__(self, cases: Sequence[EditCase], size: int, rendered=None):
        sources, targets = rendered or _rendered(cases, size)
        self._answers = {_key(s.image, c.caption): t.image for c, s, t in zip(cases, sources, targets)}

    def add(self, cases: Sequence[EditCase], rendered) -> None:
        for case, source, target in zip(cases, *rendered):
            self._answers[_key(source.image, case.caption)] = target.image

    def edit(self, images, captions):
        try:
            return np.stack([self._answers[_key(i, c)] for i, c in zip(images, captions)]), None
        except KeyError:
            raise ValueError("OracleEditor: asked for an edit that is not one of its cases") from None


def _key(image: np.ndarray, caption: str) -> tuple[str, str]:
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest(), caption


def _rendered(cases: Sequence[EditCase], size: int):
    sources, targets = [], []
    for case in cases:
        sources.append(render(case.source, size))
        targets.append(render(case.target, size))
    return sources, targets


def score_editor(editor: BatchEditor, cases: Sequence[EditCase], size: int, batch_size: int = 32,
                 rendered=None, damsm=None, families: Optional[Sequence[str]] = None) -> tuple[dict, list[dict]]:
    """Runs `editor` on `cases` and returns (summary, per-case scores).

    Args:
        editor: anything with the BatchEditor interface.
        cases: the edit (or identity) cases.
        size: render size S of the images given to the editor.
        batch_size: cases per `editor.edit` call.
        rendered: (sources, targets) renders of `cases` at `size`, when already made.
        damsm: optional `evaluate_lib.DamsmScorer`: adds the paper's Sim (edited image vs the
            case's caption) to each score, and Sim and MP to the summary.
        families: the phrasing family of each case, when they differ (the summary then has
            "per_family" summaries).
    """
    sources, targets = rendered or _rendered(cases, size)
    scores = []
    began = time.time()
    for start in range(0, len(cases), batch_size):
        chunk = slice(start, start + batch_size)
        images = np.stack([r.image for r in sources[chunk]])
        captions = [c.caption for c in cases[chunk]]
        edited, maps = editor.edit(images, captions)
        sims = None if damsm is None else damsm.similarity(edited, captions)
        for i, case in enumerate(cases[chunk]):
            score = score_edit(case, edited[i], sources[start + i], targets[start + i],
                               None if maps is None else maps[i])
            if families is not None:
                score["family"] = families[start + i]
            if sims is not None:
                score["sim"] = float(sims[i])
            scores.append(score)
    summary = summarise(scores)
    summary["seconds"] = round(time.time() - began, 2)
    families = {s.get("family") for s in scores} - {None}
    if len(families) > 1:  # the held-out phrasing: each family's own figures too
        summary["per_family"] = {family: summarise([s for s in scores if s.get("family") == family])
                                 for family in sorted(families)}
    return summary, scores


def run_benchmark(editor: BatchEditor, num_cases: int = 200, size: int = 64, seed: int = 0, batch_size: int = 32,
                  identity: bool = True, damsm=None, rendered: Optional[dict] = None, split: str = "validation",
                  phrasing: str = phrasings.TEMPLATE) -> dict:
    """Edit cases and identity cases of a SynthBirds split, scored. -> dict of summaries.

    Args:
        editor, size, batch_size, damsm: as in `score_editor`.
        num_cases: number of edit cases (and of identity cases).
        seed: the SynthBirds dataset seed (its scenes and edit cases).
        identity: also run the identity cases (each image edited with one of its own captions).
        rendered: the output of `render_cases` for these settings (shared between editors).
        split: "validation" or "test".
        phrasing: how the captions are written (`phrasings.PHRASINGS`).

    Returns:
        {"edit": summary, "scores": per-case scores, "identity": summary (with `identity`)}.
    """
    rendered = phrase_cases(rendered or render_cases(num_cases, size, seed, identity, split), phrasing, seed)
    families = rendered.get("families")
    summary, scores = score_editor(editor, rendered["edit_cases"], size, batch_size, rendered["edit"], damsm,
                                   families)
    result = {"edit": summary, "scores": scores}
    if identity:
        result["identity"], _ = score_editor(editor, rendered["identity_cases"], size, batch_size,
                                             rendered["identity"], damsm, families)
    return result


def render_cases(num_cases: int, size: int, seed: int = 0, identity: bool = True, split: str = "validation") -> dict:
    """The benchmark's cases and their renders: {"edit_cases", "edit", "identity_cases", "identity"}."""
    cases = edit_cases(seed, num_cases, split=split)
    rendered = {"edit_cases": cases, "edit": _rendered(cases, size)}
    if identity:
        identities = identity_cases(seed, num_cases, split=split)
        rendered.update(identity_cases=identities, identity=_rendered(identities, size))
    return rendered


def phrase_cases(rendered: dict, phrasing: str, seed: int = 0) -> dict:
    """`rendered` with every case's caption in `phrasing` (the renders are the same scenes);
    "families" holds each case's family when the phrasing mixes them (held_out)."""
    if phrasing == phrasings.TEMPLATE:
        return rendered
    phrased = dict(rendered)
    for key in ("edit_cases", "identity_cases"):
        if key in rendered:
            phrased[key] = [rephrase(case, phrasing, i, seed) for i, case in enumerate(rendered[key])]
    if phrasing == phrasings.HELD_OUT:
        phrased["families"] = [phrasings.family_for(phrasing, i) for i in range(len(rendered["edit_cases"]))]
    return phrased


def compare_editors(editors: Sequence[BatchEditor], num_cases: int = 200, size: int = 64, seed: int = 0,
                    batch_size: int = 32, damsm=None, ground_truth: bool = False,
                    log: Callable[[str], None] = lambda _: None, split: str = "validation",
                    phrasing_names: Sequence[str] = (phrasings.TEMPLATE,)) -> dict[str, dict]:
    """Every editor (and, with `ground_truth`, the oracle) over the same cases in every phrasing:
    {column name: run_benchmark result}. A column is the editor's name, followed by the phrasing
    in parentheses when it is not the template; baselines that do not read the text (no edit,
    ground truth) run on the first phrasing only."""
    rendered = render_cases(num_cases, size, seed, split=split)
    editors = list(editors)
    names = [e.name for e in editors]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"two editors are named {name!r}; give them distinct names")
    for phrasing in phrasing_names:
        if phrasing not in phrasings.PHRASINGS:
            raise ValueError(f"phrasing {phrasing!r}: expected one of {', '.join(phrasings.PHRASINGS)}")
    results = {}
    for index, phrasing in enumerate(phrasing_names):
        phrased = phrase_cases(rendered, phrasing, seed)
        column_editors = list(editors)
        if ground_truth and index == 0:
            oracle = OracleEditor(phrased["edit_cases"], size, phrased["edit"])
            oracle.add(phrased["identity_cases"], phrased["identity"])
            column_editors.append(oracle)
        for editor in column_editors:
            if index and not _reads_text(editor):
                continue
            column = editor.name if phrasing == phrasings.TEMPLATE else f"{editor.name} ({phrasing})"
            results[column] = run_benchmark(editor, num_cases, size, seed, batch_size, damsm=damsm,
                                            rendered=phrased, split=split)
            log(f"{column}: {_seconds(results[column])} s")
    return results


def _reads_text(editor: BatchEditor) -> bool:
    return not isinstance(editor, (NoEditEditor, OracleEditor))


def _edit(key: str) -> Callable[[dict], object]:
    return lambda result: result["edit"].get(key)


def _part(part: str, key: str = "attribute_accuracy_per_part") -> Callable[[dict], object]:
    return lambda result: result["edit"].get(key, {}).get(part)


def _seconds(result: dict) -> float:
    return round(result["edit"]["seconds"] + result.get("identity", {}).get("seconds", 0.0), 2)


# (row label, how to read it from a run_benchmark result); missing values show as "-".
MEASURES: tuple[tuple[str, Callable[[dict], object]], ...] = (
    ("attribute accuracy", _edit("attribute_accuracy")),
    *((f"attribute accuracy: {part}", _part(part)) for part in COLOURABLE_PARTS),
    ("kept accuracy (named, unchanged parts)", _edit("kept_accuracy")),
    ("unnamed parts preserved", _edit("unnamed_preserved")),
    *((f"unnamed parts preserved: {part}", _part(part, "unnamed_preserved_per_part")) for part in COLOURABLE_PARTS),
    ("background L1", _edit("background_l1")),
    ("L1 to ground truth", _edit("gt_l1")),
    ("Diff", _edit("diff")),
    ("Sim", _edit("sim")),
    ("MP", _edit("mp")),
    ("identity Diff (own caption)", lambda r: r.get("identity", {}).get("diff")),
    ("TLU map inside bird", _edit("map_inside")),
    ("TLU map outside bird", _edit("map_outside")),
    ("TLU inside / outside", _edit("map_ratio")),
    *((f"attribute accuracy, family {family}", lambda r, f=family: r["edit"].get("per_family", {}).get(f, {}).get(
        "attribute_accuracy")) for family in phrasings.HELD_OUT_FAMILIES),
    ("cases", _edit("cases")),
    ("seconds", _seconds),
)


def comparison_rows(results: dict[str, dict], with_sim: Optional[bool] = None) -> list[dict]:
    """One row per measure, one column per editor: [{"measure": label, name: value, ...}].

    Sim and MP rows are left out when no editor has them (no DAMSM), unless `with_sim` says.
    """
    if with_sim is None:
        with_sim = any(r["edit"].get("sim") is not None for r in results.values())
    rows = []
    for label, read in MEASURES:
        if label in ("Sim", "MP") and not with_sim:
            continue
        if label.startswith("attribute accuracy, family") and not any("per_family" in r["edit"] for r in results.values()):
            continue
        row = {"measure": label}
        for name, result in results.items():
            value = read(result)
            row[name] = None if isinstance(value, float) and np.isnan(value) else value
        rows.append(row)
    return rows


def format_comparison(results: dict[str, dict], title: str = TITLE) -> str:
    """The side-by-side Markdown table of `compare_editors` results."""
    return format_table(comparison_rows(results), ["measure", *results], title=title)


def write_comparison(results: dict[str, dict], out_dir: str, metadata: dict, title: str = TITLE) -> tuple[str, str]:
    """Writes `<out_dir>/benchmark.json` and `benchmark.md` (the side-by-side table); returns both paths."""
    return write_results(os.path.join(out_dir, RESULTS_NAME), comparison_rows(results), ["measure", *results],
                         title=title, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class BenchmarkConfig:
    """What `python -m mimnet_tf.benchmark_edits` runs.

    Attributes:
        checkpoint: model directory (or checkpoint prefix) of the model.
        model: an exported model instead (SavedModel dir, TF Serving base dir or .tflite).
        ablation_checkpoint: optional model directory of the w/o-memory model (a third column).
        num_cases: edit cases (and identity cases).
        size: render size (0: the model's image size).
        seed: SynthBirds dataset seed.
        batch_size: cases per editor call.
        damsm_dir: DAMSM for Sim / MP ("" and no damsm_dir in the checkpoint's config: skipped).
        ground_truth: add the ground-truth renders as a column (the best attainable scores).
        out: folder of benchmark.json / benchmark.md ("" writes nothing).
        split: "validation" (tuning) or "test" (a shipped model's figures, once).
        phrasings: the caption phrasings to score, each a column (`phrasings.PHRASINGS`).
        model_name: what those files call the model (default: checkpoint or model); ship_model
            benchmarks a folder before renaming it into place.
    """

    checkpoint: str = ""
    model: str = ""
    ablation_checkpoint: str = ""
    num_cases: int = 200
    size: int = 0
    seed: int = 0
    batch_size: int = 32
    damsm_dir: str = ""
    ground_truth: bool = False
    out: str = ""
    split: str = "validation"
    phrasings: tuple[str, ...] = (phrasings.TEMPLATE,)
    model_name: str = ""


def run(config: BenchmarkConfig, log: Callable[[str], None] = print) -> dict:
    """Loads the editors and the DAMSM, compares them, writes the results; returns them.

    Returns:
        {"results": {name: run_benchmark result}, "rows": comparison rows, "table": Markdown,
        "paths": (json, md) when written}.
    """
    if config.num_cases < 1:
        raise ValueError(f"--num_cases={config.num_cases}: expected >= 1")
    editor = load_editor(config.checkpoint, config.model)
    editors = [editor, NoEditEditor()]
    if config.ablation_checkpoint:
        editors.insert(1, load_editor(checkpoint=config.ablation_checkpoint, name=ABLATION_NAME))
    size = config.size or editor.image_size
    damsm_dir = config.damsm_dir or (editor.config.model.damsm_dir if getattr(editor, "config", None) else "")
    damsm = load_damsm(damsm_dir, log)
    log(f"SynthBirds edit benchmark: {config.num_cases} {config.split} cases at {size} px (seed {config.seed}), "
        f"phrasings: {', '.join(config.phrasings)}; editors: {', '.join(e.name for e in editors)}")
    results = compare_editors(editors, config.num_cases, size, config.seed, config.batch_size, damsm,
                              config.ground_truth, log, split=config.split, phrasing_names=config.phrasings)
    rows = comparison_rows(results)
    title = f"{TITLE} ({config.split} cases)"
    output = {"results": results, "rows": rows, "table": format_comparison(results, title), "paths": ()}
    if config.out:
        metadata = {"checkpoint": config.model_name or config.checkpoint or config.model,
                    "ablation_checkpoint": config.ablation_checkpoint, "num_cases": config.num_cases, "size": size,
                    "seed": config.seed, "split": config.split, "phrasings": list(config.phrasings),
                    "damsm_dir": damsm.damsm_dir if damsm is not None else None}
        output["paths"] = write_comparison(results, config.out, metadata, title)
    return output
