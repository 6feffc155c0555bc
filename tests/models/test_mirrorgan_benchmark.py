"""The text-to-image benchmark (`python -m mimnet_tf.benchmark_generation`) and the shipping of a
MirrorGAN (`python -m mimnet_tf.ship_model`), on a tiny MirrorGAN trained two steps.

The attribute probe here is a tiny network fitted to the renders of the scenes the tests draw (the
full probe takes minutes to train): it measures nothing about generalisation, but it reads those
real renders above chance, so the real-renders ceiling checks that each image is scored against
its own scene's colours.
"""
import dataclasses
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from mimnet_tf.apps import benchmark_generation_lib as generation
from mimnet_tf.apps import benchmark_subset, ship_model_lib, train_lib
from mimnet_tf.data.synthbirds import phrasings
from mimnet_tf.data.synthbirds.captions import named_parts
from mimnet_tf.data.synthbirds.edit_cases import identity_cases
from mimnet_tf.data.synthbirds.palette import COLOUR_NAMES, COLOURABLE_PARTS
from mimnet_tf.data.synthbirds.render import render, sample_scene
from mimnet_tf.images import to_model_range
from mimnet_tf.metrics.attribute_probe import CHANCE, AttributeProbe, ProbeConfig, build_network
from tests.editing_fixtures import assert_one_line_error, run_cli

SIZE = 32  # the tiny MirrorGAN's finest stage
NUM = 8
SETTINGS = generation.Settings(num_captions=NUM, phrasings=("template", "held_out", "no_bird"),
                               diversity_captions=2, diversity_samples=3)


@pytest.fixture(scope="module")
def model_dir(mirrorgan_setup, tmp_path_factory):
    """A MirrorGAN model directory (2 stages, 16 -> 32 px) after two training steps."""
    config, _, _ = mirrorgan_setup
    model_dir = str(tmp_path_factory.mktemp("t2i") / "run")
    config = dataclasses.replace(config, train=dataclasses.replace(
        config.train, model_dir=model_dir, max_steps=2, checkpoint_every=0, image_log_every=0, log_every=1))
    train_lib.setup(config, log=lambda *_: None).fit()
    return model_dir


@pytest.fixture(scope="module")
def probe():
    """A tiny probe fitted to the validation and test scenes the tests draw (see the docstring)."""
    scenes = [sample_scene(0, split, i) for split in ("validation", "test") for i in range(NUM)]
    images = to_model_range(np.stack([render(scene, SIZE).image for scene in scenes]))
    labels = np.array([[COLOUR_NAMES.index(s.bird.colour(p)) for p in COLOURABLE_PARTS] for s in scenes])
    keras.utils.set_random_seed(0)
    network = build_network(SIZE, width=8)
    network.compile(optimizer=keras.optimizers.Adam(1e-2), loss={
        p: keras.losses.SparseCategoricalCrossentropy(from_logits=True) for p in COLOURABLE_PARTS})
    repeats = 40  # one epoch of repeated images: Keras' per-epoch overhead paid once
    network.fit(np.tile(images, (repeats, 1, 1, 1)), {p: np.tile(labels[:, i], repeats)
                                                      for i, p in enumerate(COLOURABLE_PARTS)},
                epochs=1, batch_size=16, verbose=0)
    probe = AttributeProbe(network, ProbeConfig(image_size=SIZE, width=8), {})
    probe.held_out = probe.accuracy_against(images, labels)
    return probe


@pytest.fixture(scope="module")
def benchmarked(model_dir, probe, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("t2i_out"))
    return generation.run(generation.BenchmarkConfig(checkpoint=model_dir, settings=SETTINGS, out=out),
                          log=lambda _: None, probe=probe), out


