"""The background map writer: order kept, memory bounded, failures raised in the caller."""
import os
import threading
import time

import numpy as np
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


def test_call_runs_in_a_worker_process_while_open_and_here_after():
    import os

    with WriteQueue(processes=1) as q:
        assert q.call(os.getpid) != os.getpid()
    assert q.call(os.getpid) == os.getpid()
    assert WriteQueue().call(os.getpid) == os.getpid()


def test_failed_write_in_a_worker_process_is_one_output_error_and_leaves_no_file(tmp_path):
    import numpy as np
    from rasterio.transform import from_origin

    from gpucircuit.io.raster import GridSpec
    from gpucircuit.io.raster_write import write_raster

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    spec = GridSpec((3, 4), from_origin(0, 0, 1, 1))
    with pytest.raises(OutputError, match=r"cannot write .*m\.asc"):
        with WriteQueue(processes=1) as q:
            q.call(write_raster, blocker / "m.asc", np.ones((3, 4)), spec)
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_queue_for_maps_uses_processes_only_for_large_maps():
    small = WriteQueue.for_maps(True, 100)
    large = WriteQueue.for_maps(True, 1 << 20)
    none = WriteQueue.for_maps(False, 1 << 20)
    try:
        assert small._procs is None and none._procs is None and large._procs is not None
        assert large.depth > large._pool._max_workers >= 1
    finally:
        for q in (small, large, none):
            q.__exit__(None, None, None)


def test_map_writer_counts_overlapping_writes_once(tmp_path):
    """Two writer threads writing at the same time: the job's write time is the time while any
    write runs, not the sum of both."""
    import numpy as np
    from rasterio.transform import from_origin

    from gpucircuit.io.outputs import MapWriter
    from gpucircuit.io.raster import GridSpec

    def slow(fn, *args):
        time.sleep(0.4)
        return fn(*args)

    writer = MapWriter(tmp_path / "j", GridSpec((3, 4), from_origin(0, 0, 1, 1)), np.ones((3, 4), bool), offload=slow)
    t0 = time.perf_counter()
    with WriteQueue(depth=2, workers=2) as q:
        q.submit(writer.current, "curmap_1", np.ones((3, 4)))
        q.submit(writer.current, "curmap_2", np.ones((3, 4)))
    wall = time.perf_counter() - t0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j_curmap_1.asc", "j_curmap_2.asc"]
    assert 0.4 <= writer.seconds <= wall and writer.seconds < 0.8  # the sum would be >= 0.8


def test_workers_leave_ctrl_c_and_sigterm_to_the_caller():
    import signal

    with WriteQueue(processes=1) as q:
        assert q.call(signal.getsignal, signal.SIGINT) == signal.SIG_IGN
        assert q.call(signal.getsignal, signal.SIGTERM) == signal.SIG_IGN


def _index_and_pid(i):
    import os

    return i, os.getpid()


def test_imap_spreads_tasks_over_the_worker_processes_in_order():
    import os

    with WriteQueue(processes=2) as q:
        results = list(q.imap(_index_and_pid, [(i,) for i in range(12)]))
    assert [i for i, _ in results] == list(range(12))
    assert os.getpid() not in {pid for _, pid in results}
    assert [pid for _, pid in WriteQueue().imap(_index_and_pid, [(0,)])] == [os.getpid()]


def test_ascii_grid_formatted_over_processes_is_byte_identical(tmp_path, monkeypatch):
    import numpy as np
    from rasterio.transform import from_origin

    from gpucircuit.io import raster_write
    from gpucircuit.io.raster import GridSpec

    rng = np.random.default_rng(5)
    data = rng.lognormal(size=(37, 23)) * 1e-3
    data[rng.random(data.shape) < 0.1] = np.nan
    spec = GridSpec(data.shape, from_origin(10, 20, 30, 30))
    monkeypatch.setattr(raster_write, "SPREAD_CHUNK_CELLS", 50)  # two rows a task: 19 tasks
    chunks = []
    with WriteQueue(processes=2) as q:
        def spread(fn, args_list):
            args_list = list(args_list)
            chunks.extend(len(a[0]) for a in args_list)
            return q.imap(fn, args_list)

        spread_file = raster_write.write_raster(tmp_path / "spread.asc", data, spec, spread=spread)
    plain_file = raster_write.write_raster(tmp_path / "plain.asc", data, spec)
    assert len(chunks) == 19 and sum(chunks) == 37
    assert spread_file.read_bytes() == plain_file.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.asc", "spread.asc"]  # no part left


def _full_disk_on_the_fourth_part(rows, nodata, part, compiled=None):
    from gpucircuit.io.raster_write import ascii_rows_to_part

    if part.endswith(".p00003.tmp"):
        raise OSError(28, "No space left on device")
    return ascii_rows_to_part(rows, nodata, part)


def test_spread_ascii_write_that_fails_leaves_no_file_and_no_part(tmp_path, monkeypatch):
    import numpy as np
    import pytest
    from rasterio.transform import from_origin

    from gpucircuit.errors import OutputError
    from gpucircuit.io import raster_write
    from gpucircuit.io.raster import GridSpec

    data = np.random.default_rng(6).random((40, 20))
    monkeypatch.setattr(raster_write, "SPREAD_CHUNK_CELLS", 40)  # two rows a task: 20 tasks
    with WriteQueue(processes=2) as q:
        def spread(fn, args_list):
            return q.imap(_full_disk_on_the_fourth_part, args_list)

        with pytest.raises(OutputError, match="spread.asc: no space left on device"):
            raster_write.write_raster(tmp_path / "spread.asc", data, GridSpec(data.shape, from_origin(0, 40, 1, 1)),
                                      spread=spread)
    assert list(tmp_path.iterdir()) == []


PREPARED = []


def _prepare():
    PREPARED.append("ready")


def _prepared():
    return list(PREPARED), os.getpid()


def test_prepare_runs_in_each_worker_process_as_it_starts():
    with WriteQueue(processes=1, prepare=_prepare) as q:
        seen, pid = q.call(_prepared)
    assert seen == ["ready"] and pid != os.getpid()
    assert PREPARED == []  # not here


def test_writers_warm_the_compiled_formatter_for_large_ascii_maps(monkeypatch):
    from gpucircuit import pipeline
    from gpucircuit.io import ascii_compiled

    calls = []
    monkeypatch.setattr(ascii_compiled, "warm", lambda: calls.append("warm"))
    monkeypatch.setattr(pipeline, "reuse_freed_blocks", lambda: calls.append("heap"))
    big = ascii_compiled.MIN_VALUES
    for as_tif, cells, want in ((False, big, ["heap", "warm"] if ascii_compiled.available() else ["heap"]),
                                (True, big, ["heap"]), (False, big - 1, ["heap"])):
        calls.clear()
        pipeline.writer_preparation(as_tif, cells)()
        assert calls == want, (as_tif, cells)


def test_warm_loads_the_compiled_loop():
    from gpucircuit.io import ascii_compiled

    if not ascii_compiled.available():
        pytest.skip("numba is not installed")
    ascii_compiled.warm()
    assert ascii_compiled.grid_rows(np.array([[1.5, np.nan]], np.float32), -9999) == b"1.5 -9999 \n"
