"""One training process per model directory: an exclusive lock on `<model_dir>/train.lock`.

Two trainers writing one directory would overwrite each other's checkpoints, config.json and
log. The lock is `fcntl.flock`, which the kernel releases when the holding process ends, however
it ends (kill -9 included), so a lock is never stale; the file keeps the holder's pid for the
error message. Only the process that writes the directory takes it (the chief of a cluster). A
process keeps each lock it took until it exits; taking it again in the same process is a no-op
(a run that calls `fit` in chunks, or sets up again after an interruption).
"""
from __future__ import annotations

import fcntl
import os

from mimnet_tf.models.model_dir import ModelDir
_held: dict[str, int] = {}  # lock file path -> open descriptor (closing it would release the lock)


class ModelDirLockedError(RuntimeError):
    """Another live process trains into the same model directory."""


def lock_model_dir(model_dir: str) -> str:
    """Takes the model directory's lock (creating the directory); returns the lock file's path.

    Raises:
        ModelDirLockedError: naming the directory and the pid of the process holding it.
    """
    os.makedirs(model_dir, exist_ok=True)
    path = ModelDir(model_dir).lock_path
    if path in _held:
        return path
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(descriptor)
        raise ModelDirLockedError(f"{model_dir} is in use by another training process (pid {holder}): wait for it "
                                  "to end, or train into another --model_dir") from None
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode("ascii"), 0)
    _held[path] = descriptor
    return path