def test_the_prompts_name_the_same_items_of_the_same_scenes_in_every_phrasing():
    template = generation.prompts(SETTINGS, phrasings.TEMPLATE)
    identity = identity_cases(0, NUM, split="validation")
    assert [c.caption for c in template] == [c.caption for c in identity]  # the scenes' template captions
    assert [c.source.key for c in template] == [sample_scene(0, "validation", i).key for i in range(NUM)]
    for phrasing in ("held_out", "no_bird", "typo", "paint"):
        phrased = generation.prompts(SETTINGS, phrasing)
        assert [c.source.key for c in phrased] == [c.source.key for c in template]
        assert [c.named for c in phrased] == [c.named for c in template]
        assert all(c.caption != t.caption for c, t in zip(phrased, template))
        if phrasing != "typo":  # the request reads back to the items it was written from
            assert [named_parts(c.caption) for c in phrased] == [c.named_dict for c in template]
    held_out = generation.prompts(SETTINGS, "held_out")
    assert held_out[1].caption.startswith("show ") and held_out[4].caption.startswith("paint ")  # families in turn
    test = generation.prompts(dataclasses.replace(SETTINGS, split="test"), phrasings.TEMPLATE)
    assert not {c.source.key for c in test} & {c.source.key for c in template}


def test_the_prompts_words_are_counted_as_the_vocabulary_reads_them():
    from mimnet_tf.data.text import Vocabulary

    vocab = Vocabulary.build(["a bird with red wings"])
    ids, words = generation.read_prompts(vocab, ["a bird with wingz red", "paint its wings red"], 4)
    assert ids.shape == (2, 4)
    # "wingz" is read as "wings"; "red" is cut by max_words=4; "paint" and "its" are unknown.
    assert words == {"unknown_words": 2, "prompts_with_unknown": 1, "corrected_words": 1, "cut_words": 1,
                     "unknown_examples": ["its", "paint"]}


@pytest.mark.slow
def test_the_benchmark_scores_every_phrasing_beside_the_real_renders(benchmarked, probe):
    output, out = benchmarked
    columns = output["columns"]
    names = [generation.column_name(p) for p in SETTINGS.phrasings] + [generation.REAL_COLUMN]
    assert list(columns) == names
    real = columns[generation.REAL_COLUMN]
    assert real["attribute_accuracy"] > 2 * CHANCE  # the ceiling: each render scored against its own scene
    for name in names[:-1]:
        column = columns[name]
        assert column["captions"] == NUM and column["named_parts"] == real["named_parts"]
        for key in ("attribute_accuracy", "r_precision", "r_precision_real"):
            assert 0.0 <= column[key] <= 1.0, key
        assert column["fid"] > 0 and column["diversity_l1"] > 0 and column["diversity_features"] > 0
        assert column["unknown_words"] > 0  # the colours data's vocabulary knows few SynthBirds words
    assert set(columns[generation.column_name("held_out")]["per_family"]) == set(
        list(phrasings.HELD_OUT_FAMILIES)[:NUM])
    assert "per_family" not in columns[generation.column_name("template")]
    assert real["fid"] > 0 and 0 < real["diversity_l1"] < 1
    # Two steps of training: samples of one caption lie far closer together than different real birds.
    assert columns[names[0]]["diversity_l1"] < real["diversity_l1"]

    with open(os.path.join(out, "benchmark.json"), encoding="utf-8") as f:
        written = json.load(f)
    assert written["columns"] == ["measure", *names]
    rows = {row["measure"]: row for row in written["rows"]}
    assert rows["attribute accuracy: crown"][names[0]] == columns[names[0]]["attribute_accuracy_per_part"]["crown"]
    assert rows["R-precision (DAMSM)"][generation.REAL_COLUMN] is None
    assert written["metadata"]["split"] == "validation" and written["metadata"]["r_precision_candidates"] == NUM
    assert "attribute probe" in written["metadata"]["fid_features"]
    with open(os.path.join(out, "benchmark.md"), encoding="utf-8") as f:
        assert "| attribute accuracy, family paint |" in f.read()


@pytest.mark.slow
def test_the_same_scenes_are_drawn_with_the_same_noise(model_dir, probe, benchmarked):
    output, _ = benchmarked
    again = generation.run(generation.BenchmarkConfig(checkpoint=model_dir, settings=dataclasses.replace(
        SETTINGS, phrasings=("template",))), log=lambda _: None, probe=probe)
    first = output["columns"][generation.column_name("template")]
    second = again["columns"][generation.column_name("template")]
    for key in ("attribute_accuracy", "r_precision", "fid", "diversity_l1"):
        assert second[key] == pytest.approx(first[key], abs=1e-9), key


