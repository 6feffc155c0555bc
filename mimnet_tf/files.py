"""Writing files and folders so that nothing is lost: atomic replacement, staged folders, outputs
that would overwrite inputs.

- A file is written to a temporary sibling and renamed over its destination (`os.replace`), so
  a reader, or a process killed half-way, sees the old file or the new one, never a mix.
- A folder (a SavedModel version, a shipped model) is written whole into a temporary sibling
  `.<name>.tmp-<pid>-<random>` and renamed into place (`publish_folder`); an existing folder is
  replaced only when asked, by an atomic exchange, and the files of the old one that the new
  one does not also hold (a user's own) are kept in `<name>.replaced-<time>`, never deleted.
- Temporary siblings of a killed process are ours: the next writer removes them
  (`remove_stale_temporaries`) once that process is gone. Their names are not numbers, so TF
  Serving and the project's loaders never take them for model versions.

The guarantee is against killed processes (kill -9, Ctrl-C), not power loss: nothing is fsynced.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import filecmp
import json
import os
import re
import secrets
import shutil
import time
from typing import Callable, Iterable, Iterator, Mapping, Optional

TEMP_MARK = ".tmp-"
_TEMPORARY = re.compile(r"^\..+\.tmp-(\d+)-[0-9a-f]+$")
_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


class OutputError(ValueError):
    """An output that must not or cannot be written: it exists (no --overwrite), it is one of
    the inputs, or its folder is not writable. The message names the path and the flag."""


def temporary_sibling(path: str) -> str:
    """`<dir>/.<name>.tmp-<pid>-<random>`: beside `path`, on the same file system (renames are atomic)."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")


@contextlib.contextmanager
def replaced_file(path: str) -> Iterator[str]:
    """Yields a temporary path to write; on success it replaces `path` at once, on error it goes."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = temporary_sibling(path)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)


def write_text(path: str, content: str) -> str:
    with replaced_file(path) as temporary, open(temporary, "w", encoding="utf-8") as f:
        f.write(content)
    return path


def write_json(path: str, value, **dump_options) -> str:
    return write_text(path, json.dumps(value, **dump_options) + "\n")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(folder: str) -> list[str]:
    """Removes this module's temporary siblings in `folder` whose process has ended; returns them."""
    removed = []
    if not os.path.isdir(folder):
        return removed
    for name in sorted(os.listdir(folder)):
        match = _TEMPORARY.match(name)
        if not match or _process_alive(int(match.group(1))):
            continue
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        removed.append(path)
    return removed


def writable_folder(folder: str, flag: str) -> None:
    """Creates `folder` if needed and checks that files can be made in it (OutputError if not)."""
    try:
        os.makedirs(folder, exist_ok=True)
        probe = temporary_sibling(os.path.join(folder, "probe"))
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        os.unlink(probe)
    except OSError as error:
        raise OutputError(f"{flag}: cannot write into {folder} ({error.strerror or error})") from None


def staging_folder(destination: str, flag: str) -> str:
    """A new empty temporary sibling of `destination` to write a folder into (see publish_folder)."""
    parent = os.path.dirname(os.path.abspath(destination))
    writable_folder(parent, flag)
    remove_stale_temporaries(parent)
    staged = temporary_sibling(destination)
    os.mkdir(staged)
    return staged


def check_destination(destination: str, overwrite: bool, flag: str) -> None:
    """OutputError when `destination` exists (a file, or a non-empty folder) and not `overwrite`."""
    if os.path.isfile(destination) or os.path.islink(destination):
        raise OutputError(f"{flag}={destination} is a file; expected a folder")
    if os.path.isdir(destination) and os.listdir(destination) and not overwrite:
        raise OutputError(f"{flag}={destination} already exists: pass --overwrite to replace it "
                          "(files it holds that the new one does not are kept aside, never deleted)")


