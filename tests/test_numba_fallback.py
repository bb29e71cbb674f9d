"""The compiled loops are optional at run time: a numba that is installed but will not import
leaves the NumPy passes to make the same bytes, and a job that does not ask for the current maps'
loops never imports numba in its own process."""
import builtins
import subprocess
import sys

import numpy as np
import pytest

from gpucircuit import backend
from gpucircuit.io import ascii_compiled, raster_write
from test_ascii_text import python_rows


def test_numba_that_will_not_import_falls_back_to_the_numpy_passes(monkeypatch):
    real_import = builtins.__import__

    def no_numba(name, *args, **kwargs):
        if name == "numba" or name.startswith("numba."):
            raise ImportError("numba is broken here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(ascii_compiled, "_compiled", None)
    monkeypatch.setattr(backend, "_numba", True)
    monkeypatch.setattr(builtins, "__import__", no_numba)
    x = np.random.default_rng(9).standard_normal((40, 30))
    assert bytes(raster_write.ascii_rows_bytes(x, -9999.0, compiled=True)) == python_rows(x)
    assert not ascii_compiled.available()


def test_a_one_pair_job_leaves_numba_to_its_writer_processes(tmp_path):
    """numba holds ~140 MB of a process: the job's own process decides on the compiled ASCII
    formatter without importing it."""
    script = ("import sys\nfrom gpucircuit.pipeline import writer_preparation\nfrom gpucircuit.currents import "
              "CurrentMapper\nwriter_preparation(False, 1 << 24)\nprint('numba' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_current_map_with_a_numba_that_will_not_import_is_the_numpy_map(monkeypatch):
    from gpucircuit import currents_compiled
    from gpucircuit.currents import CurrentMapper
    from gpucircuit.grid import build_raster_graph

    rng = np.random.default_rng(10)
    g = 10 ** rng.uniform(-3, 0, (21, 17))
    volts = rng.standard_normal(g.shape)
    graph = build_raster_graph(g)
    want = CurrentMapper(graph, compiled=False)(volts)
    real_import = builtins.__import__

    def no_numba(name, *args, **kwargs):
        if name == "numba" or name.startswith("numba."):
            raise ImportError("numba is broken here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(currents_compiled, "_compiled", {})
    monkeypatch.setattr(backend, "_numba", True)
    monkeypatch.setattr(builtins, "__import__", no_numba)
    mapper = CurrentMapper(graph, compiled=True)
    assert np.array_equal(mapper(volts), want) and not mapper.compiled


def test_large_current_maps_use_the_compiled_loops_only_once_a_job_asks():
    script = ("import numpy as np\nfrom gpucircuit import currents_compiled\nfrom gpucircuit.currents import "
              "CurrentMapper\nfrom gpucircuit.grid import build_raster_graph\n"
              "graph = build_raster_graph(np.ones((1100, 1000)))\n"
              "print(CurrentMapper(graph).compiled)\ncurrents_compiled.request()\n"
              "print(CurrentMapper(graph).compiled, currents_compiled.available())\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.split("\n")[:2]
    assert first == "False"
    assert second in ("True True", "False False")  # numba there, or not installed


def test_loops_compile_without_a_writable_cache_folder(monkeypatch):
    """numba refuses ``cache=True`` when no folder is writable (a read-only install without a home
    folder): the loops are then compiled for the run alone."""
    numba = pytest.importorskip("numba")
    from gpucircuit.backend import compile_loop

    real = numba.njit

    def no_cache_folder(*args, cache=False, **kwargs):
        if cache:
            raise RuntimeError("cannot cache function 'f': no locator available for file 'f.py'")
        return real(*args, **kwargs)

    monkeypatch.setattr(numba, "njit", no_cache_folder)

    def twice(x):
        return 2 * x

    assert compile_loop(twice)(21) == 42
