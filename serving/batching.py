"""Dynamic batching as TF Serving does it: requests queue up and run together.

`BatchingParameters` has TF Serving's names and text format (`--batching_parameters_file`):

    max_batch_size { value: 8 }
    batch_timeout_micros { value: 2000 }
    max_enqueued_batches { value: 64 }
    num_batch_threads { value: 2 }

`BatchScheduler` forms a batch from queued tasks of the same signature until it holds
`max_batch_size` rows or `batch_timeout_micros` have passed since its first task arrived, then
runs it on one of `num_batch_threads` threads. A full queue rejects new tasks (UNAVAILABLE in
TF Serving). If a batch fails, each of its tasks is retried alone, so one bad request cannot
fail the requests that happened to share its batch. A task whose client cancelled it or whose
deadline passed is taken out before its batch (or its retry) runs, so nobody's time goes to work
that nobody waits for, and handing out results never trips on it.
"""
from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import math
import re
import threading
import time
from typing import Callable

import numpy as np


@dataclasses.dataclass(frozen=True)
class BatchingParameters:
    """TF Serving's BatchingParameters (the fields this server uses)."""

    max_batch_size: int = 8
    batch_timeout_micros: int = 2000
    max_enqueued_batches: int = 64
    num_batch_threads: int = 2

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            minimum = 0 if field.name == "batch_timeout_micros" else 1
            if not isinstance(value, int) or value < minimum:
                raise ValueError(f"batching parameter {field.name}={value!r}: expected an integer >= {minimum}")


_FIELD = re.compile(r"^\s*(\w+)\s*\{\s*value\s*:\s*(-?\d+)\s*\}\s*$")


def parse_batching_parameters(text: str, source: str = "<batching parameters>") -> BatchingParameters:
    """Parses TF Serving's text format (`name { value: N }` per line, `#` comments)."""
    known = {field.name for field in dataclasses.fields(BatchingParameters)}
    # TF Serving fields this server accepts but does not need (it pads nothing, splits nothing).
    ignored = {"allowed_batch_sizes", "pad_variable_length_inputs", "enable_large_batch_splitting",
               "max_execution_batch_size", "thread_pool_name"}
    values = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = _FIELD.match(line)
        name = match.group(1) if match else line.split("{", 1)[0].split(":", 1)[0].strip()
        if name in ignored:
            continue
        if not match:
            raise ValueError(f"{source}:{number}: expected `name {{ value: N }}`, got {line!r}")
        if name not in known:
            raise ValueError(f"{source}:{number}: unknown batching parameter {name!r}; expected one of {sorted(known)}")
        values[name] = int(match.group(2))
    return BatchingParameters(**values)


def load_batching_parameters(path: str) -> BatchingParameters:
    try:
        with open(path, encoding="utf-8") as f:
            return parse_batching_parameters(f.read(), source=path)
    except FileNotFoundError:
        raise FileNotFoundError(f"--batching_parameters_file={path}: no such file") from None


class QueueFullError(RuntimeError):
    """The scheduler holds max_enqueued_batches batches' worth of tasks already."""


class DeadlineExceededError(TimeoutError):
    """A task's deadline passed before its batch ran; its work was never started."""


@dataclasses.dataclass
class _Task:
    key: str
    inputs: dict
    rows: int
    future: concurrent.futures.Future
    deadline: float = math.inf  # time.monotonic() past which nobody waits for the result
    arrived: float = dataclasses.field(default_factory=time.monotonic)


@dataclasses.dataclass
class BatchStats:
    batches: int = 0
    rows: int = 0
    tasks: int = 0
    largest_batch: int = 0
    dropped: int = 0  # tasks cancelled or past their deadline, taken out before running