def _exchange(first: str, second: str) -> bool:
    """Swaps two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), second)


def _prune_replaced(old: str, new: str) -> bool:
    """Deletes from `old` the files `new` holds too (what an export writes); True if `old` is now empty."""
    for root, folders, names in os.walk(old, topdown=False):
        relative = os.path.relpath(root, old)
        for name in names:
            if os.path.isfile(os.path.join(new, relative, name)):
                os.unlink(os.path.join(root, name))
        for name in folders:
            with contextlib.suppress(OSError):  # not empty: it keeps someone's files
                os.rmdir(os.path.join(root, name))
    return not os.listdir(old)


def publish_folder(staged: str, destination: str, overwrite: bool, flag: str) -> Optional[str]:
    """Moves the finished folder `staged` to `destination` in one rename.

    An existing non-empty `destination` is an OutputError unless `overwrite`; then the two are
    exchanged atomically and the old folder's files that the new one also holds are deleted. What
    remains of it (files the project did not write) is kept as `<destination>.replaced-<time>`.

    Returns:
        The path of that kept folder, or None.
    """
    destination = os.path.abspath(destination)
    try:
        os.rename(staged, destination)  # atomic; also replaces an empty folder
        return None
    except OSError as error:
        if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    try:
        check_destination(destination, overwrite, flag)
    except OutputError:
        shutil.rmtree(staged, ignore_errors=True)  # the new folder: nothing of anyone else's yet
        raise
    if not _exchange(staged, destination):
        aside = temporary_sibling(destination)
        os.rename(destination, aside)
        os.rename(staged, destination)
        staged = aside
    if _prune_replaced(staged, destination):
        os.rmdir(staged)
        return None
    kept = f"{destination}.replaced-{time.strftime('%Y%m%d-%H%M%S')}"
    os.rename(staged, kept)
    return kept


def write_folder(destination: str, overwrite: bool, flag: str, write: Callable[[str], Optional[str]],
                 log: Callable[[str], None] = print) -> Optional[str]:
    """Runs `write(folder)` on a new temporary sibling of `destination`, then `publish_folder`.

    The destination is checked before `write` runs (a refusal costs nothing); a failed or killed
    `write` leaves `destination` as it was. `write` may return another destination for what it
    wrote (a refused export's `<destination>.rejected`, export/verify.py): the folder goes there
    instead, replacing an older one of that name (its files kept aside as always), and
    `destination` stays as it was. Returns the folder kept aside (and logs it), or None.
    """
    check_destination(destination, overwrite, flag)
    staged = staging_folder(destination, flag)
    try:
        elsewhere = write(staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    if elsewhere:
        destination, overwrite = elsewhere, True
    kept = publish_folder(staged, destination, overwrite, flag)
    if kept:
        log(f"Replaced {destination}; files of the old one that the new one does not hold are kept in {kept}")
    return kept


def write_files(folder: str, names: Iterable[str], overwrite: bool, flag: str,
                write: Callable[[str], Optional[Iterable[str]]]) -> list[str]:
    """Runs `write(staging folder)` and moves the files it wrote into `folder` (`publish_files`).

    `names` (the files `write` will make that must not silently replace others) are checked
    before `write` runs. `write` may return names of files it wrote that replace older files of
    the same name without `overwrite` (a refused export's `.rejected` copies, export/verify.py).
    Returns the paths written.
    """
    writable_folder(folder, flag)
    existing = [name for name in names if os.path.lexists(os.path.join(folder, name))]
    if existing and not overwrite:
        raise OutputError(f"{flag}={folder} already holds {', '.join(existing)}: pass --overwrite to replace them")
    remove_stale_temporaries(folder)
    staged = temporary_sibling(os.path.join(folder, "export"))
    os.mkdir(staged)
    try:
        replaced = write(staged)
        return publish_files(staged, folder, overwrite, flag, replaced or ())
    finally:
        shutil.rmtree(staged, ignore_errors=True)  # only ever the new, unpublished files


def publish_files(staged: str, folder: str, overwrite: bool, flag: str, replaced: Iterable[str] = ()) -> list[str]:
    """Moves every file of the folder `staged` into `folder` (each by an atomic replace).

    A file of the same name already in `folder` is an OutputError unless `overwrite`, its bytes
    are the same or its name is among `replaced`; every conflict is found before anything moves.
    `staged` is removed.
    """
    names = sorted(os.listdir(staged))
    replaced = set(replaced)
    conflicts = [name for name in names if name not in replaced and os.path.exists(os.path.join(folder, name))
                 and not _same_bytes(os.path.join(staged, name), os.path.join(folder, name))]
    if conflicts and not overwrite:
        raise OutputError(f"{flag}={folder} already holds {', '.join(conflicts)}: pass --overwrite to replace them")
    written = []
    for name in names:
        os.replace(os.path.join(staged, name), os.path.join(folder, name))
        written.append(os.path.join(folder, name))
    os.rmdir(staged)
    return written


def _same_bytes(first: str, second: str) -> bool:
    return os.path.isfile(second) and filecmp.cmp(first, second, shallow=False)


def _identities(path: str) -> list:
    """The keys under which two paths of one file meet: its resolved path, and its inode if it exists."""
    keys: list = [os.path.realpath(path)]
    with contextlib.suppress(OSError):
        status = os.stat(path)
        keys.append((status.st_dev, status.st_ino))
    return keys


def same_file(first: str, second: str) -> bool:
    """Whether two paths name one file (through symbolic links, `..`, relative paths, hard links)."""
    return bool(set(_identities(first)) & set(_identities(second)))


def refuse_overwriting_inputs(outputs: Mapping[str, str], inputs: Mapping[str, str]) -> None:
    """OutputError when an output path (`{"--out": path}`) is one of the input files (`{"--image": path}`)."""
    known = {key: (flag, source) for flag, source in inputs.items() if source for key in _identities(source)}
    for output_flag, output in outputs.items():
        for key in _identities(output) if output else ():
            if key in known:
                input_flag, source = known[key]
                raise OutputError(f"{output_flag}={output} is the input {input_flag}={source}: "
                                  "refusing to overwrite it; choose another output path")
