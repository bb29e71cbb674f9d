"""Bad input: a one-line message naming what and where, exit status 1, nothing half-written."""
import numpy as np
import pytest
from rasterio.transform import from_origin
from typer.testing import CliRunner

import rasters
from gpucircuit._cli.main import app
from cli_runner import assert_one_line_error, run


def write_tif(path, data, transform=from_origin(0, 100, 10, 10)):
    # NaN cells stay NaN (not nodata): the NaN-resistance error is part of what is tested
    return rasters.write_tif(path, data, transform, "EPSG:3857", nan_as_nodata=False)


@pytest.fixture
def habitat(tmp_path):
    return write_tif(tmp_path / "res.tif", np.ones((10, 10)))


@pytest.fixture
def points(tmp_path):
    p = tmp_path / "pts.txt"
    p.write_text("1 5 95\n2 95 5\n")
    return p


def test_success_for_reference(habitat, points, tmp_path):
    code, out = run("pairwise", habitat, points, "-o", tmp_path / "ok")
    assert code == 0, out
    assert (tmp_path / "ok" / "pairwise_resistances.csv").exists()


def test_missing_file(points, tmp_path):
    code, out = run("pairwise", tmp_path / "nope.tif", points, "-o", tmp_path / "o")
    assert_one_line_error(code, out, "not found", "nope.tif")


@pytest.mark.parametrize("value,word", [(0.0, "zero"), (-3.0, "negative")])
def test_bad_resistance_values(tmp_path, points, value, word):
    data = np.ones((10, 10))
    data[4, 7] = value
    code, out = run("pairwise", write_tif(tmp_path / "r.tif", data), points, "-o", tmp_path / "o")
    assert_one_line_error(code, out, word, "row 4, column 7")


def test_nan_resistance_not_declared_nodata(tmp_path, points):
    data = np.ones((10, 10))
    data[2, 3] = np.nan
    code, out = run("pairwise", write_tif(tmp_path / "r.tif", data), points, "-o", tmp_path / "o")
    assert_one_line_error(code, out, "NaN", "row 2, column 3")


def test_point_outside_raster(habitat, tmp_path):
    pts = tmp_path / "p.txt"
    pts.write_text("1 5 95\n2 500 5\n")
    code, out = run("pairwise", habitat, pts, "-o", tmp_path / "o")
    assert_one_line_error(code, out, "point 2", "outside")


def test_point_on_nodata(tmp_path, points):
    data = np.ones((10, 10))
    data[0, 0] = -9999.0
    code, out = run("pairwise", write_tif(tmp_path / "r.tif", data), points, "-o", tmp_path / "o")
    assert_one_line_error(code, out, "focal point 1", "nodata")


def test_mismatched_raster_shape(habitat, tmp_path):
    pts = write_tif(tmp_path / "pts.tif", np.zeros((8, 10)))
    code, out = run("pairwise", habitat, pts, "-o", tmp_path / "o")
    assert_one_line_error(code, out, "8 rows x 10 columns")


def test_mismatched_georeferencing(habitat, tmp_path):
    p = np.zeros((10, 10))
    p[1, 1], p[8, 8] = 1, 2
    pts = write_tif(tmp_path / "pts.tif", p, transform=from_origin(50, 100, 10, 10))
    code, out = run("pairwise", habitat, pts, "-o", tmp_path / "o")
    assert_one_line_error(code, out, "not aligned")


def test_unknown_scenario(tmp_path, habitat):
    ini = tmp_path / "job.ini"
    ini.write_text(f"[Circuitscape mode]\ndata_type = raster\nscenario = sideways\nhabitat_file = {habitat}\n")
    code, out = run("run", ini)
    assert_one_line_error(code, out, "unknown scenario", "sideways")


def test_empty_include_file(habitat, points, tmp_path):
    inc = tmp_path / "include.txt"
    inc.write_text("")
    code, out = run("pairwise", habitat, points, "-o", tmp_path / "o", "--include", inc)
    assert_one_line_error(code, out, "included pairs file", "empty")
    assert not (tmp_path / "o" / "pairwise_resistances.out").exists()


def test_include_file_selecting_nothing(habitat, points, tmp_path):
    inc = tmp_path / "include.txt"
    inc.write_text("mode include\n7 8\n")
    code, out = run("pairwise", habitat, points, "-o", tmp_path / "o", "--include", inc)
    assert_one_line_error(code, out, "selects no pair")


def test_unknown_backend(habitat, points, tmp_path):
    code, out = run_raw("--backend", "tpu", "pairwise", habitat, points, "-o", tmp_path / "o")
    assert_one_line_error(code, out, "unknown backend")


def run_raw(*args):
    result = CliRunner().invoke(app, list(map(str, args)))
    return result.exit_code, result.output.strip()


def test_gpu_backend_requested_without_device(habitat, points, tmp_path):
    pytest.importorskip("numpy")
    from gpucircuit.backend import _cupy_backend

    if _cupy_backend() is not None:
        pytest.skip("a GPU is present")
    code, out = run_raw("--backend", "gpu", "pairwise", habitat, points, "-o", tmp_path / "o")
    assert_one_line_error(code, out, "not available")


def test_nonconvergence_is_reported(monkeypatch):
    import gpucircuit as gc
    from gpucircuit.errors import SolverError
    from gpucircuit.solver import residual

    monkeypatch.setattr(residual, "RESIDUAL_LIMIT", 1e-30)
    res = np.ones((30, 30))
    with pytest.raises(SolverError, match="did not converge"):
        gc.pairwise(res, {1: [(0, 0)], 2: [(29, 29)]}, solver="amg")
