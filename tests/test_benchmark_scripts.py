"""The benchmark scripts' own logic (their measurements are run by hand, not in the suite)."""
import dataclasses
import json
import importlib.util
import os

import pytest
from absl import app

from mimnet_tf.config import ColourSwapConfig, DataConfig, LossWeights, ModelConfig, RunConfig, TrainConfig

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", os.path.join(_ROOT, "benchmarks", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # its own flags are prefixed, so they never clash with the package's
    return module


@pytest.fixture(scope="module")
def ablation():
    return _load("ablation_synthbirds")


def test_each_ablation_variant_changes_exactly_its_switch(ablation):
    base = RunConfig(data=DataConfig(dataset="synthbirds"), loss=LossWeights(swap_localisation=0.05),
                     train=TrainConfig(colour_swap=ColourSwapConfig(probability=1.0)),
                     model=ModelConfig(damsm_dir="runs/damsm", image_encoder_from_damsm=True))
    recipe = ablation.variant_config(base, "recipe", "runs/ab")
    assert recipe.model == base.model and recipe.loss == base.loss
    assert recipe.train.model_dir == os.path.join("runs/ab", "recipe")
    assert ablation.variant_config(base, "no_memory", "x").model.use_memory is False
    no_tlu = ablation.variant_config(base, "no_tlu", "x")
    assert no_tlu.model.use_tlu is False and no_tlu.loss.swap_localisation == 0.0  # a loss on A goes with A
    no_swap_loc = ablation.variant_config(base, "no_swap_localisation", "x")
    assert no_swap_loc.loss.swap_localisation == 0.0 and no_swap_loc.model == base.model
    loss = ablation.variant_config(base, "no_pgt_rmt", "x").loss
    assert (loss.pseudo_gt, loss.randomised_memory) == (0.0, 0.0) and loss.reconstruction == base.loss.reconstruction
    model = ablation.variant_config(base, "no_damsm", "x").model
    assert (model.damsm_dir, model.image_encoder_from_damsm, model.freeze_text_encoder) == ("", False, False)
    scratch = dataclasses.replace(base, model=model)  # a recipe without a DAMSM (configs/synthbirds.flags)
    model = ablation.variant_config(scratch, "with_damsm", "x").model
    assert (model.damsm_dir, model.image_encoder_from_damsm, model.freeze_text_encoder) == (
        "runs/synthbirds_damsm", True, False)  # --ablation_damsm_dir's default
    assert ablation.same_as_recipe(ablation.variant_config(scratch, "no_damsm", "x"),
                                   ablation.variant_config(scratch, "recipe", "x"))
    with pytest.raises(app.UsageError, match="unknown variant 'nope'"):
        ablation.variant_config(base, "nope", "x")


def test_a_variant_that_trains_as_the_recipe_is_recognised(ablation):
    """L_pgt only acts on inputs colour swap left alone: with --colour_swap=1 and no L_rmt, the
    "w/o L_pgt and L_rmt" variant trains exactly as the recipe and is not run twice."""
    base = RunConfig(data=DataConfig(dataset="synthbirds"), loss=LossWeights(pseudo_gt=0.1, randomised_memory=0.0),
                     train=TrainConfig(colour_swap=ColourSwapConfig(probability=1.0)))
    recipe = ablation.variant_config(base, "recipe", "runs/ab")
    assert ablation.same_as_recipe(ablation.variant_config(base, "no_pgt_rmt", "runs/ab"), recipe)
    assert not ablation.same_as_recipe(ablation.variant_config(base, "no_tlu", "runs/ab"), recipe)
    partial = dataclasses.replace(base, train=TrainConfig(colour_swap=ColourSwapConfig(probability=0.5)))
    assert not ablation.same_as_recipe(ablation.variant_config(partial, "no_pgt_rmt", "runs/ab"),
                                       ablation.variant_config(partial, "recipe", "runs/ab"))


def test_the_recipe_is_trained_once_for_the_variants_that_train_as_it(ablation):
    base = RunConfig(data=DataConfig(dataset="synthbirds"), loss=LossWeights(pseudo_gt=0.1, randomised_memory=0.0),
                     train=TrainConfig(colour_swap=ColourSwapConfig(probability=1.0)))
    calls = []

    def run(variant, name):
        calls.append((name, variant.train.model_dir))
        return {"variant": name, "accuracy": 0.1 * len(calls)}

    rows = ablation.ablation_rows(base, ["no_pgt_rmt", "recipe", "no_tlu"], "runs/ab", run)
    assert calls == [("recipe", os.path.join("runs/ab", "recipe")), ("no_tlu", os.path.join("runs/ab", "no_tlu"))]
    assert [row["accuracy"] for row in rows] == [0.1, 0.1, 0.2]
    assert rows[0]["variant"].endswith("trains exactly as the recipe (not run again)")
    assert rows[1]["variant"] == "recipe" and rows[2]["variant"] == "no_tlu"


