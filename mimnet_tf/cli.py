"""What the user-facing commands (edit, evaluate, benchmark_edits, report) share at their edges.

A user error (a missing file, a corrupt image, a caption of unknown words, a bad flag) ends the
command with one line on stderr, `<program>: error: <message>`, and exit code 2; never a Python
or TensorFlow trace.
"""
from __future__ import annotations

import os
import signal
import sys
from typing import Callable, NoReturn

from absl import flags

USAGE_EXIT = 2

# Before TensorFlow is imported anywhere: its C++ start-up chatter is not for users.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def fail(program: str, message: str) -> NoReturn:
    print(f"{program}: error: {message}", file=sys.stderr)
    sys.exit(USAGE_EXIT)


def one_line(error: BaseException) -> str:
    """The first line of an error's message (TF errors append graph context on later lines)."""
    message = str(error).strip()
    return message.splitlines()[0] if message else type(error).__name__


def user_errors() -> tuple:
    """Exception types that mean bad input, not a bug: reported as one line."""
    errors = (OSError, ValueError)
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        errors += (tf.errors.OpError,)
    return errors


def flags_parser(program: str) -> Callable:
    """An absl `flags_parser` that reports a bad flag as one line with exit code 2."""
    def parse(argv):
        try:
            return flags.FLAGS(argv)
        except flags.Error as error:
            fail(program, f"{error}. See --helpfull.")

    return parse


def guarded(program: str, body: Callable):
    """Runs `body()`; a user error becomes `fail(program, its first line)`."""
    try:
        return body()
    except user_errors() as error:
        fail(program, one_line(error))


EXIT_NON_FINITE = 1


def guarded_training(program: str, body: Callable):
    """`guarded`, plus the two ways the training loop stops a run, each as one line on stderr: a
    NaN/Inf loss (its FloatingPointError; nothing saved) exits 1, and SIGINT/SIGTERM (its
    KeyboardInterrupt, raised after the reached step was saved) exits 128 + the signal."""
    try:
        return guarded(program, body)
    except FloatingPointError as error:
        print(f"{program}: error: {one_line(error)}", file=sys.stderr)
        sys.exit(EXIT_NON_FINITE)
    except KeyboardInterrupt as interrupt:
        print(f"{program}: {interrupt or 'interrupted before training started'}", file=sys.stderr)
        sys.exit(128 + int(getattr(interrupt, "signum", signal.SIGINT)))
