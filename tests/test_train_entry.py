"""The training entry point and its flags: one flag per config field, flagfiles, clear errors."""
import json
import os
import re
import subprocess
import sys

import pytest
from absl import flags

from mimnet_tf import config as config_lib
from mimnet_tf import flags as mimnet_flags

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
# TensorFlow's C++ start-up lines (CUDA probing), printed by any TF program before ours can run.
TF_NATIVE_LOG = re.compile(r"^(WARNING: All log messages before absl::InitializeLog|[IWEF]\d{4} )")


def parse(*args: str) -> flags.FlagValues:
    values = flags.FlagValues()
    mimnet_flags.define_flags(values)
    values(["train", *args])
    return values


def test_every_config_field_is_one_flag():
    names = [leaf.name for kind in config_lib.SECTIONS.values() for leaf in config_lib.flat_fields(kind)]
    assert set(mimnet_flags.flag_names()) == set(names)
    shared = {name for name in names if names.count(name) > 1}
    assert shared == {"image_size", "max_words", "seed"}
    values = parse()
    assert "one value for: data, model" in values["image_size"].help
    assert values["memory_size"].help == "N, the memory's slots (Eq. 1-3)."  # the field's own help
    assert "lambda_3" in values["reconstruction"].help
    assert mimnet_flags.config_from_flags(values) == config_lib.RunConfig()  # defaults are the configs'


def test_shared_flag_feeds_both_sections():
    config = mimnet_flags.config_from_flags(parse("--image_size=96", "--max_words=9", "--seed=4"))
    assert (config.data.image_size, config.model.image_size) == (96, 96)
    assert (config.data.max_words, config.model.max_words) == (9, 9)
    assert (config.data.seed, config.train.seed) == (4, 4)


def test_flagfile_round_trips_into_the_run_config(tmp_path):
    config = config_lib.RunConfig(
        data=config_lib.DataConfig(dataset="cub", data_dir=str(tmp_path / "birds data"), image_size=128,
                                   random_crop=False, batch_size=30, max_words=20, seed=7),
        model=config_lib.ModelConfig(image_size=128, max_words=20, memory_size=64, feature_downsample=16,
                                     use_tlu=False, image_skips=True, damsm_dir="runs/damsm"),
        loss=config_lib.LossWeights(reality=0.5, pseudo_gt=0.0, rmt_concentration=0.1),
        train=config_lib.TrainConfig(model_dir="runs/cub", g_learning_rate=1e-3, lr_schedule="cosine",
                                     phase_schedule="reconstruction_first", reconstruction_steps=1000, seed=7,
                                     mixed_precision=True, strategy="mirrored", progress=False),
    )
    path = tmp_path / "cub.flags"
    path.write_text("# the whole recipe of a run\n" + "\n".join(mimnet_flags.config_to_flags(config)) + "\n")
    assert mimnet_flags.config_from_flags(parse(f"--flagfile={path}")) == config
    overridden = mimnet_flags.config_from_flags(parse(f"--flagfile={path}", "--max_steps=7", "--norandom_flip"))
    assert overridden.train.max_steps == 7 and not overridden.data.random_flip
    assert overridden.data.data_dir == config.data.data_dir  # the rest still from the file
    full = mimnet_flags.config_to_flags(config, only_changed=False)
    assert len(full) == len(list(mimnet_flags.flag_names()))


@pytest.mark.parametrize("name", sorted(os.listdir(os.path.join(REPO, "configs"))))
def test_project_flagfiles_give_valid_run_configs(name):
    if not name.endswith(".flags"):
        pytest.skip("not a flagfile")
    path = os.path.join(REPO, "configs", name)
    config = mimnet_flags.config_from_flags(parse(f"--flagfile={path}"))  # validated
    stated = [line.split("=", 1)[0][2:] for line in open(path) if line.startswith("--") and "=" in line]
    assert stated and config.data.image_size == config.model.image_size
    # Read back as flags, the config says what the file says.
    assert mimnet_flags.config_from_flags(parse(*mimnet_flags.config_to_flags(config))) == config


