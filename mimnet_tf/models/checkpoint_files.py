"""The checkpoint files of a run: found by their names, checked, resumed newest first, damaged
ones moved aside.

A run's `checkpoints/` folder holds `ckpt-<step>.index` + `ckpt-<step>.data-<i>-of-<n>` pairs
(tf.train.CheckpointManager) and the `checkpoint` text file naming them. A killed process, a
full disk or a bad copy can leave a pair truncated, flipped, without its index, or the
`checkpoint` file garbage; TensorFlow then raises from deep inside, or (`latest_checkpoint`
returning None) a run silently starts again at step 0 and its manager overwrites and rotates
away the good checkpoints. `resume`:
1. lists the pairs by their file names, never by the `checkpoint` file, newest step first;
2. reads each pair's tensors back (TF checks their checksums) and restores the first whole one.
   A pair with a missing file or a tensor that does not read back is damaged: reported in one
   line naming it and, once an older pair restored, moved aside as `<file>.damaged` (never
   deleted). A whole pair that does not fit the model is another model's (CheckpointMismatchError);
3. rewrites the `checkpoint` file to name the restored pair and the complete older ones, so the
   manager saves after them and rotates them as usual;
4. removes what a killed save leaves (`ckpt-<step>_temp/`, `checkpoint.tmp<hex>`).
With checkpoint files present and none restorable it raises NoRestorableCheckpointError rather
than train from step 0, unless `start_over` (then every pair is moved aside first).
"""
from __future__ import annotations

import os
import re
import shutil
from typing import Callable, Optional

import tensorflow as tf

from mimnet_tf import files
from mimnet_tf.models.model_dir import PREFIX, checkpoint_files, newest_checkpoint  # noqa: F401 - this module's API too

STATE_FILENAME = "checkpoint"
DAMAGED_SUFFIX = ".damaged"
_INTERRUPTED_SAVE = re.compile(rf"^({PREFIX}-\d+_temp|{STATE_FILENAME}\.tmp[0-9a-f]+)$")


class CheckpointMismatchError(ValueError):
    """The model directory's checkpoint was written by a model of another shape or kind."""


class NoRestorableCheckpointError(ValueError):
    """Checkpoint files exist but none restores: training from step 0 would discard them."""


class DamagedCheckpointError(ValueError):
    """A checkpoint whose files are missing, truncated or corrupt (the message names it)."""


def _first_line(error: BaseException) -> str:
    message = str(error).strip()
    return message.splitlines()[0][:300] if message else type(error).__name__


def missing_file(prefix: str) -> Optional[str]:
    """"<file> is missing" when the checkpoint `prefix` lacks its index or a data shard, else None."""
    folder, base = os.path.split(prefix)
    names = set(os.listdir(folder)) if os.path.isdir(folder) else set()
    if f"{base}.index" not in names:
        return f"{base}.index is missing"
    counts = {match.group(2) for match in (re.match(rf"^{re.escape(base)}\.data-(\d+)-of-(\d+)$", n) for n in names)
              if match}
    expected = {f"{base}.data-{i:05d}-of-{int(count):05d}" for count in counts for i in range(int(count))}
    missing = sorted(expected - names) if counts else [f"{base}.data-00000-of-00001"]
    return f"{missing[0]} is missing" if missing else None


