"""The shared absl flags of the entry points, generated from the config dataclasses.

Every field of DataConfig, ModelConfig, LossWeights and TrainConfig is a flag of the same name,
with the field's default and, as help, the text the field declares (`config.option`); a field
of a group (`TrainConfig.colour_swap`, a ColourSwapConfig) is the flag its group names
(`colour_swap.regions` is `--colour_swap_regions`, `config.flat_fields`). A
name that two sections share (`image_size`, `max_words`, `seed`) is one flag feeding both, so a
run cannot train a 64 px model on 128 px data by accident.

Entry points call `define_flags()` at import and `config_from_flags(flags.FLAGS)` once in
`main`; libraries only ever see the resulting RunConfig. A flagfile is the whole recipe:

    python -m mimnet_tf.train --flagfile=configs/cub.flags --model_dir=runs/cub

`config_to_flags(config)` writes a RunConfig back as flag lines (a flagfile that reproduces it).
"""
from __future__ import annotations

from typing import Iterable

from absl import flags

from mimnet_tf import config as config_lib


def _scalar_type(name: str, default):
    """bool / int / float / str of a field (annotations are strings: `from __future__`)."""
    for kind in (bool, int, float, str):  # bool before int: bool is an int
        if type(default) is kind:
            return kind
    raise TypeError(f"config field {name!r}: unsupported flag type {type(default).__name__}")


def flag_specs() -> dict[str, tuple[type, object, str, tuple[str, ...]]]:
    """`flag name -> (type, default, help, sections that read it)`.

    Raises:
        TypeError: two sections declare the same name with different types or defaults (a
            programming error in config.py: one flag cannot hold two defaults).
    """
    specs: dict[str, tuple[type, object, str, tuple[str, ...]]] = {}
    for section, kind in config_lib.SECTIONS.items():
        for leaf in config_lib.flat_fields(kind):
            name, default = leaf.name, leaf.default
            kind_of_value = _scalar_type(name, default)
            if name in specs:
                known_type, known_default, known_help, readers = specs[name]
                if (known_type, known_default) != (kind_of_value, default):
                    raise TypeError(
                        f"config field {name!r} is {known_type.__name__} = {known_default!r} in "
                        f"{readers[0]} but {kind_of_value.__name__} = {default!r} in {section}: a shared "
                        "flag needs one type and one default")
                specs[name] = (known_type, known_default, known_help, readers + (section,))
            else:
                specs[name] = (kind_of_value, default, leaf.field.metadata["help"], (section,))
    return specs


# Names the issues and papers use for a config field.
ALIASES = {"redescription_weight": "redescription", "damsm_weight": "damsm"}

_DEFINERS = {bool: flags.DEFINE_boolean, int: flags.DEFINE_integer, float: flags.DEFINE_float,
             str: flags.DEFINE_string}


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines one flag per config field in `flag_values`; calling it again changes nothing.

    A flag of the same name already defined elsewhere (e.g. `--seed` of another entry point
    in the same program) is kept and read as this field.
    """
    for name, (kind, default, help_text, sections) in flag_specs().items():
        if name in flag_values:
            continue
        if len(sections) > 1:
            help_text = f"{help_text} (one value for: {', '.join(sections)})"
        _DEFINERS[kind](name, default, help_text, flag_values=flag_values)
    for alias, name in ALIASES.items():
        if alias not in flag_values:
            flags.DEFINE_alias(alias, name, flag_values=flag_values)


def config_from_flags(flag_values: flags.FlagValues = flags.FLAGS) -> config_lib.RunConfig:
    """The RunConfig the parsed flags describe.

    Raises:
        ValueError: naming the flag, when the values are inconsistent (`config.validate`).
    """
    sections = {section: config_lib.unflatten(kind, {leaf.name: flag_values[leaf.name].value
                                                      for leaf in config_lib.flat_fields(kind)})
                for section, kind in config_lib.SECTIONS.items()}
    run = config_lib.RunConfig(**sections)
    config_lib.validate(run)
    return run


def _format(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def config_to_flags(config: config_lib.RunConfig, only_changed: bool = True) -> list[str]:
    """`--name=value` lines reproducing `config` (a flagfile's content).

    Args:
        config: the run configuration.
        only_changed: write only values that differ from the defaults.

    Raises:
        ValueError: a shared field (e.g. image_size) has different values in two sections, which
            no flag set can express.
    """
    lines = []
    flat = config.to_dict()
    for name, (_, default, _, sections) in flag_specs().items():
        values = {flat[section][name] for section in sections}
        if len(values) > 1:
            raise ValueError(f"{name} differs between {', '.join(sections)} ({sorted(map(str, values))}); "
                             "one flag sets them all")
        value = values.pop()
        if only_changed and value == default:
            continue
        lines.append(f"--{name}={_format(value)}")
    return lines


def flag_names() -> Iterable[str]:
    """Every flag `define_flags` defines."""
    return flag_specs().keys()
