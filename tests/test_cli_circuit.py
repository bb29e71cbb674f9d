"""The native circuit commands end to end: files, georeferencing, and values equal to the array API."""
import csv

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from typer.testing import CliRunner

import gpucircuit as gc
from gpucircuit._cli.main import app
import rasters
from reference import pick_points, random_landscape

TRANSFORM = from_origin(500000.0, 4100000.0, 30.0, 30.0)


def write_tif(path, data, nodata=-9999.0):
    return rasters.write_tif(path, data, TRANSFORM, "EPSG:32610", nodata)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("circuit")
    res = random_landscape((18, 22), seed=21, split=False)
    pts = pick_points(res, 4, seed=22)
    rasters.write_points(tmp / "pts.txt", pts, TRANSFORM)
    return res, pts, write_tif(tmp / "res.tif", res), tmp / "pts.txt", tmp


def invoke(*args):
    result = CliRunner().invoke(app, ["--backend", "cpu", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.output


def read(path):
    with rasterio.open(path) as ds:
        return ds.read(1, masked=True).filled(np.nan), ds.crs, ds.transform


@pytest.mark.parametrize("command,fn", [("pairwise", gc.pairwise), ("one-to-all", gc.one_to_all),
                                        ("all-to-one", gc.all_to_one)])
def test_focal_commands(inputs, command, fn, tmp_path):
    res, pts, tif, txt, _ = inputs
    invoke(command, tif, txt, "-o", tmp_path, "--pair-maps")
    prefix = tmp_path / command.replace("-", "_")
    expect = fn(res, pts)
    cum, crs, transform = read(f"{prefix}_cum_curmap.tif")
    assert crs.to_epsg() == 32610 and transform == TRANSFORM
    np.testing.assert_allclose(np.nan_to_num(cum), expect.cum_current, rtol=1e-6, atol=1e-12)
    rows = list(csv.DictReader(open(f"{prefix}_resistances.csv")))
    if command == "pairwise":
        ids = sorted(pts)
        got = {(int(r["from"]), int(r["to"])): float(r["resistance"]) for r in rows}
        assert len(got) == len(ids) * (len(ids) - 1) // 2
        for (a, b), v in got.items():
            assert v == pytest.approx(expect.resistances[ids.index(a), ids.index(b)], rel=1e-8)
        assert (tmp_path / f"{prefix.name}_curmap_{ids[0]}_{ids[1]}.tif").exists()
    else:
        assert [float(r["resistance"]) for r in rows] == pytest.approx(list(expect.resistances), rel=1e-8)
    assert (tmp_path / f"{prefix.name}_cum_curmap.png").exists()


def test_advanced_command(inputs, tmp_path):
    res, pts, tif, _, tmp = inputs
    (r1, c1), = pts[1]
    (r2, c2), = pts[2]
    src = np.zeros(res.shape)
    src[r1, c1] = 2.0
    gnd = np.full(res.shape, np.nan)
    gnd[r2, c2] = 0.0  # resistance 0 to ground: a direct ground
    invoke("advanced", tif, write_tif(tmp / "src.tif", src), write_tif(tmp / "gnd.tif", gnd), "-o", tmp_path)
    volts, crs, _ = read(tmp_path / "advanced_voltmap.tif")
    direct = np.zeros(res.shape, bool)
    direct[r2, c2] = True
    expect = gc.advanced(res, src, np.zeros(res.shape), direct_grounds=direct)
    np.testing.assert_allclose(np.nan_to_num(volts), expect.voltages, rtol=1e-6, atol=1e-12)
    assert volts[r2, c2] == 0 and volts[r1, c1] > 0 and crs.to_epsg() == 32610
