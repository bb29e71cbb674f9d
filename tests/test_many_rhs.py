"""An all-to-one job with per-point current maps, written through the worker processes of the
map queue: every map matches a direct solve of that point's circuit, and the files are the same
bytes as those written in-process."""
from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import rasters
from gpucircuit._cli.main import app
from gpucircuit.io import write_queue
from reference import RefCircuit, random_landscape


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("many")
    return rasters.job_inputs(folder, (26, 31), 11, 5)


def run_job(folder, tif, txt, scenario="all-to-one", solver="direct"):
    folder.mkdir(parents=True, exist_ok=True)
    ini = folder / "job.ini"
    ini.write_text(f"scenario = {scenario}\nhabitat_file = {tif}\npoint_file = {txt}\n"
                   f"output_file = {folder / 'out' / 'j.out'}\nwrite_cur_maps = True\n")
    result = CliRunner().invoke(app, ["--backend", "cpu", "run", str(ini), "--solver", solver])
    assert result.exit_code == 0, result.output
    return folder / "out"


def read_ascii(path):
    return np.loadtxt(path, skiprows=6)


@pytest.mark.parametrize("solver", ["direct", "mg"])
def test_all_to_one_maps_from_worker_processes_match_a_direct_solve(inputs, tmp_path, monkeypatch, solver):
    res, pts, tif, txt = inputs
    monkeypatch.setattr(write_queue, "PROCESS_MIN_CELLS", 0)  # this small job's maps go to processes
    out = run_job(tmp_path, tif, txt, solver=solver)
    ref = RefCircuit(res)
    nodes = {pid: ref.node_of[tuple(pts[pid][0])] for pid in pts}
    cum = np.zeros(res.shape)
    for pid, ni in nodes.items():
        v = ref.solve({u: 1.0 for q, u in nodes.items() if q != pid}, [ni])
        want = ref.current_map(v)
        cum += want
        got = read_ascii(out / f"j_curmap_{pid}.asc")
        np.testing.assert_allclose(got, want, rtol=1e-6 if solver == "direct" else 1e-4,
                                   atol=1e-9 * want.max())
    np.testing.assert_allclose(read_ascii(out / "j_cum_curmap.asc"), cum, rtol=1e-4, atol=1e-9 * cum.max())
    assert not list(out.glob(".*.tmp"))


@pytest.mark.parametrize("scenario", ["all-to-one", "one-to-all"])
def test_maps_written_by_processes_are_the_bytes_written_in_process(inputs, tmp_path, monkeypatch, scenario):
    _, pts, tif, txt = inputs
    here = run_job(tmp_path / "here", tif, txt, scenario)
    monkeypatch.setattr(write_queue, "PROCESS_MIN_CELLS", 0)
    there = run_job(tmp_path / "there", tif, txt, scenario)
    names = sorted(p.name for p in here.iterdir())
    assert len([n for n in names if "_curmap_" in n]) == len(pts)
    assert sorted(p.name for p in there.iterdir()) == names
    for n in names:
        assert (there / n).read_bytes() == (here / n).read_bytes(), n


def test_direct_solves_on_several_threads_are_the_serial_solves(monkeypatch):
    import scipy.sparse.linalg as spla

    from gpucircuit.grid import build_raster_graph
    from gpucircuit.solver import sparse
    from gpucircuit.solver.dissection import dissection_order
    from gpucircuit.solver.system import GroundedSystem
    from gpucircuit.solver.options import SolveOptions
    from gpucircuit.solver.unknowns import reduced_laplacian

    res = random_landscape((30, 33), seed=5, split=False)
    graph = build_raster_graph(np.where(np.isfinite(res), 1 / res, 0))
    fixed = np.zeros(res.shape, bool)
    fixed.flat[np.flatnonzero(graph.node)[0]] = True
    s = GroundedSystem(graph, fixed=fixed, options=SolveOptions(method="direct"), setup=False)
    A = reduced_laplacian(graph, s.uid, s.n, None)
    B = np.random.default_rng(6).standard_normal((4 * sparse.LU_BLOCK + 3, s.n))  # blocks and a remainder
    solver = sparse.DirectSolver(A, order=dissection_order(s.uid, graph.merge, s.n))
    monkeypatch.setattr(sparse, "solve_threads", lambda: 1)
    serial, _ = solver.solve(B)
    monkeypatch.setattr(sparse, "solve_threads", lambda: 3)
    threaded, info = solver.solve(B)
    np.testing.assert_array_equal(threaded, serial)
    np.testing.assert_allclose(threaded, spla.spsolve(A.tocsc(), B.T).T, rtol=1e-9, atol=1e-12)
    assert np.all(info.residuals < 1e-10)


def test_a_script_without_a_main_guard_can_run_a_job_with_writer_processes(inputs, tmp_path):
    """Worker processes must not re-run the caller's script (as spawned ones would)."""
    import subprocess
    import sys

    _, pts, tif, txt = inputs
    ini = tmp_path / "job.ini"
    ini.write_text(f"scenario = all-to-one\nhabitat_file = {tif}\npoint_file = {txt}\n"
                   f"output_file = {tmp_path / 'out' / 'j.out'}\nwrite_cur_maps = True\n")
    script = tmp_path / "job.py"
    script.write_text("from gpucircuit.io import write_queue\nwrite_queue.PROCESS_MIN_CELLS = 0\n"
                      "from gpucircuit.io.config import load_config\nfrom gpucircuit.pipeline import run_config\n"
                      f"run_config(load_config({str(ini)!r}), 'direct')\nprint('ran once')\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("ran once") == 1
    assert len(list((tmp_path / "out").glob("j_curmap_*.asc"))) == len(pts)


def test_writer_processes_are_forked_before_the_habitat_raster_is_read(inputs, tmp_path, monkeypatch):
    """Forked after the load, the writers share the loaded arrays copy-on-write and both sides pay
    page faults for it: the queue is made from the raster's header, before the load."""
    from gpucircuit import pipeline

    _, _, tif, txt = inputs
    monkeypatch.setattr(write_queue, "PROCESS_MIN_CELLS", 0)
    order = []
    made = write_queue.WriteQueue.for_maps.__func__

    def for_maps(cls, maps, cells, **kwargs):
        queue = made(cls, maps, cells, **kwargs)
        order.append(("queue", queue.processes))
        return queue

    loaded = pipeline.load_raster_graph
    monkeypatch.setattr(write_queue.WriteQueue, "for_maps", classmethod(for_maps))
    monkeypatch.setattr(pipeline, "load_raster_graph", lambda cfg: (order.append(("load", 0)), loaded(cfg))[1])
    run_job(tmp_path, tif, txt)
    assert [what for what, _ in order] == ["queue", "load"]
    assert order[0][1] > 0  # with processes


@pytest.mark.parametrize("scenario", ["all-to-one", "one-to-all"])
def test_points_combined_in_blocks_match_one_at_a_time(inputs, tmp_path, monkeypatch, scenario):
    """Several points' voltages come from one product over the solutions; one point per product
    (the largest maps) gives the same maps."""
    from gpucircuit.modes import one_to_all

    _, pts, tif, txt = inputs
    together = run_job(tmp_path / "together", tif, txt, scenario)
    monkeypatch.setattr(one_to_all, "COMBINE_BYTES", 1)
    alone = run_job(tmp_path / "alone", tif, txt, scenario)
    names = sorted(p.name for p in together.iterdir() if p.suffix == ".asc")
    assert len(names) == len(pts) + 1
    for n in names:
        np.testing.assert_allclose(read_ascii(alone / n), read_ascii(together / n), rtol=1e-9, atol=1e-12)
