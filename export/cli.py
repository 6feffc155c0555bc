"""absl flags of the export entry points, read once into an ExportConfig.

The flags are defined only when an entry point runs (`run_entry_point`), so the exporters stay
importable together as libraries (a benchmark uses all three).
"""
from __future__ import annotations

import dataclasses
import sys
from typing import Callable

from absl import app, flags

from mimnet_tf.config import ExportConfig
from mimnet_tf.export.verify import CheckConfig

_DEFAULTS = ExportConfig()
_HELP = {field.name: field.metadata["help"] for field in dataclasses.fields(ExportConfig)}
CHECK_FLAGS = ("check_cases", "check_examples", "min_psnr", "max_accuracy_drop", "keep_failing")


def _define(flags, name: str) -> None:
    if name in flags.FLAGS:
        return
    default = getattr(_DEFAULTS, name)
    if name == "variants":
        flags.DEFINE_list(name, list(default), _HELP[name])
    elif isinstance(default, bool):
        flags.DEFINE_bool(name, default, _HELP[name])
    elif isinstance(default, float):
        flags.DEFINE_float(name, default, _HELP[name])
    elif isinstance(default, int):
        flags.DEFINE_integer(name, default, _HELP[name])
    else:
        flags.DEFINE_string(name, default, _HELP[name])


def config_from_flags(flags, names) -> ExportConfig:
    values = {name: getattr(flags.FLAGS, name) for name in names}
    if "variants" in values:
        values["variants"] = tuple(v.strip() for v in values["variants"] if v.strip())
    return ExportConfig(**values)


def check_config(config: ExportConfig, skip_examples: int = 0):
    """The export checks' settings (export/verify.py) from the flags."""
    return CheckConfig(cases=config.check_cases, examples=config.check_examples, min_psnr=config.min_psnr,
                       max_accuracy_drop=config.max_accuracy_drop, keep_failing=config.keep_failing,
                       skip_examples=skip_examples)


def run_entry_point(main: Callable[[ExportConfig], None], *names: str) -> None:
    """Defines the named flags, parses them into an ExportConfig and calls `main(config)`.

    A missing directory, a bad flag value or an output that cannot be written (it exists without
    --overwrite, or its folder is read-only) ends the program with one line on stderr, exit code 2.
    """
    for name in names:
        _define(flags, name)

    def _main(argv):
        if len(argv) > 1:
            raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
        try:
            main(config_from_flags(flags, names))
        except (OSError, ValueError) as error:  # FileNotFoundError, PermissionError, files.OutputError
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)

    app.run(_main)