def test_bad_flag_values_are_clear_errors():
    with pytest.raises(flags.IllegalFlagValueError, match="batch_size"):
        parse("--batch_size=thirty")
    with pytest.raises(flags.UnrecognizedFlagError, match="learning_rate"):
        parse("--learning_rate=0.1")
    with pytest.raises(ValueError, match=r"--dataset='imagenet': expected one of"):
        mimnet_flags.config_from_flags(parse("--dataset=imagenet"))
    with pytest.raises(ValueError, match="--image_size=100: expected a multiple of 16"):
        mimnet_flags.config_from_flags(parse("--image_size=100"))
    shading_error = re.escape("--colour_swap_shading='gamma': expected one of ('additive', 'multiplicative')")
    with pytest.raises(ValueError, match=shading_error):
        mimnet_flags.config_from_flags(parse("--colour_swap_shading=gamma"))
    with pytest.raises(ValueError, match="--colour_swap_area_reference=-0.1: expected >= 0"):
        mimnet_flags.config_from_flags(parse("--colour_swap_area_reference=-0.1"))
    with pytest.raises(ValueError, match=re.escape("--swap_localisation_pool='median': expected one of")):
        mimnet_flags.config_from_flags(parse("--swap_localisation_pool=median"))
    with pytest.raises(ValueError, match="--swap_localisation needs --colour_swap > 0"):
        mimnet_flags.config_from_flags(parse("--swap_localisation=1"))
    mismatched = config_lib.RunConfig(data=config_lib.DataConfig(image_size=128))  # model keeps 64
    with pytest.raises(ValueError, match="image_size differs between data, model"):
        mimnet_flags.config_to_flags(mismatched)


def test_define_flags_is_idempotent_and_keeps_existing_flags():
    values = flags.FlagValues()
    flags.DEFINE_integer("seed", 0, "another entry point's --seed", flag_values=values)
    mimnet_flags.define_flags(values)
    mimnet_flags.define_flags(values)
    values(["train", "--seed=3"])
    assert mimnet_flags.config_from_flags(values).train.seed == 3


def run_entry(*args: str, cwd: str = REPO) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "mimnet_tf.train", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from mimnet_tf import testing

    return testing.write_tiny_prepared(str(tmp_path_factory.mktemp("prepared")), num_train=4, num_test=2)


@pytest.mark.parametrize("args, message", [
    (("--dataset=cub", "--data_dir=/no/such/birds"), "No prepared cub data in /no/such/birds/prepared"),
    (("--batch_size=thirty",), "flag --batch_size=thirty"),
    (("--strategy=tpu",), "--strategy='tpu': expected one of"),
    (("--no_such_flag=1",), "no_such_flag"),
    (("--dataset=manifest", "--prepared_dir={prepared}", "--lr_schedule=linear"),
     "--lr_schedule='linear': expected one of"),
    (("--dataset=manifest", "--prepared_dir={prepared}", "--colour_swap_colours=palette"),
     "--colour_swap_colours='palette': expected one of ('random', 'batch')"),
])
def test_entry_point_bad_input_exits_2_with_one_line(tmp_path, prepared, args, message):
    args = [arg.format(prepared=prepared) for arg in args]
    result = run_entry(*args, "--image_size=32", "--batch_size=2", f"--model_dir={tmp_path / 'run'}",
                       cwd=str(tmp_path))
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and not TF_NATIVE_LOG.match(line)]
    assert len(lines) == 1 and lines[0].startswith("train: error: "), result.stderr
    assert message in lines[0] and "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / "run")  # nothing written
    if args[0].startswith("--dataset=cub"):
        assert "python -m mimnet_tf.data.prepare --dataset=cub" in lines[0]


