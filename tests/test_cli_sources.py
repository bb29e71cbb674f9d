"""CLI: ``mspa`` then ``sources`` on a small land cover written here, and the sources used by ``corridors``."""
import csv

import numpy as np
import pytest
import rasterio
import typer
from affine import Affine
from typer.testing import CliRunner

from gpucircuit._cli import corridors as corridors_cli
from gpucircuit._cli import mspa as mspa_cli
from gpucircuit._cli import sources as sources_cli
from gpucircuit.analysis import mspa as M
from gpucircuit.analysis.conefor import conefor_indices
from gpucircuit.analysis.sources import euclidean_edge_distances

CELL = 30.0


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    for mod in (mspa_cli, sources_cli, corridors_cli):
        mod.register(app)
    return app


def invoke(app, args):
    return CliRunner().invoke(app, [str(a) for a in args])


def write_tif(path, data, nodata=-9999.0, dtype="float32"):
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1], count=1, dtype=dtype,
                       crs="EPSG:32633", transform=Affine(CELL, 0, 500000.0, 0, -CELL, 4000000.0),
                       nodata=nodata) as ds:
        ds.write(data.astype(dtype), 1)
    return path


@pytest.fixture()
def landcover(tmp_path):
    rng = np.random.default_rng(5)
    m, n = 60, 80
    forest = np.kron(rng.random((m // 6 + 1, n // 6 + 1)) > 0.6, np.ones((6, 6), bool))[:m, :n]
    lc = np.where(forest, np.where(rng.random((m, n)) < 0.5, 41, 42), 82).astype(np.float32)
    lc[rng.random((m, n)) < 0.04] = 21
    lc[(rng.random((m, n)) < 0.01) & ~forest] = 41                         # small woods for --min-area
    lc[:2, :10] = -9999.0
    return write_tif(tmp_path / "lc.tif", lc), lc


def one_error_line(res, pattern):
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and pattern in lines[0], res.output


def test_mspa_command(app, landcover, tmp_path):
    path, lc = landcover
    out = tmp_path / "m"
    res = invoke(app, ["mspa", path, "-o", out, "--foreground", "41-42", "--edge-width", 2])
    assert res.exit_code == 0, res.output
    with rasterio.open(out / "mspa.tif") as ds:
        classes = ds.read(1)
        assert ds.dtypes[0] == "uint8" and ds.crs == "EPSG:32633" and ds.colormap(1)[17][:3] == M.COLOURS[17]
    want = M.mspa(np.isin(lc, [41, 42]), lc == -9999.0, edge_width=2)
    assert np.array_equal(classes, want)
    assert np.all(classes[:2, :10] == M.MISSING)
    rows = list(csv.DictReader((out / "mspa_stats.csv").open()))
    assert [r["class"] for r in rows] == [name for name, _ in M.CLASSES]
    assert sum(int(r["pixels"]) for r in rows) == np.isin(lc, [41, 42]).sum()
    core = next(r for r in rows if r["class"] == "core")
    assert float(core["area_km2"]) == pytest.approx(np.count_nonzero(classes == 17) * CELL**2 / 1e6, rel=1e-6)
    assert (out / "mspa.png").stat().st_size > 1000
    res = invoke(app, ["mspa", path, "-o", tmp_path / "i", "--foreground", "41-42", "--int-ext"])
    assert res.exit_code == 0, res.output
    with rasterio.open(tmp_path / "i" / "mspa.tif") as ds:
        internal = ds.read(1)
    assert np.array_equal(internal, M.mspa(np.isin(lc, [41, 42]), lc == -9999.0, int_ext=True))
    assert np.any((internal > 100) & (internal < 129)) and np.any(internal == M.INTERNAL)
    external = M.mspa(np.isin(lc, [41, 42]), lc == -9999.0)
    pixels = [int(r["pixels"]) for r in csv.DictReader((tmp_path / "i" / "mspa_stats.csv").open())]
    assert pixels == [np.count_nonzero(external == code) for _, code in M.CLASSES]     # 1xx counted with xx


def test_mspa_then_sources_then_corridors(app, landcover, tmp_path):
    path, lc = landcover
    m = tmp_path / "m"
    assert invoke(app, ["mspa", path, "-o", m, "--foreground", "41,42"]).exit_code == 0
    s = tmp_path / "s"
    res = invoke(app, ["sources", m / "mspa.tif", "-o", s, "--top", 3, "--distance", 1500, "--probability", 0.5,
                       "--sweep", "500:3000:500"])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader((s / "patches.csv").open()))
    assert len(rows) >= 5
    with rasterio.open(m / "mspa.tif") as ds:
        core = ds.read(1) == M.CORE
    from scipy import ndimage
    lab, n = ndimage.label(core, structure=np.ones((3, 3)))
    assert len(rows) == n
    # the table's indices follow from the patches' own areas and distances
    areas = np.array([float(r["area_km2"]) for r in rows])
    assert sorted(areas) == pytest.approx(sorted(np.bincount(lab.ravel())[1:] * CELL**2 / 1e6))
    with rasterio.open(s / "sources.tif") as ds:
        ids = ds.read(1, masked=True)
    selected = [int(r["id"]) for r in rows if r["selected"] == "1"]
    assert len(selected) == 3 and set(np.unique(ids.compressed())) - {0} == set(selected)
    dpc = np.array([float(r["dPC"]) for r in rows])
    assert set(np.argsort(-dpc, kind="stable")[:3] + 1) == set(selected)
    fractions = sum(np.array([float(r[k]) for r in rows]) for k in ("dPC_intra", "dPC_flux", "dPC_connector"))
    assert np.allclose(fractions, dpc, rtol=1e-4, atol=1e-5)
    sweep = list(csv.DictReader((s / "sweep.csv").open()))
    assert [float(r["distance"]) for r in sweep] == [500, 1000, 1500, 2000, 2500, 3000]
    assert all(int(a["nc"]) >= int(b["nc"]) for a, b in zip(sweep, sweep[1:])) and (s / "sweep.png").exists()
    import pyogrio
    info = pyogrio.read_info(s / "sources.gpkg")
    assert info["features"] == 3 and "dPC" in list(info["fields"])
    # the sources feed Linkage Pathways as cores
    res_tif = write_tif(tmp_path / "res.tif", np.where(np.isin(lc, [41, 42]), 1.0, 10.0))
    res = invoke(app, ["corridors", res_tif, s / "sources.tif", "-o", tmp_path / "lk"])
    assert res.exit_code == 0, res.output
    assert "3 cores" in res.output


def test_sources_indices_match_direct_computation(app, landcover, tmp_path):
    path, lc = landcover
    s = tmp_path / "s"
    res = invoke(app, ["sources", path, "-o", s, "--classes", "41,42", "--min-area", 0.01, "--dpc-min", 2])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader((s / "patches.csv").open()))
    from scipy import ndimage
    lab, n = ndimage.label(np.isin(lc, [41, 42]), structure=np.ones((3, 3)))
    big = [k for k in range(1, n + 1) if np.count_nonzero(lab == k) * CELL**2 / 1e6 >= 0.01]
    assert len(rows) == len(big) < n
    keep = np.zeros(n + 1, int)
    keep[big] = np.arange(1, len(big) + 1)
    labels = keep[lab]
    areas = np.bincount(labels.ravel())[1:] * CELL**2 / 1e6
    d = euclidean_edge_distances(labels, len(big), CELL)
    want = conefor_indices(areas, d, 5000, 0.5, np.isfinite(np.where(lc == -9999, np.nan, lc)).sum() * CELL**2 / 1e6)
    assert np.allclose([float(r["dPC"]) for r in rows], want.pc.dpc, rtol=1e-5)
    assert np.allclose([float(r["dIIC"]) for r in rows], want.diic, rtol=1e-5)
    assert [r["selected"] == "1" for r in rows] == list(want.pc.dpc >= 2)


def test_score_sources(app, landcover, tmp_path):
    path, lc = landcover
    score = np.zeros(lc.shape, dtype=np.float32)
    score[10:20, 10:20] = 5.0
    score[40:45, 50:70] = 4.0
    score_tif = write_tif(tmp_path / "es.tif", score)
    share = 100.0 * (100 + 100) / np.count_nonzero(lc != -9999)
    res = invoke(app, ["sources", path, "-o", tmp_path / "s", "--binary", "--score", score_tif, "--top-percent", share])
    assert res.exit_code == 0, res.output
    with rasterio.open(tmp_path / "s" / "sources.tif") as ds:
        ids = ds.read(1)
    assert np.array_equal(ids > 0, score > 0) and len(np.unique(ids[ids > 0])) == 2


def test_errors_are_one_line(app, landcover, tmp_path):
    path, _ = landcover
    x = tmp_path / "x"
    m = tmp_path / "m"
    assert invoke(app, ["mspa", path, "-o", m, "--foreground", "41,42"]).exit_code == 0
    for args, pattern in [
        (["mspa", path, "-o", x, "--foreground", "forest"], "--foreground"),
        (["mspa", path, "-o", x, "--foreground", "99"], "no cell"),
        (["mspa", path, "-o", x, "--foreground", "41", "--connectivity", 6], "--connectivity"),
        (["sources", path, "-o", x], "not an MSPA code"),
        (["sources", m / "mspa.tif", "-o", x, "--top", 2, "--dpc-min", 1], "one selection rule"),
        (["sources", m / "mspa.tif", "-o", x, "--sweep", "5:1:1"], "--sweep"),
        (["sources", m / "mspa.tif", "-o", x, "--min-area", 1000], "below the minimum area"),
        (["sources", m / "mspa.tif", "-o", x, "--score", path], "--top-percent"),
        (["sources", m / "mspa.tif", "-o", x, "--probability", 1.5], "probability"),
    ]:
        one_error_line(invoke(app, args), pattern)
    assert not x.exists()


def test_geographic_crs(app, tmp_path):
    lc = np.full((20, 20), 82.0, dtype=np.float32)
    lc[3:15, 3:15] = 41
    with rasterio.open(tmp_path / "geo.tif", "w", driver="GTiff", height=20, width=20, count=1, dtype="float32",
                       crs="EPSG:4326", transform=Affine(0.001, 0, 10.0, 0, -0.001, 45.0)) as ds:
        ds.write(lc, 1)
    res = invoke(app, ["mspa", tmp_path / "geo.tif", "-o", tmp_path / "m", "--foreground", 41])
    assert res.exit_code == 0 and "warning:" in res.output and "geographic CRS" in res.output, res.output
    one_error_line(invoke(app, ["sources", tmp_path / "m" / "mspa.tif", "-o", tmp_path / "s"]), "geographic CRS")