def unreadable(prefix: str) -> Optional[str]:
    """Why the tensors of checkpoint `prefix` do not all read back (TF checks each one's
    checksum), or None when they do."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as error:  # noqa: BLE001 - any failure to read back is damage (truncation: IndexError)
        return _first_line(error)
    return None


def checkpoint_problem(prefix: str) -> Optional[str]:
    """What is wrong with the files of checkpoint `prefix`, or None when they are whole."""
    return missing_file(prefix) or unreadable(prefix)


def restore_checked(restore: Callable[[str], object], prefix: str):
    """`restore(prefix)`; a failure becomes DamagedCheckpointError naming `prefix` when its files
    are not whole, and is re-raised otherwise (the checkpoint is whole but does not fit)."""
    try:
        return restore(prefix)
    except Exception:  # noqa: BLE001 - TF raises IndexError, OpError, AssertionError, ValueError
        problem = checkpoint_problem(prefix)
        if problem is not None:
            raise DamagedCheckpointError(f"{prefix} is a damaged checkpoint ({problem})") from None
        raise


def move_aside(directory: str, step: int) -> list[str]:
    """Renames the files of `ckpt-<step>` to `<name>.damaged` (`.damaged-2`, ... if taken)."""
    moved = []
    for name in sorted(checkpoint_files(directory).get(step, [])):
        source = os.path.join(directory, name)
        target, count = source + DAMAGED_SUFFIX, 1
        while os.path.lexists(target):
            count += 1
            target = f"{source}{DAMAGED_SUFFIX}-{count}"
        os.rename(source, target)
        moved.append(target)
    return moved


def remove_interrupted_saves(directory: str) -> list[str]:
    """Removes the temporary files of saves that never finished (the caller holds the run's lock)."""
    removed = []
    if os.path.isdir(directory):
        for name in sorted(os.listdir(directory)):
            if _INTERRUPTED_SAVE.match(name):
                path = os.path.join(directory, name)
                shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
                removed.append(path)
    return removed


def _state_names(directory: str, step: int) -> bool:
    """Whether the `checkpoint` file reads, names `ckpt-<step>` as the latest and lists only
    checkpoints whose files are there (then it is left as TF wrote it)."""
    try:
        state = tf.train.get_checkpoint_state(directory)
    except Exception:  # noqa: BLE001 - unreadable: rewritten
        return False
    if state is None or os.path.basename(state.model_checkpoint_path) != f"{PREFIX}-{step}":
        return False
    return not any(missing_file(os.path.join(directory, os.path.basename(path)))
                   for path in state.all_model_checkpoint_paths)


def write_state(directory: str, steps: list[int]) -> str:
    """Writes the `checkpoint` file naming `ckpt-<step>` of `steps` (oldest first; the last is the latest)."""
    stamps = [os.path.getmtime(os.path.join(directory, f"{PREFIX}-{step}.index")) for step in steps]
    lines = [f'model_checkpoint_path: "{PREFIX}-{steps[-1]}"']
    lines += [f'all_model_checkpoint_paths: "{PREFIX}-{step}"' for step in steps]
    lines += [f"all_model_checkpoint_timestamps: {stamp!r}" for stamp in stamps]
    lines.append(f"last_preserved_timestamp: {min(stamps) - 1.0!r}")  # every one rotates as usual
    return files.write_text(os.path.join(directory, STATE_FILENAME), "\n".join(lines))


def resume(checkpoint: tf.train.Checkpoint, directory: str, start_over: bool = False,
           log: Callable[[str], None] = print, write: bool = True) -> Optional[str]:
    """Restores the newest restorable checkpoint of `directory` into `checkpoint` (see the module).

    Args:
        checkpoint: what to restore (every object it tracks must be matched).
        directory: the run's checkpoints folder.
        start_over: when no checkpoint restores, move them all aside and return None (step 0)
            instead of raising.
        log: where the one-line reports go.
        write: tidy the folder (move damaged pairs aside, rewrite `checkpoint`, remove
            interrupted saves): only the process that owns the folder does.

    Returns:
        The restored prefix, or None when the folder holds no checkpoint.

    Raises:
        CheckpointMismatchError: the newest whole checkpoint does not fit the model.
        NoRestorableCheckpointError: checkpoints exist, none restores, and not `start_over`.
    """
    if write:
        remove_interrupted_saves(directory)
    steps = sorted(checkpoint_files(directory), reverse=True)
    damaged: list[tuple[int, str]] = []
    restored = None
    for step in steps:
        prefix = os.path.join(directory, f"{PREFIX}-{step}")
        # Read every tensor back before restoring: a damaged checkpoint would restore part of the
        # variables before failing, leaving a mix behind when no older one restores.
        problem = checkpoint_problem(prefix)
        if problem is None:
            try:
                checkpoint.restore(prefix).assert_existing_objects_matched()
            except Exception as error:  # noqa: BLE001 - its files read back whole: another model's
                raise CheckpointMismatchError(
                    f"{prefix} does not fit this model ({_first_line(error)}). It was written with another "
                    "configuration (see config.json beside it): train into a new --model_dir or use that "
                    "configuration.") from None
            restored = step
            break
        damaged.append((step, problem))
    tidy = write and (restored is not None or start_over)  # never move the only copies aside before stopping
    for step, problem in damaged:
        moved = move_aside(directory, step) if tidy else []
        where = f"; moved aside as {', '.join(os.path.basename(p) for p in moved)}" if moved else ""
        log(f"Skipped the damaged checkpoint {os.path.join(directory, f'{PREFIX}-{step}')} ({problem}){where}")
    if damaged and restored is None and not start_over:
        raise NoRestorableCheckpointError(
            f"{directory} holds {len(damaged)} checkpoint(s) and none restores (newest: {PREFIX}-{damaged[0][0]}: "
            f"{damaged[0][1]}); training from step 0 would discard them. Put back a good copy, or pass "
            "--start_over_if_damaged to move them aside and train from step 0")
    if write and restored is not None and not _state_names(directory, restored):
        write_state(directory, sorted(step for step in steps if step <= restored
                                      and not missing_file(os.path.join(directory, f"{PREFIX}-{step}"))))
    return os.path.join(directory, f"{PREFIX}-{restored}") if restored is not None else None