def test_a_finished_variant_is_reused_only_if_it_trained_as_asked(ablation, tmp_path):
    """A finished variant's directory is reused when its config.json acts as the variant's config
    would (options of a zero-weight loss are inert); any other difference is refused, by name."""
    base = RunConfig(data=DataConfig(dataset="synthbirds"),
                     train=TrainConfig(colour_swap=ColourSwapConfig(probability=1.0)),
                     loss=LossWeights(swap_localisation=0.05, swap_localisation_pool="max"))
    no_swap_loc = ablation.variant_config(base, "no_swap_localisation", str(tmp_path))
    stored = dataclasses.replace(no_swap_loc, loss=dataclasses.replace(no_swap_loc.loss, swap_localisation_pool="area"),
                                 model=dataclasses.replace(no_swap_loc.model, vocab_size=34))  # written by training
    assert ablation.config_differences(stored, no_swap_loc) == []  # the pool does nothing at weight 0
    assert ablation.config_differences(ablation.variant_config(base, "recipe", "elsewhere"),
                                       dataclasses.replace(base, train=dataclasses.replace(base.train, progress=True))) == []
    recipe = ablation.variant_config(base, "recipe", str(tmp_path))
    os.makedirs(recipe.train.model_dir)
    dataclasses.replace(recipe, loss=dataclasses.replace(recipe.loss, swap_localisation_pool="area")).save(
        os.path.join(recipe.train.model_dir, "config.json"))
    with open(os.path.join(recipe.train.model_dir, "ablation_run.json"), "w", encoding="utf-8") as f:
        f.write('{"step": 3000, "train_seconds": 60}')
    with pytest.raises(app.UsageError, match="another configuration \\(--swap_localisation_pool: 'area' -> 'max'\\)"):
        ablation.run_variant(recipe, "recipe", minutes=1, chunk=10, num_cases=2)


def test_colour_swap_realism_measures_the_edge_ring_that_unmixing_removes():
    realism = _load("colour_swap_realism")
    settings = {name: realism.SETTINGS[name] for name in list(realism.SETTINGS)[:2]}
    plain, unmixed = realism.measure(num=12, size=64, threshold=0.3, settings=settings).values()
    assert 0.0 < unmixed["edge"] < plain["edge"] < plain["edge_unswapped"]
    assert plain["core"] < plain["edge"]  # the old recipe's error is at the part's edge


def test_colour_swap_coverage_counts_small_parts_repainted_on_their_own():
    coverage = _load("colour_swap_coverage")
    names = ("8 seeds, centre 0.5, described colours", "16 seeds, centre 0.5, described colours (the recipe)")
    settings = {name: coverage.SETTINGS[name] for name in names}
    fewer, more = coverage.measure(num=48, size=64, draws_per_scene=2, settings=settings).values()
    assert all(0.0 <= value <= 1.0 for r in (fewer, more) for value in r.values())
    small = ("tail", "beak")  # with more seeds the smallest region found is more often a small part
    assert sum(more[p] for p in small) > 1.5 * sum(fewer[p] for p in small)


@pytest.fixture(scope="module")
def binding():
    return _load("word_binding")


def test_word_binding_finds_each_parts_colour_word(binding):
    caption = "a bird with a short brown tail, a pink breast and a blue bill"  # words 0-13
    assert binding.word_roles(caption, "tail", 18) == (5, 6, [8, 12])
    assert binding.word_roles(caption, "belly", 18) == (8, 9, [5, 12])  # "breast" names the belly
    assert binding.word_roles(caption, "beak", 18) == (12, 13, [5, 8])
    assert binding.word_roles(caption, "wings", 18) is None  # not named
    assert binding.word_roles(caption, "beak", 13) is None  # cut off by max_words


def test_word_binding_shares_of_each_position_add_up(binding):
    """On a tiny untrained generator: per part, the four shares are the whole attention (sum 1),
    and the background has no own colour or part word."""
    import keras
    import numpy as np

    from mimnet_tf.data.synthbirds.edit_cases import edit_cases
    from mimnet_tf.data.text import Vocabulary
    from mimnet_tf.models.generator import MIMNetGenerator

    vocab = Vocabulary.build([case.caption for case in edit_cases(num=6)])
    keras.utils.set_random_seed(0)
    g = MIMNetGenerator(ModelConfig(vocab_size=len(vocab), image_size=32, max_words=18, embed_dim=8, text_dim=8,
                                    memory_size=4, base_channels=8, feature_downsample=4, image_skips=True,
                                    icm_word_attention=True, icm_query_image=True, fir_keys="words"))
    g.build()
    results = binding.measure(g, vocab, 18, num_cases=6)
    assert set(results) == {"icm", "fir"}
    for stage in results.values():
        assert "background" in stage and len(stage) > 2
        for part, kinds in stage.items():
            for row in kinds.values():
                assert row["count"] > 0
                assert sum(row["shares"]) == pytest.approx(1.0, abs=1e-4)
                assert min(row["shares"]) >= 0.0
        assert stage["background"]["all"]["shares"][:2] == [0.0, 0.0]
    assert "| beak" in binding.format_table(results) or "| wings" in binding.format_table(results)


def test_time_to_accuracy_adds_the_time_of_every_process_of_a_resumed_run(tmp_path):
    tta = _load("time_to_accuracy")
    log = tmp_path / "train_log.jsonl"
    records = [{"step": 50, "elapsed": 60.0}, {"step": 100, "elapsed": 120.0},  # first process
               {"step": 150, "elapsed": 30.0}, {"step": 200, "elapsed": 90.0}]  # resumed: clock restarts
    log.write_text("".join(json.dumps(r) + "\n" for r in records))
    minutes = tta.training_minutes(str(log))
    assert minutes == {50: 1.0, 100: 2.0, 150: 2.5, 200: 3.5}
    assert tta.minutes_at(minutes, 120) == 2.0 and tta.minutes_at(minutes, 10) == 0.0
    points = [{"minutes": 1.0, "accuracy": {"t": 0.5}}, {"minutes": 2.0, "accuracy": {"t": 0.9}}]
    assert tta.first_minute(points, "t", 0.85) == 2.0 and tta.first_minute(points, "t", 0.95) is None
