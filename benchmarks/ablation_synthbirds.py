"""The SynthBirds ablation table: the recipe vs without memory, L_pgt/L_rmt, TLU, and with or without
DAMSM pretraining (and without the recipe's --swap_localisation).

    python benchmarks/ablation_synthbirds.py --flagfile=configs/synthbirds.flags --ablation_minutes=15 \
        --ablation_variants=recipe,no_memory,no_pgt_rmt,no_tlu,with_damsm \
        --ablation_dir=runs/ablation

Each variant is the flagfile's configuration with one change, trained from scratch into
`<ablation_dir>/<variant>` for `--ablation_minutes` of training wall time (a rerun resumes a variant that
did not finish; `--max_steps` in the flagfile still caps a run), then scored by the SynthBirds
edit benchmark on held-out cases. A variant that starts from a DAMSM needs one
(`python -m mimnet_tf.pretrain_damsm --flagfile=...`): the flagfile's `--damsm_dir` for its own
variants, `--ablation_damsm_dir` for `with_damsm` (the paper's start: text encoder and image
encoder from the DAMSM, fine-tuned). `no_damsm` trains both encoders from random initialisation;
for a flagfile without a DAMSM (configs/synthbirds.flags) it is the recipe itself.
Prints one Markdown table (also written as `<ablation_dir>/ablation.md` and `.json`):
attribute accuracy on changed parts, kept accuracy on named-but-unchanged parts, background
L1, identity Diff, TLU map ratio (inside / outside the bird), steps and training minutes.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from mimnet_tf import config as config_lib  # noqa: E402
from mimnet_tf import flags as mimnet_flags  # noqa: E402

mimnet_flags.define_flags()
_MINUTES = flags.DEFINE_float("ablation_minutes", 15.0, "training budget of each variant, in minutes")
_CHUNK = flags.DEFINE_integer("ablation_chunk_steps", 100,
                              "steps between budget checks (each chunk ends with a checkpoint)")
_VARIANTS = flags.DEFINE_list("ablation_variants",
                              "recipe,no_memory,no_pgt_rmt,no_tlu,with_damsm",
                              "variants to run, in order")
_ABLATION_DIR = flags.DEFINE_string("ablation_dir", "runs/ablation", "where the variants' model directories go")
_NUM_CASES = flags.DEFINE_integer("ablation_cases", 200, "held-out edit cases per variant")
_DAMSM_DIR = flags.DEFINE_string("ablation_damsm_dir", "runs/synthbirds_damsm",
                                 "the pretrained DAMSM the with_damsm variant starts from")
FLAGS = flags.FLAGS


def _replace(config, **sections):
    """`config` with `{section: {flag name: value}}` changed."""
    return dataclasses.replace(config, **{name: config_lib.replace_flags(getattr(config, name), **changes)
                                          for name, changes in sections.items()})


def _damsm_dir() -> str:
    """--ablation_damsm_dir, its default before the flags are parsed (as when a test builds variants)."""
    return FLAGS[_DAMSM_DIR.name].value


# One change each from the recipe; the names are the README table's rows.
VARIANTS = {
    "recipe": ("the recipe (configs/synthbirds.flags)", lambda c: c),
    "no_memory": ("w/o memory (words projected to textures)", lambda c: _replace(c, model={"use_memory": False})),
    "no_pgt_rmt": ("w/o L_pgt and L_rmt", lambda c: _replace(c, loss={"pseudo_gt": 0.0, "randomised_memory": 0.0})),
    "no_tlu": ("w/o TLU (A = 1)", lambda c: _replace(c, model={"use_tlu": False}, loss={"swap_localisation": 0.0})),
    "no_swap_localisation": ("w/o --swap_localisation (A not taught where the swap repainted)",
                             lambda c: _replace(c, loss={"swap_localisation": 0.0})),
    "no_damsm": ("w/o DAMSM pretraining (text and image encoders trained from scratch)",
                 lambda c: _replace(c, model={"damsm_dir": "", "image_encoder_from_damsm": False,
                                              "freeze_text_encoder": False})),
    "with_damsm": ("with the paper's DAMSM start (text and image encoders from pretrain_damsm, fine-tuned)",
                   lambda c: _replace(c, model={"damsm_dir": _damsm_dir(), "image_encoder_from_damsm": True,
                                                "freeze_text_encoder": False})),
}


def variant_config(config, name: str, ablation_dir: str):
    if name not in VARIANTS:
        raise app.UsageError(f"--ablation_variants: unknown variant {name!r}; expected some of {sorted(VARIANTS)}")
    changed = VARIANTS[name][1](config)
    return _replace(changed, train={"model_dir": os.path.join(ablation_dir, name), "progress": False})


def _effective(config):
    """`config` with settings that cannot act set to their off value, model_dir and progress
    cleared: L_pgt is computed only on inputs that colour swap left alone, so with --colour_swap=1
    its weight is inert; without --swap_localisation its target options are."""
    if config.train.colour_swap.probability >= 1.0:
        config = _replace(config, loss={"pseudo_gt": 0.0})
    if config.loss.swap_localisation <= 0:
        config = _replace(config, loss={"swap_localisation_pool": "area", "swap_localisation_balance": False})
    return _replace(config, train={"model_dir": "", "progress": False})


def same_as_recipe(config, recipe) -> bool:
    """True when a variant would train exactly as the recipe does (so it is not trained again)."""
    return _effective(config) == _effective(recipe)


def config_differences(stored, wanted) -> list:
    """`--flag: stored -> wanted` for every setting that acts differently in the two configs
    (--vocab_size=0 asks for the vocabulary's size, which the stored run wrote in)."""
    if wanted.model.vocab_size == 0:
        stored = _replace(stored, model={"vocab_size": 0})
    stored, wanted = _effective(stored).to_dict(), _effective(wanted).to_dict()
    return [f"--{name}: {value!r} -> {wanted[section][name]!r}"
            for section, values in stored.items() for name, value in values.items() if value != wanted[section][name]]


def run_variant(config, name: str, minutes: float, chunk: int, num_cases: int) -> dict:
    from mimnet_tf.apps import benchmark_edits_lib, train_lib

    model_dir = config.train.model_dir
    done_path = os.path.join(model_dir, "ablation_run.json")
    if os.path.exists(done_path):  # finished earlier: reuse its training figures, if it trained as asked
        from mimnet_tf.config import RunConfig

        differences = config_differences(RunConfig.load(os.path.join(model_dir, "config.json")), config)
        if differences:
            raise app.UsageError(f"{model_dir} holds a finished run of another configuration "
                                 f"({'; '.join(differences)}): remove it or choose another --ablation_dir")
        with open(done_path, encoding="utf-8") as f:
            run = json.load(f)
    else:
        trained = train_lib.train_for_minutes(config, minutes, chunk, log=lambda m: print(f"[{name}] {m}", flush=True))
        run = {key: trained[key] for key in ("train_seconds", "step")}
        with open(done_path, "w", encoding="utf-8") as f:
            json.dump(run, f)
    result = benchmark_edits_lib.run(benchmark_edits_lib.BenchmarkConfig(
        checkpoint=model_dir, num_cases=num_cases, out=os.path.join(model_dir, "benchmark")), log=lambda *_: None)
    model = next(iter(result["results"].values()))
    edit, identity = model["edit"], model["identity"]
    return {"variant": VARIANTS[name][0], "accuracy": edit["attribute_accuracy"], "kept": edit["kept_accuracy"],
            "background_l1": edit["background_l1"], "identity_diff": identity["diff"],
            "map_ratio": edit.get("map_ratio"), "steps": run["step"],
            "train_minutes": round(run["train_seconds"] / 60.0, 1)}


def ablation_rows(config, names, ablation_dir: str, run) -> list:
    """One row per variant name, `run(variant_config, name)` making each. A variant that trains
    exactly as the recipe gets a copy of the recipe's row (the recipe is trained and scored once)."""
    recipe, recipe_row, rows = variant_config(config, "recipe", ablation_dir), None, []
    for name in names:
        variant = variant_config(config, name, ablation_dir)
        as_recipe = name == "recipe" or same_as_recipe(variant, recipe)
        if as_recipe and recipe_row is None:
            recipe_row = run(recipe, "recipe")
        row = dict(recipe_row) if as_recipe else run(variant, name)
        if as_recipe and name != "recipe":
            row["variant"] = f"{VARIANTS[name][0]}: trains exactly as the recipe (not run again)"
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main(argv):
    del argv
    from mimnet_tf.metrics.statistics import format_table, write_results

    config = mimnet_flags.config_from_flags(FLAGS)
    if config.data.dataset != "synthbirds" or config.model.model != "mimnet":
        raise app.UsageError("the ablation trains --model=mimnet on --dataset=synthbirds")
    rows = ablation_rows(config, _VARIANTS.value, _ABLATION_DIR.value,
                         run=lambda variant, name: run_variant(variant, name, _MINUTES.value, _CHUNK.value,
                                                               _NUM_CASES.value))
    budget = f"{_MINUTES.value:g} training minutes"
    if config.train.max_steps:
        budget = f"{config.train.max_steps} steps (at most {_MINUTES.value:g} minutes)"
    title = f"SynthBirds ablation: {budget} per variant, {_NUM_CASES.value} held-out edit cases"
    write_results(os.path.join(_ABLATION_DIR.value, "ablation"), rows, title=title,
                  metadata={"minutes": _MINUTES.value, "num_cases": _NUM_CASES.value})
    print(format_table(rows, title=title))


if __name__ == "__main__":
    app.run(main)