@pytest.mark.parametrize("section, name, on", [("model", "fine_tlu", True), ("loss", "rmt_as_fake", True)])
def test_a_model_made_with_a_removed_switch_is_refused_by_name(tmp_path, section, name, on):
    """config.json of a model trained with a switch that no longer exists (on) is refused naming
    it; the same switch at its "off" value, as every older config.json has it, loads."""
    values = config_lib.RunConfig().to_dict()
    values[section][name] = config_lib.REMOVED_FIELDS[name]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(values))
    assert config_lib.RunConfig.load(str(path)) == config_lib.RunConfig()
    values[section][name] = on
    path.write_text(json.dumps(values))
    with pytest.raises(ValueError, match=f"{name}={on!r}: this switch was removed") as error:
        config_lib.RunConfig.load(str(path))
    assert len(str(error.value).splitlines()) == 1 and str(path) in str(error.value)


@pytest.mark.parametrize("name", ["synthbirds64", "synthbirds128"])
def test_shipped_config_json_loads_into_the_groups_and_writes_back_the_same_keys(name):
    """The shipped models' config.json (flat keys, the removed switches at "off") fills the
    colour-swap group, and to_dict writes the same flat keys and values back (so a run that saves
    its config again keeps its file's layout; fields newer than the file are at their defaults)."""
    path = os.path.join(REPO, "pretrained", name, "config.json")
    with open(path) as f:
        stored = json.load(f)
    config = config_lib.RunConfig.load(path)
    swap = config.train.colour_swap
    assert (swap.probability, swap.regions, swap.candidates, swap.colours, swap.described, swap.unmix_edges) == (
        1.0, 3, 16, "batch", "xkcd", True)
    assert config.loss.swap_localisation == 0.05
    written, defaults = config.to_dict(), config_lib.RunConfig().to_dict()
    assert set(written) == set(stored)
    for section, values in stored.items():
        kept = {key: value for key, value in values.items() if key not in config_lib.REMOVED_FIELDS}
        assert {key: written[section][key] for key in kept} == kept
        newer = set(written[section]) - set(kept)  # fields added since the model was shipped: defaults
        assert {key: written[section][key] for key in newer} == {key: defaults[section][key] for key in newer}


def test_grouped_flags_keep_their_names():
    """--colour_swap and --colour_swap_* set ColourSwapConfig's fields; written back as flags, and
    as config.json keys, they keep those names."""
    values = parse("--colour_swap=0.5", "--colour_swap_regions=3", "--colour_swap_shading=multiplicative",
                   "--colour_swap_unmix_edges")
    config = mimnet_flags.config_from_flags(values)
    assert config.train.colour_swap == config_lib.ColourSwapConfig(probability=0.5, regions=3,
                                                                   shading="multiplicative", unmix_edges=True)
    assert mimnet_flags.config_to_flags(config) == ["--colour_swap=0.5", "--colour_swap_regions=3",
                                                    "--colour_swap_unmix_edges=true",
                                                    "--colour_swap_shading=multiplicative"]
    written = config.to_dict()["train"]
    assert (written["colour_swap"], written["colour_swap_regions"]) == (0.5, 3) and "probability" not in written
    assert config_lib.replace_flags(config.train, colour_swap_regions=1).colour_swap.regions == 1
    with pytest.raises(TypeError, match="colour_swap_region"):
        config_lib.replace_flags(config.train, colour_swap_region=1)


def test_every_config_field_declares_the_help_its_flag_shows():
    """Help comes from the field itself (config.option), never a placeholder: every flag of every
    section says in words what it does."""
    for kind in (*config_lib.SECTIONS.values(), config_lib.ExportConfig):
        for leaf in config_lib.flat_fields(kind):
            text = leaf.field.metadata.get("help", "")
            assert len(text.split()) >= 3 and not re.fullmatch(r"\w+\.\w+", text), (kind.__name__, leaf.name, text)
    specs = mimnet_flags.flag_specs()
    assert specs["unknown_word_rate"][2].startswith("Training captions:")


def test_the_architecture_config_example_prints_what_it_says(capsys, monkeypatch):
    """docs/architecture.md's config example runs from the repository's root and prints what its
    `# -> ...` comments say."""
    from tests.doc_blocks import fenced_block

    block = fenced_block(os.path.join(REPO, "docs", "architecture.md"), "config-example")
    monkeypatch.chdir(REPO)
    exec(compile(block, "architecture.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed == [line.split("# -> ", 1)[1] for line in block.splitlines() if "# -> " in line]
