"""Dynamic batching: TF Serving's parameter file, batch forming, isolation of a failing request."""
import os
import threading
import time

import numpy as np
import pytest

from mimnet_tf.serving import batching

SERVING_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "serving"))


def test_parses_the_shipped_parameters_file():
    parameters = batching.load_batching_parameters(os.path.join(SERVING_DIR, "batching_parameters.txt"))
    assert parameters == batching.BatchingParameters(max_batch_size=8, batch_timeout_micros=2000,
                                                     max_enqueued_batches=64, num_batch_threads=2)


def test_parses_tf_serving_text_format_and_ignores_fields_it_does_not_need():
    text = """
    # comment
    max_batch_size { value: 32 }   # trailing comment
    batch_timeout_micros {value:0}
    pad_variable_length_inputs: true
    allowed_batch_sizes: 8
    """
    parameters = batching.parse_batching_parameters(text)
    assert (parameters.max_batch_size, parameters.batch_timeout_micros) == (32, 0)
    assert parameters.num_batch_threads == batching.BatchingParameters().num_batch_threads


@pytest.mark.parametrize("text, message", [
    ("max_batch_size { value: 0 }", "max_batch_size=0: expected an integer >= 1"),
    ("max_batch_sise { value: 8 }", "unknown batching parameter 'max_batch_sise'"),
    ("max_batch_size: 8", "expected `name { value: N }`"),
])
def test_bad_parameters_are_named(text, message):
    with pytest.raises(ValueError, match=message):
        batching.parse_batching_parameters(text, source="params.txt")


def test_missing_parameters_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="--batching_parameters_file=.*no such file"):
        batching.load_batching_parameters(str(tmp_path / "nope.txt"))


def _doubling(calls):
    def process(key, inputs):
        calls.append((key, len(inputs["x"])))
        if np.any(inputs["x"] < 0):
            raise ValueError("negative input")
        time.sleep(0.01)
        return {"y": inputs["x"] * 2}

    return process


def _submit_concurrently(scheduler, values, key="sig"):
    futures = [None] * len(values)
    barrier = threading.Barrier(len(values))

    def submit(i):
        barrier.wait()
        futures[i] = scheduler.submit(key, {"x": np.array([values[i]], np.float32)})

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(values))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return futures


def test_concurrent_requests_share_batches_and_get_their_own_rows():
    calls = []
    scheduler = batching.BatchScheduler(
        batching.BatchingParameters(max_batch_size=4, batch_timeout_micros=50_000, num_batch_threads=1),
        _doubling(calls))
    try:
        futures = _submit_concurrently(scheduler, list(range(8)))
        results = [f.result(timeout=5)["y"].tolist() for f in futures]
    finally:
        scheduler.close()
    assert results == [[2.0 * i] for i in range(8)]
    assert sum(rows for _, rows in calls) == 8
    assert max(rows for _, rows in calls) == 4  # full batches, never more than max_batch_size
    assert scheduler.stats.largest_batch == 4 and scheduler.stats.tasks == 8


def test_a_failing_request_fails_alone():
    calls = []
    scheduler = batching.BatchScheduler(
        batching.BatchingParameters(max_batch_size=4, batch_timeout_micros=50_000, num_batch_threads=1),
        _doubling(calls))
    try:
        futures = _submit_concurrently(scheduler, [1.0, -1.0, 3.0, 4.0])
        with pytest.raises(ValueError, match="negative input"):
            futures[1].result(timeout=5)
        assert [futures[i].result(timeout=5)["y"].tolist() for i in (0, 2, 3)] == [[2.0], [6.0], [8.0]]
    finally:
        scheduler.close()


def test_different_signatures_never_share_a_batch():
    calls = []
    scheduler = batching.BatchScheduler(
        batching.BatchingParameters(max_batch_size=8, batch_timeout_micros=20_000), _doubling(calls))
    try:
        a = [scheduler.submit("a", {"x": np.array([1.0])}) for _ in range(3)]
        b = [scheduler.submit("b", {"x": np.array([2.0])}) for _ in range(2)]
        assert [f.result(timeout=5)["y"][0] for f in a + b] == [2.0] * 3 + [4.0] * 2
    finally:
        scheduler.close()
    assert sorted(calls) == [("a", 3), ("b", 2)]


