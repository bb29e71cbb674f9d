"""The background map writer: order kept, memory bounded, failures raised in the caller."""
import threading
import time

import pytest

from gpucircuit.errors import OutputError
from gpucircuit.io.write_queue import WriteQueue


def test_results_in_submission_order_and_at_most_depth_waiting():
    waiting = []
    gate = threading.Event()

    def write(i):
        gate.wait(5)
        return i

    with WriteQueue(depth=2) as q:
        for i in range(2):
            q.submit(write, i)
        waiting.append(len(q._pending))
        gate.set()
        for i in range(2, 6):
            q.submit(write, i)
            assert len(q._pending) <= 2
        assert q.drain() == list(range(6))
    assert waiting == [2]


def test_failed_write_raised_at_drain_and_later_writes_dropped():
    ran = []

    def write(i):
        if i == 1:
            raise OutputError("cannot write x.asc: no space left on device")
        time.sleep(0.05)
        ran.append(i)
        return i

    with pytest.raises(OutputError, match="no space left"):
        with WriteQueue(depth=3) as q:
            for i in range(3):
                q.submit(write, i)
            q.drain()
    assert 0 in ran and 1 not in ran


def test_error_in_caller_cancels_waiting_writes():
    gate = threading.Event()
    ran = []

    def write(i):
        gate.wait(5)
        ran.append(i)

    threading.Timer(0.3, gate.set).start()  # the running write finishes after the error
    with pytest.raises(KeyboardInterrupt):
        with WriteQueue(depth=3) as q:
            for i in range(3):
                q.submit(write, i)
            raise KeyboardInterrupt
    assert 1 not in ran and 2 not in ran  # waiting writes were dropped, the running one completed
