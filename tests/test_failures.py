"""Failures that lose nothing: checked before any work, one line naming what and where, exit status
non-zero, no traceback, no half-written file or empty folder left behind; solves that fail their
residual check give Circuitscape's -777 while the rest of the job is written."""
import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import from_origin

import gpucircuit as gc
import rasters
from cli_runner import assert_one_line_error, run
from gpucircuit.errors import InputError, SolverError
from reference import pick_points, random_landscape

TRANSFORM = from_origin(500000.0, 4100000.0, 30.0, 30.0)


@pytest.fixture(scope="module")
def landscape(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("failures")
    res, pts, tif, txt = rasters.job_inputs(tmp, (18, 22), 31, 4)
    expect = gc.pairwise(res, pts)
    assert (expect.resistances > 0).sum() == 12  # one component: every pair is solved
    return res, pts, tif, txt


def write_ini(path, habitat, points, out, scenario="pairwise", **extra):
    keys = dict(data_type="raster", scenario=scenario, habitat_file=habitat, point_file=points,
                output_file=out, write_cur_maps="True", write_cum_cur_map_only="True", **extra)
    path.write_text("[Options]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()))
    return path


def temporaries(folder):
    return sorted(p.name for p in Path(folder).glob(".*.tmp"))


@pytest.fixture
def no_loading(monkeypatch):
    """Fails the test if the job gets as far as reading the habitat raster."""
    import gpucircuit.pipeline as pipeline

    def refuse(*a, **k):
        raise AssertionError("the job was loaded before the failure was detected")

    monkeypatch.setattr(pipeline, "load_raster_graph", refuse)


# 1. the output location is checked before any work ------------------------------------------------

def test_unwritable_folder_is_refused_before_loading(landscape, tmp_path, monkeypatch, no_loading):
    _, _, tif, txt = landscape
    out = tmp_path / "locked"
    out.mkdir()
    os.chmod(out, 0o555)  # tests run as root, which ignores the bits: os.access reports them instead
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: (Path(p) != out or not mode & os.W_OK)
                        and real_access(p, mode, **k))
    ini = write_ini(tmp_path / "job.ini", tif, txt, out / "job.out")
    assert_one_line_error(*run("run", ini), "output folder", str(out), "not writable")
    assert_one_line_error(*run("pairwise", tif, txt, "-o", out), "output folder", str(out), "not writable")
    os.chmod(out, 0o755)


@pytest.mark.parametrize("err", [errno.EROFS, errno.EACCES, errno.ENOSPC])
def test_probe_failure_is_refused_before_loading(landscape, tmp_path, monkeypatch, no_loading, err):
    """The probe file is the honest check: read-only file systems and full disks fail it too."""
    import gpucircuit.io.outputs as outputs

    _, _, tif, txt = landscape

    def mkstemp(*a, **k):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(outputs.tempfile, "mkstemp", mkstemp)
    out = tmp_path / "new" / "deeper"
    code, msg = run("pairwise", tif, txt, "-o", out)
    assert_one_line_error(code, msg, str(out), os.strerror(err).lower())
    assert not (tmp_path / "new").exists()  # the folders it created are gone again


@pytest.mark.parametrize("as_tif", [True, False])
def test_disk_full_while_writing_is_one_line_and_leaves_nothing(landscape, tmp_path, monkeypatch, as_tif):
    import gpucircuit.io.raster_write as raster

    _, _, tif, txt = landscape

    def full(tmp, *a, **k):
        Path(tmp).write_bytes(b"half a map")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(raster, "_write_geotiff" if as_tif else "_write_ascii", full)
    out = tmp_path / "out"
    ini = write_ini(tmp_path / "job.ini", tif, txt, out / "job.out", write_as_tif=str(as_tif))
    code, msg = run("run", ini)
    name = f"job_cum_curmap.{'tif' if as_tif else 'asc'}"
    assert_one_line_error(code, msg, "cannot write", str(out / name), "no space left on device")
    assert not (out / name).exists() and temporaries(out) == []


def test_gdal_failure_at_the_writer_names_the_file(tmp_path, monkeypatch):
    import gpucircuit.io.raster_write as raster
    from rasterio.errors import RasterioIOError

    from gpucircuit.errors import OutputError

    def broken(*a, **k):
        raise RasterioIOError("Free disk space available is 0 bytes")

    monkeypatch.setattr(raster, "_write_geotiff", broken)
    spec = raster.GridSpec((3, 4), TRANSFORM)
    with pytest.raises(OutputError, match=r"cannot write .*m\.tif: Free disk space"):
        raster.write_raster(tmp_path / "m.tif", np.ones((3, 4)), spec)
    assert list(tmp_path.iterdir()) == []


def test_failed_run_removes_the_folder_it_created_but_not_one_it_found(landscape, tmp_path):
    _, _, tif, _ = landscape
    bad = tmp_path / "bad.txt"
    bad.write_text("1 0 0\n2 0 0\n")  # outside the raster
    code, msg = run("pairwise", tif, bad, "-o", tmp_path / "made" / "here")
    assert code == 1 and "Traceback" not in msg
    assert not (tmp_path / "made").exists()
    found = tmp_path / "found"
    found.mkdir()
    code, _ = run("pairwise", tif, bad, "-o", found)
    assert code == 1 and found.is_dir()


# 2. temporaries are ours to clean --------------------------------------------------------------

def test_interrupt_while_writing_removes_the_temporary(tmp_path, monkeypatch):
    import gpucircuit.io.raster_write as raster

    def rows(data, nodata, compiled=None):  # the header is in the temporary by now
        raise KeyboardInterrupt

    monkeypatch.setattr(raster, "ascii_rows_bytes", rows)
    with pytest.raises(KeyboardInterrupt):
        raster.write_raster(tmp_path / "m.asc", np.ones((3, 3)), raster.GridSpec((3, 3), TRANSFORM))
    assert list(tmp_path.iterdir()) == []


SIGTERM_SCRIPT = """
import sys, time
import numpy as np
from rasterio.transform import from_origin
import gpucircuit.io.raster_write as raster
from gpucircuit._cli.common import errors_as_messages

def rows(data, nodata, compiled=None):  # the header is in the temporary by now
    print("writing", flush=True)
    time.sleep(60)
    return b"1 2 3\\n4 5 6\\n"

raster.ascii_rows_bytes = rows
try:
    with errors_as_messages():
        raster.write_raster(sys.argv[1], np.ones((2, 3)), raster.GridSpec((2, 3), from_origin(0, 2, 1, 1)))
except SystemExit:
    raise
except Exception as exit:  # typer.Exit outside an app: its status becomes the process's
    sys.exit(exit.exit_code)
"""


def test_sigterm_while_writing_removes_the_temporary(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", SIGTERM_SCRIPT, str(tmp_path / "m.asc")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    assert len(temporaries(tmp_path)) == 1  # the half-written temporary is there
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and err.strip() == "terminated", err
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_of_this_job_are_removed(landscape, tmp_path):
    _, _, tif, txt = landscape
    out = tmp_path / "out"
    out.mkdir()
    mine = out / ".job_cum_curmap.asc.k2j3h4.tmp"
    other = out / ".other_cum_curmap.asc.k2j3h4.tmp"
    mine.write_text("left by a killed run")
    other.write_text("another job's")
    code, msg = run("run", write_ini(tmp_path / "job.ini", tif, txt, out / "job.out"))
    assert code == 0, msg
    assert not mine.exists() and other.exists()
    assert (out / "job_cum_curmap.asc").exists()


# 3. memory refused from the header -------------------------------------------------------------

def test_huge_grid_is_refused_from_its_header(landscape, tmp_path, no_loading):
    _, _, _, txt = landscape
    asc = tmp_path / "huge.asc"
    asc.write_text("ncols 100000\nnrows 100000\nxllcorner 0\nyllcorner 0\ncellsize 30\nNODATA_value -9999\n1 2 3\n")
    t0 = time.perf_counter()
    code, msg = run("run", write_ini(tmp_path / "job.ini", asc, txt, tmp_path / "out" / "job.out"))
    assert time.perf_counter() - t0 < 10
    assert_one_line_error(code, msg, str(asc), "10,000,000,000 cells", "bytes", "available", "host memory")
    assert not (tmp_path / "out").exists()


def test_gpu_refusal_compares_device_memory():
    from gpucircuit.memory import HOST_BYTES, check_job_fits, host_need_bytes, need_bytes

    cells = 100_000_000
    plenty = 10 * cells * HOST_BYTES
    check_job_fits(cells, (10_000, 10_000), "r", on_gpu=True, host_free=plenty, device_free=plenty)
    short = int(need_bytes(cells) * 0.9)
    with pytest.raises(SolverError, match=r"GPU memory, .* are available; precision = single"):
        check_job_fits(cells, (10_000, 10_000), "r", on_gpu=True, host_free=plenty, device_free=short)
    # on the CPU the solver's arrays are host arrays too
    with pytest.raises(SolverError, match="host memory"):
        check_job_fits(cells, (10_000, 10_000), "r", host_free=int(host_need_bytes(cells) * 0.9))
    check_job_fits(cells, (10_000, 10_000), "r", host_free=int(host_need_bytes(cells) / 0.9))


def test_host_bytes_cover_what_loading_keeps(tmp_path):
    """HOST_BYTES must cover what loading really allocates (traced), plus two current maps."""
    import tracemalloc

    from gpucircuit.io.config import CircuitscapeConfig
    from gpucircuit.memory import HOST_BYTES
    from gpucircuit.pipeline import load_raster_graph

    n = 300
    res = random_landscape((n, n), seed=3, split=False)
    tif = rasters.write_tif(tmp_path / "r.tif", res, TRANSFORM, "EPSG:32610")
    tracemalloc.start()
    try:
        graph, _ = load_raster_graph(CircuitscapeConfig(habitat_file=tif))
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak / n**2 <= HOST_BYTES and kept / n**2 + 16 <= HOST_BYTES


# 4. non-convergence: -777 and carry on ---------------------------------------------------------

def spoil_second_solve(monkeypatch):
    """From now on the direct solver returns a wrong solution for the second right-hand side of
    each batch; the residual check that catches it is the real one."""
    from gpucircuit.solver.sparse import DirectSolver

    setup = DirectSolver.__init__

    class Spoilt:
        def __init__(self, lu):
            self.lu = lu

        def solve(self, B):
            X = self.lu.solve(B)
            if X.ndim == 2 and X.shape[1] > 1:
                X[:, 1] *= 2.0
            return X

    def spoil(self, *args, **kwargs):
        setup(self, *args, **kwargs)
        self.lu = Spoilt(self.lu)

    monkeypatch.setattr(DirectSolver, "__init__", spoil)


def read_matrix(path):
    rows = [line.split() for line in Path(path).read_text().splitlines()]
    ids = [int(float(v)) for v in rows[0][1:]]
    return ids, np.array([[float(v) for v in r[1:]] for r in rows[1:]])


def test_failed_solve_gives_minus_777_and_the_rest_of_the_job(landscape, tmp_path, monkeypatch):
    """Solves inject at every point but the first (the ground), so the second solve is the third
    point's: its pairs get -777; the other pairs keep the resistances of an unspoilt run, and the
    cumulative map is the sum over those pairs only (the API run on them, before spoiling)."""
    from gpucircuit.io.raster import read_raster

    res, pts, tif, txt = landscape
    ids = sorted(pts)
    keep = np.array([[ids[2] not in (a, b) for b in ids] for a in ids])
    reference = gc.pairwise(res, pts)
    good_only = gc.pairwise(res, pts, include=keep)
    spoil_second_solve(monkeypatch)
    out = tmp_path / "out"
    code, msg = run("run", write_ini(tmp_path / "job.ini", tif, txt, out / "job.out", solver="cholmod"))
    assert code == 1, msg
    got_ids, R = read_matrix(out / "job_resistances.out")
    assert got_ids == ids
    np.testing.assert_allclose(R[keep], reference.resistances[keep], rtol=1e-9)
    assert (R[~keep & ~np.eye(4, dtype=bool)] == -777).all()
    three = (out / "job_resistances_3columns.out").read_text()
    assert three.count(" -777\n") == 3
    cum, _ = read_raster(out / "job_cum_curmap.asc")  # GDAL reads ASCII grids as float32
    np.testing.assert_allclose(np.nan_to_num(cum), good_only.cum_current, rtol=1e-6, atol=1e-12)
    assert not np.allclose(good_only.cum_current, reference.cum_current, rtol=1e-3)  # the check can fail
    warning = [line for line in msg.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "Traceback" not in msg
    for a in ids:
        for b in ids:
            assert (f"{a}_{b} (residual" in warning[0]) == (a < b and ids[2] in (a, b))
    assert "try --solver mg" in warning[0]  # the direct solver failed: the advice names another one


@pytest.mark.parametrize("scenario", ["one-to-all", "all-to-one"])
def test_every_solve_failing_in_point_modes(landscape, tmp_path, monkeypatch, scenario):
    import gpucircuit.solver.residual as system

    _, pts, tif, txt = landscape
    monkeypatch.setattr(system, "RESIDUAL_LIMIT", -1.0)  # no residual passes
    out = tmp_path / "out"
    code, msg = run("run", write_ini(tmp_path / "job.ini", tif, txt, out / "job.out", scenario=scenario,
                                     solver="cg+amg"), "--solver", "mg")
    assert code == 1 and "Traceback" not in msg
    rows = [line.split() for line in (out / "job_resistances.out").read_text().splitlines()]
    assert [int(r[0]) for r in rows] == sorted(pts) and all(float(r[1]) == -777 for r in rows)
    warning = [line for line in msg.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "try --solver direct" in warning[0] and "--solver mg" not in warning[0]


def test_without_keep_going_the_error_names_another_solver(monkeypatch):
    import gpucircuit.solver.residual as system

    monkeypatch.setattr(system, "RESIDUAL_LIMIT", -1.0)
    res = random_landscape((12, 12), seed=5, split=False)
    pts = pick_points(res, 3, seed=6)
    for solver, advice in (("direct", "--solver mg"), ("mg", "--solver direct"), ("amg", "--solver direct")):
        with pytest.raises(SolverError) as err:
            gc.pairwise(res, pts, solver=solver)
        assert f"the {solver} solver did not converge" in str(err.value) and advice in str(err.value)


# 5. at least two focal points ------------------------------------------------------------------

@pytest.mark.parametrize("scenario", ["pairwise", "one-to-all", "all-to-one"])
def test_one_focal_point_everywhere(landscape, tmp_path, scenario):
    res, pts, tif, _ = landscape
    one = rasters.write_points(tmp_path / "one.txt", {1: pts[1]}, TRANSFORM)
    out = tmp_path / "out"
    ini = write_ini(tmp_path / "job.ini", tif, one, out / "job.out", scenario=scenario)
    assert_one_line_error(*run("run", ini), f"1 focal point found in {one}; {scenario} needs at least two")
    assert_one_line_error(*run(scenario, tif, one, "-o", tmp_path / "native"),
                          f"1 focal point found in {one}; {scenario} needs at least two")
    assert not out.exists() and not (tmp_path / "native").exists()
    fn = {"pairwise": gc.pairwise, "one-to-all": gc.one_to_all, "all-to-one": gc.all_to_one}[scenario]
    with pytest.raises(InputError, match=f"1 focal point given; {scenario} needs at least two"):
        fn(res, {1: pts[1]})


def test_include_file_leaving_one_point_is_an_error(landscape, tmp_path):
    _, pts, tif, txt = landscape
    inc = tmp_path / "include.txt"
    inc.write_text(f"mode include\n{min(pts)} {min(pts)}\n")
    code, msg = run("pairwise", tif, txt, "-o", tmp_path / "out", "--include", inc)
    assert_one_line_error(code, msg, f"1 focal point found in {txt} (kept by {inc}); pairwise needs at least two")


class InlineClient:
    """A dask client stand-in that runs each share at once, in order (two workers)."""

    def scheduler_info(self):
        return {"workers": {"a": {}, "b": {}}}

    def scatter(self, value, broadcast=False):
        return value

    def submit(self, fn, *args, pure=True):
        return fn(*args)

    def gather(self, futures):
        return futures


def test_failures_in_distributed_shares_keep_their_global_index(monkeypatch):
    """Four right-hand sides split 2 + 2 over two workers; the second of each share is spoilt, so
    global indices 1 and 3 fail, and the good solutions equal an unspoilt solve."""
    from reference import grounded_component

    clean, _, cells = grounded_component((14, 14), seed=7, method="direct")
    want = clean.solve_units(cells[1:5])
    spoil_second_solve(monkeypatch)
    system, _, _ = grounded_component((14, 14), seed=7, method="direct", keep_going=True, client=InlineClient())
    got = system.solve_units(cells[1:5])
    assert sorted(system.stats.failed) == [1, 3] and min(system.stats.failed.values()) > 1e-4
    np.testing.assert_allclose(got[[0, 2]], want[[0, 2]], rtol=1e-12, atol=1e-15)


RADII = ["--radius-start", "100", "--radius-end", "200", "--radius-step", "100"]


@pytest.mark.parametrize("command,extra", [("corridors", []), ("pinchpoints", ["--cutoff", "1000"]),
                                           ("barriers", RADII), ("centrality", []),
                                           ("linkage", ["--cutoff", "1000"])])
def test_linkage_commands_check_their_output_folder_first(tmp_path, monkeypatch, command, extra):
    # the inputs do not exist: an error about the folder shows it was checked before any reading
    out = tmp_path / "locked"
    out.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: (Path(p) != out or not mode & os.W_OK)
                        and real_access(p, mode, **k))
    args = [command, tmp_path / "missing.tif", tmp_path / "missing.shp", "-o", out, *extra]
    assert_one_line_error(*run(*args), "output folder", str(out), "not writable")


def test_failed_linkage_command_removes_the_folder_it_created(tmp_path):
    out = tmp_path / "new" / "lm"
    code, _ = run("corridors", tmp_path / "missing.tif", tmp_path / "missing.shp", "-o", out)
    assert code == 1 and not (tmp_path / "new").exists()