@pytest.mark.slow
def test_bad_settings_are_one_line_errors(model_dir):
    with pytest.raises(ValueError, match="--phrasing='nope'"):
        dataclasses.replace(SETTINGS, phrasings=("nope",)).check()
    with pytest.raises(ValueError, match="--num_captions=1"):
        dataclasses.replace(SETTINGS, num_captions=1).check()
    process = run_cli("mimnet_tf.benchmark_generation", f"--checkpoint={model_dir}", "--phrasing=template,nope")
    assert_one_line_error(process, "benchmark_generation", "--phrasing='nope'")


@pytest.fixture(scope="module")
def shipped(model_dir, probe, mirrorgan_setup, tmp_path_factory):
    probe_dir = str(tmp_path_factory.mktemp("probe"))
    probe.save(probe_dir)
    out = str(tmp_path_factory.mktemp("ship") / "mirrorgan")
    paths = ship_model_lib.ship(model_dir, out, benchmark_cases=NUM, subset_cases=4, log=lambda _: None,
                                probe_dir=probe_dir)
    return out, paths


@pytest.mark.slow
def test_a_shipped_mirrorgan_carries_its_instruments_and_its_test_table(shipped, model_dir, mirrorgan_setup):
    config, _, _ = mirrorgan_setup
    out, paths = shipped
    assert sorted(os.listdir(out)) == sorted(["README.md", "attribute_probe", "benchmark.json", "benchmark.md",
                                              "benchmark_subset.json", "checkpoints", "config.json", "damsm",
                                              "train_log.jsonl", "train_summary.json", "vocab.txt"])
    assert all(os.path.exists(p) or os.path.exists(p + ".index") for p in paths)  # files, checkpoint prefixes
    size = sum(os.path.getsize(os.path.join(root, f)) for root, _, names in os.walk(out) for f in names)
    assert size < 20 * 1024 * 1024
    # The packed DAMSM holds the run's DAMSM encoder variables, value for value, and no optimizer slots.
    packed = tf.train.latest_checkpoint(os.path.join(out, "damsm", "checkpoints"))
    original = tf.train.latest_checkpoint(os.path.join(config.model.damsm_dir, "checkpoints"))
    packed_names = {name for name, _ in tf.train.list_variables(packed)} - {"_CHECKPOINTABLE_OBJECT_GRAPH"}
    original_names = {name for name, _ in tf.train.list_variables(original)}
    assert packed_names and packed_names <= original_names
    assert not any(name.startswith("optimizer") for name in packed_names)
    for name in packed_names:
        np.testing.assert_array_equal(tf.train.load_variable(packed, name), tf.train.load_variable(original, name))
    with open(os.path.join(out, "benchmark.json"), encoding="utf-8") as f:
        table = json.load(f)
    assert table["metadata"]["split"] == "test" and table["metadata"]["damsm_dir"] == os.path.join(out, "damsm")
    assert table["columns"] == ["measure", *(generation.column_name(p) for p in ("template", "held_out", "no_bird",
                                                                                 "typo")), generation.REAL_COLUMN]
    with open(os.path.join(out, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert f"python -m mimnet_tf.ship_model --checkpoint={model_dir} --out={out}" in readme
    assert "**Phase schedule: none.**" in readme and "| attribute accuracy: crown |" in readme
    assert "2 steps in " in readme


@pytest.mark.slow
def test_the_shipped_mirrorgan_draws_as_the_run_and_rescores_its_subset(shipped, model_dir, tmp_path):
    from mimnet_tf.apps.generate_lib import write_images
    from mimnet_tf.images import load_image

    out, _ = shipped
    caption = "a bird with a red crown and blue wings"
    ours = write_images(out, [caption], 2, str(tmp_path / "shipped"), seed=3)
    theirs = write_images(model_dir, [caption], 2, str(tmp_path / "run"), seed=3)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(load_image(a), load_image(b))
    recorded = benchmark_subset.read(out)
    assert recorded["split"] == "test" and recorded["num_cases"] == 4 and recorded["phrasing"] == "template"
    again = ship_model_lib.score_subset(out, recorded["num_cases"])
    assert again.keys() == recorded["scores"].keys()
    for key, value in recorded["scores"].items():
        assert again[key] == pytest.approx(value, abs=1e-6), key