def test_oversized_request_and_full_queue_are_refused():
    release = threading.Event()

    def blocked(key, inputs):
        release.wait(5)
        return {"y": inputs["x"]}

    scheduler = batching.BatchScheduler(
        batching.BatchingParameters(max_batch_size=2, batch_timeout_micros=0, max_enqueued_batches=1,
                                    num_batch_threads=1), blocked)
    try:
        with pytest.raises(ValueError, match="batch size 3 exceeds max_batch_size=2"):
            scheduler.submit("a", {"x": np.zeros(3)})
        first = scheduler.submit("a", {"x": np.zeros(2)})
        time.sleep(0.05)  # the first batch is running (blocked); the queue holds 2 more rows at most
        queued = [scheduler.submit("a", {"x": np.zeros(1)}) for _ in range(2)]
        with pytest.raises(batching.QueueFullError, match="queue is full"):
            scheduler.submit("a", {"x": np.zeros(1)})
        release.set()
        assert first.result(timeout=5)["y"].shape == (2,)
        assert all(f.result(timeout=5)["y"].shape == (1,) for f in queued)
    finally:
        release.set()
        scheduler.close()


def _gated_recorder(calls, gates):
    """A process that records the values it sees; its n-th call waits until gates[n] is set."""
    def process(key, inputs):
        calls.append(inputs["x"].tolist())
        gates[min(len(calls), len(gates)) - 1].wait(5)
        return {"y": inputs["x"] * 2}

    return process


@pytest.mark.parametrize("when", ["queued", "running"])
def test_a_cancelled_request_never_costs_the_others_their_results(when):
    # One batch thread: the first batch holds it while the next four requests queue up together.
    calls, gates = [], [threading.Event(), threading.Event()]
    scheduler = batching.BatchScheduler(
        batching.BatchingParameters(max_batch_size=4, batch_timeout_micros=20_000, num_batch_threads=1),
        _gated_recorder(calls, gates))
    try:
        blocker = scheduler.submit("a", {"x": np.array([0.0])})
        time.sleep(0.1)  # the blocker's batch is running
        futures = [scheduler.submit("a", {"x": np.array([float(i)])}) for i in range(1, 5)]
        if when == "queued":
            assert futures[1].cancel()
            gates[0].set()
        else:
            gates[0].set()
            while len(calls) < 2:  # the second batch is running
                time.sleep(0.001)
            assert futures[1].cancel()  # its result will come back for a cancelled future
        gates[1].set()
        assert blocker.result(timeout=5)["y"].tolist() == [0.0]
        assert [futures[i].result(timeout=5)["y"].tolist() for i in (0, 2, 3)] == [[2.0], [6.0], [8.0]]
    finally:
        for gate in gates:
            gate.set()
        scheduler.close()
    # Cancelled before its batch ran, a request is taken out: its row is never computed.
    assert calls[1] == ([1.0, 3.0, 4.0] if when == "queued" else [1.0, 2.0, 3.0, 4.0])
    assert scheduler.stats.dropped == (1 if when == "queued" else 0)


def test_work_of_a_request_past_its_deadline_is_never_started():
    calls, release = [], threading.Event()
    scheduler = batching.BatchScheduler(
        batching.BatchingParameters(max_batch_size=4, batch_timeout_micros=0, num_batch_threads=1),
        _gated_recorder(calls, [release]))
    try:
        blocker = scheduler.submit("a", {"x": np.array([0.0])})
        time.sleep(0.1)
        late = scheduler.submit("a", {"x": np.array([1.0])}, timeout=0.05)
        patient = scheduler.submit("a", {"x": np.array([2.0])}, timeout=30)
        time.sleep(0.2)  # the first request's deadline passes while the batch thread is busy
        release.set()
        with pytest.raises(batching.DeadlineExceededError, match="not run"):
            late.result(timeout=5)
        assert patient.result(timeout=5)["y"].tolist() == [4.0]
        assert blocker.result(timeout=5)["y"].tolist() == [0.0]
    finally:
        release.set()
        scheduler.close()
    assert calls == [[0.0], [2.0]] and scheduler.stats.dropped == 1


def test_a_failing_batch_retries_only_the_requests_still_wanted():
    calls, release = [], threading.Event()

    def process(key, inputs):
        calls.append(inputs["x"].tolist())
        release.wait(5)
        if np.any(inputs["x"] < 0):
            raise ValueError("negative input")
        return {"y": inputs["x"] * 2}

    scheduler = batching.BatchScheduler(
        batching.BatchingParameters(max_batch_size=3, batch_timeout_micros=50_000, num_batch_threads=1), process)
    try:
        futures = _submit_concurrently(scheduler, [1.0, -1.0, 3.0])
        while not calls:
            time.sleep(0.001)
        futures[2].cancel()  # cancelled while the batch that will fail is running
        release.set()
        assert futures[0].result(timeout=5)["y"].tolist() == [2.0]
        with pytest.raises(ValueError, match="negative input"):
            futures[1].result(timeout=5)
    finally:
        release.set()
        scheduler.close()
    assert sorted(map(sorted, calls)) == [[-1.0], [-1.0, 1.0, 3.0], [1.0]]  # 3.0 was not retried