def _settle(future: concurrent.futures.Future, result=None, error: BaseException | None = None) -> None:
    """Hands a task its outcome; if its client cancelled it meanwhile, the outcome is dropped."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except concurrent.futures.InvalidStateError:
        pass


class BatchScheduler:
    """Groups tasks with the same key into batches and runs `process(key, inputs)` on them.

    Args:
        parameters: BatchingParameters.
        process: (key, inputs dict of arrays with the batch on axis 0) -> outputs dict of
            arrays with the same batch size; may raise.

    `submit(key, inputs, timeout)` -> a Future of that task's outputs (its rows of the batch's
    outputs). Cancelling the Future, or letting `timeout` seconds pass, takes the task out of
    its batch before the batch runs: its work is never started and the other tasks of the batch
    get their results as if it had never come.
    """

    def __init__(self, parameters: BatchingParameters, process: Callable[[str, dict], dict]):
        self.parameters = parameters
        self._process = process
        self._queue: collections.deque = collections.deque()
        self._condition = threading.Condition()
        self._closed = False
        self._capacity = parameters.max_enqueued_batches * parameters.max_batch_size
        self._workers = concurrent.futures.ThreadPoolExecutor(parameters.num_batch_threads,
                                                              thread_name_prefix="batch")
        self._in_flight = threading.Semaphore(parameters.num_batch_threads)
        self.stats = BatchStats()
        self._stats_lock = threading.Lock()
        self._thread = threading.Thread(target=self._form_batches, name="batch-scheduler", daemon=True)
        self._thread.start()

    def submit(self, key: str, inputs: dict, timeout: float | None = None) -> concurrent.futures.Future:
        rows = len(next(iter(inputs.values())))
        if rows > self.parameters.max_batch_size:
            raise ValueError(f"a request of batch size {rows} exceeds max_batch_size={self.parameters.max_batch_size}")
        task = _Task(key, inputs, rows, concurrent.futures.Future())
        if timeout is not None:
            task.deadline = task.arrived + timeout
        with self._condition:
            if self._closed:
                raise QueueFullError("the server is shutting down")
            if len(self._queue) >= self._capacity:
                self._prune()  # cancelled and expired tasks give their places back first
            if len(self._queue) >= self._capacity:
                raise QueueFullError(f"the batching queue is full ({self._capacity} requests waiting)")
            self._queue.append(task)
            self._condition.notify_all()
        return task.future

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        self._thread.join()
        self._workers.shutdown(wait=True)

    def _live(self, tasks) -> list:
        """The tasks still wanted: cancelled ones dropped, expired ones failed (their work not started)."""
        now, live = time.monotonic(), []
        for task in tasks:
            if task.future.cancelled():
                pass
            elif now >= task.deadline:
                _settle(task.future, error=DeadlineExceededError(
                    f"the deadline passed after {now - task.arrived:.1f} s in the queue; the request was not run"))
            else:
                live.append(task)
        if len(live) < len(tasks):
            with self._stats_lock:
                self.stats.dropped += len(tasks) - len(live)
        return live

    def _prune(self) -> None:
        """Drops cancelled and expired tasks from the queue (the caller holds the condition)."""
        self._queue = collections.deque(self._live(self._queue))

    def _take_batch(self):
        """Waits for a first task, then for same-key tasks until full or its deadline passes."""
        limit = self.parameters.max_batch_size
        timeout = self.parameters.batch_timeout_micros / 1e6
        with self._condition:
            while True:
                self._prune()
                if not self._queue:
                    if self._closed:
                        return None
                    self._condition.wait()
                    continue
                first = self._queue[0]
                rows = sum(t.rows for t in self._queue if t.key == first.key)
                remaining = first.arrived + timeout - time.monotonic()
                if rows >= limit or remaining <= 0 or self._closed:
                    break
                self._condition.wait(remaining)
            batch, kept, rows = [], collections.deque(), 0
            for task in self._queue:
                if task.key == first.key and rows + task.rows <= limit:
                    batch.append(task)
                    rows += task.rows
                else:
                    kept.append(task)
            self._queue = kept
            return batch

    def _form_batches(self) -> None:
        while True:
            self._in_flight.acquire()  # a batch forms only when a thread can run it
            batch = self._take_batch()
            if batch is None:
                self._in_flight.release()
                return
            self._workers.submit(self._run, batch)

    def _run(self, batch) -> None:
        try:
            self._run_live(batch)
        except Exception as error:  # noqa: BLE001 - a scheduler bug still answers every request
            for task in batch:
                _settle(task.future, error=error)
        finally:
            self._in_flight.release()

    def _run_live(self, batch) -> None:
        batch = self._live(batch)  # a task cancelled or expired while its batch formed is not run
        if not batch:
            return
        rows = sum(t.rows for t in batch)
        with self._stats_lock:
            self.stats.batches += 1
            self.stats.tasks += len(batch)
            self.stats.rows += rows
            self.stats.largest_batch = max(self.stats.largest_batch, rows)
        try:
            outputs = self._process(batch[0].key, concatenate([t.inputs for t in batch]))
        except Exception as error:  # noqa: BLE001 - retried alone so only the bad task fails
            if len(batch) == 1:
                _settle(batch[0].future, error=error)
                return
            for task in batch:
                if not self._live([task]):
                    continue
                try:
                    outputs = self._process(task.key, task.inputs)
                except Exception as task_error:  # noqa: BLE001 - delivered to that request
                    _settle(task.future, error=task_error)
                else:
                    self._deliver([task], outputs)
            return
        self._deliver(batch, outputs)

    @staticmethod
    def _deliver(batch, outputs: dict) -> None:
        start = 0
        for task in batch:
            _settle(task.future, {name: value[start:start + task.rows] for name, value in outputs.items()})
            start += task.rows


def concatenate(inputs: list[dict]) -> dict:
    """Concatenates per-task input dicts along the batch axis."""
    if len(inputs) == 1:
        return inputs[0]
    return {name: np.concatenate([values[name] for values in inputs], axis=0) for name in inputs[0]}
