"""CLI: ``pinchpoints``, ``centrality`` and the whole ``linkage`` chain (demo data and small rasters)."""
import csv
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
import typer
from affine import Affine
from typer.testing import CliRunner

from gpucircuit._cli import centrality as centrality_cli
from gpucircuit._cli import corridors as corridors_cli
from gpucircuit._cli import linkage as linkage_cli
from gpucircuit._cli import pinchpoints as pinchpoints_cli

from shared_data import DEMO  # noqa: E402


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    for mod in (corridors_cli, pinchpoints_cli, centrality_cli, linkage_cli):
        mod.register(app)
    return app


def invoke(app, args):
    return CliRunner().invoke(app, [str(a) for a in args])


def rows_of(path):
    return list(csv.DictReader(Path(path).open()))


def write_tif(path, data, nodata=-9999.0, dtype="float32"):
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1], count=1, dtype=dtype,
                       crs="EPSG:32633", transform=Affine(30.0, 0, 500000.0, 0, -30.0, 4000000.0),
                       nodata=nodata) as ds:
        ds.write(data.astype(dtype), 1)
    return path


@pytest.fixture()
def small(tmp_path):
    rng = np.random.default_rng(0)
    r = rng.uniform(1, 10, (30, 40))
    r[14:16, 5:35] = 200.0
    r[0, 0] = -9999.0
    labels = np.zeros(r.shape, dtype=np.int32)
    labels[2:5, 3:7], labels[25:28, 4:8], labels[3:6, 30:34] = 1, 2, 3
    return write_tif(tmp_path / "res.tif", r), write_tif(tmp_path / "cores.tif", labels, nodata=0, dtype="int32")


def test_demo_linkage_chain(app, tmp_path):
    out = tmp_path / "out"
    res = invoke(app, ["linkage", DEMO / "lm_resistances.tif", DEMO / "lm_cores.shp", "-o", out,
                       "--core-field", "core_id", "--max-cwd", 100000, "--max-euclid", 40000, "--knn", 4,
                       "--connect-constellations", "--drop-crossing", "--cwd-threshold", 200000,
                       "--cutoff", 5000, "--adjacent", "--all-to-one",
                       "--radius-start", 400, "--radius-end", 1200, "--radius-step", 400, "--sum"])
    assert res.exit_code == 0, res.output
    assert "linkage:" in res.output and "centrality" in res.output
    tifs = ["corridors.tif", "pinchpoints_adjacent_cutoff5000.tif", "pinchpoints_all_to_one_cutoff5000.tif",
            "barriers_max.tif", "barriers_sum.tif", "barriers_max_circles.tif", "core_centrality.tif"]
    tifs += [f"barriers_max_r{r}.tif" for r in (400, 800, 1200)]
    pngs = ["corridors.png", "pinchpoints_adjacent_cutoff5000.png", "pinchpoints_all_to_one_cutoff5000.png",
            "barriers_max.png", "core_centrality.png"]
    for name in tifs + pngs + ["link_table.csv", "core_centrality.csv", "least_cost_paths.gpkg"]:
        assert (out / name).is_file(), name
    with rasterio.open(DEMO / "lm_resistances.tif") as src:
        crs, transform, shape = src.crs, src.transform, src.shape
    for name in tifs:
        with rasterio.open(out / name) as ds:
            assert ds.crs == crs and ds.transform.almost_equals(transform) and ds.shape == shape, name

    rows = rows_of(out / "link_table.csv")
    for col in ("link_id", "core_a", "core_b", "status", "cwd", "eff_resist", "cwd_to_eff_resist", "centrality"):
        assert col in rows[0], col
    active = [row for row in rows if row["status"] == "active"]
    assert len(rows) == 10 and len(active) == 8
    for row in rows:
        if row["status"] == "active":
            er, ratio, cent = float(row["eff_resist"]), float(row["cwd_to_eff_resist"]), float(row["centrality"])
            assert math.isfinite(er) and er > 0 and cent > 0
            assert ratio == pytest.approx(float(row["cwd"]) / er, rel=1e-5)
            # a corridor of parallel paths conducts better than its least-cost path alone
            assert er < float(row["cwd"])
        else:
            assert row["eff_resist"] == row["centrality"] == ""
    cores = rows_of(out / "core_centrality.csv")
    assert [int(c["core_id"]) for c in cores] == [1, 2, 3, 4, 5, 6]
    assert all(float(c["centrality"]) > 0 for c in cores)
    # every core is in some pair with each of the other five: node current is at least 5 A
    assert all(float(c["centrality"]) >= 5 - 1e-9 for c in cores)

    with rasterio.open(out / "pinchpoints_all_to_one_cutoff5000.tif") as ds:
        cum = ds.read(1, masked=True)
    with rasterio.open(out / "corridors.tif") as ds:
        corr = ds.read(1, masked=True)
    assert 0 < cum.count() < corr.count()  # narrower than the 200,000 corridors
    assert np.all(np.isfinite(cum.compressed())) and cum.min() >= 0 and cum.max() > 0
    with rasterio.open(out / "pinchpoints_adjacent_cutoff5000.tif") as ds:
        adj = ds.read(1, masked=True)
    # each link's cores are nodata (Pinchpoint Mapper), so the 1 A core cells are gone: the
    # corridor cells carry at most the link's 1 A
    assert adj.count() > 0 and adj.min() >= 0 and 0 < adj.max() <= 1 + 1e-9
    with rasterio.open(out / "core_centrality.tif") as ds:
        core = ds.read_masks(1) > 0  # core cells: those with a centrality
    assert core.sum() > 0
    # the all-to-one map has every core cell as nodata (its '_noDataCores' map)
    assert np.ma.getmaskarray(cum)[core].all()
    # a core cell keeps adjacent-pairs current only from a link it is not a core of: never 1 A
    assert not np.any(adj.filled(0)[core] >= 1 - 1e-9)


def test_small_pinchpoints_then_centrality(app, small, tmp_path):
    res_tif, cores_tif = small
    out = tmp_path / "o"
    # no link table yet: corridors are computed and written too
    res = invoke(app, ["pinchpoints", res_tif, cores_tif, "-o", out, "--cutoff", 300, "--pairwise", "--squared"])
    assert res.exit_code == 0, res.output
    for name in ("link_table.csv", "corridors.tif", "pinchpoints_adjacent_squared_cutoff300.tif",
                 "pinchpoints_pairwise_squared_cutoff300.tif", "pinchpoints_pairwise_squared_cutoff300_resistances.csv",
                 "pinchpoints_pairwise_squared_cutoff300.png"):
        assert (out / name).is_file(), name
    with rasterio.open(out / "pinchpoints_pairwise_squared_cutoff300.tif") as ds:
        cum = ds.read(1, masked=True)
    with rasterio.open(cores_tif) as ds:
        core = ds.read(1) > 0
    # every core cell is nodata in the all-pairs map; the corridors between them carry current
    assert np.ma.getmaskarray(cum)[core].all() and cum.count() > 0 and cum.max() > 0
    pairs = rows_of(out / "pinchpoints_pairwise_squared_cutoff300_resistances.csv")
    assert len(pairs) == 3 and all(float(p["resistance"]) > 0 for p in pairs)
    rows = rows_of(out / "link_table.csv")
    active = [row for row in rows if row["status"] == "active"]
    assert active and all(float(row["eff_resist"]) > 0 and row["cwd_to_eff_resist"] == "" for row in active)

    # rerun without --squared: reuses the link table, replaces the columns
    res = invoke(app, ["pinchpoints", res_tif, cores_tif, "-o", out, "--cutoff", 300, "--no-all-pairs"])
    assert res.exit_code == 0, res.output
    rows2 = rows_of(out / "link_table.csv")
    assert list(rows2[0]) == list(rows[0])
    for a, b in zip(rows, rows2):
        if a["status"] == "active":
            assert float(b["eff_resist"]) < float(a["eff_resist"])  # r < r^2 where r > 1
            assert float(b["cwd_to_eff_resist"]) > 0

    # centrality from the link table alone, weighted by effective resistance
    res = invoke(app, ["centrality", "-o", out, "--weight", "eff-resist"])
    assert res.exit_code == 0, res.output
    rows3 = rows_of(out / "link_table.csv")
    assert "centrality" in rows3[0] and "eff_resist" in rows3[0]
    assert all(float(row["centrality"]) > 0 for row in rows3 if row["status"] == "active")
    cores = rows_of(out / "core_centrality.csv")
    assert [c["core_id"] for c in cores] == ["1", "2", "3"]
    # with the rasters: the core centrality raster too
    res = invoke(app, ["centrality", res_tif, cores_tif, "-o", out])
    assert res.exit_code == 0, res.output
    with rasterio.open(out / "core_centrality.tif") as ds:
        grid = ds.read(1, masked=True)
        assert ds.crs.to_epsg() == 32633
    assert grid.count() == 36 and grid.min() > 0


def test_centrality_without_link_table_computes_corridors(app, small, tmp_path):
    res_tif, cores_tif = small
    out = tmp_path / "c"
    res = invoke(app, ["centrality", res_tif, cores_tif, "-o", out])
    assert res.exit_code == 0, res.output
    assert (out / "corridors.tif").is_file() and (out / "core_centrality.csv").is_file()


@pytest.mark.parametrize("args, message", [
    (["pinchpoints", "{r}", "{c}", "-o", "{o}", "--cutoff", -5], "cutoff"),
    (["pinchpoints", "{r}", "{c}", "-o", "{o}", "--cutoff", 300, "--no-adjacent", "--no-all-pairs"], "nothing"),
    (["pinchpoints", "{r}", "{c}", "-o", "{o}", "--cutoff", 300, "--solver", "cholmod"], "--solver"),
    (["centrality", "-o", "{o}"], "no link table"),
    (["centrality", "{r}", "-o", "{o}"], "both"),
    (["centrality", "{r}", "{c}", "-o", "{o}", "--weight", "eff-resist"], "pinchpoints"),
    (["linkage", "{r}", "{c}", "-o", "{o}", "--cutoff", 300, "--radius-start", 30], "radius"),
    (["linkage", "{r}", "{c}", "-o", "{o}", "--cutoff", 300, "--weight", "length"], "--weight"),
    (["linkage", "{r}", "missing.shp", "-o", "{o}", "--cutoff", 300], "not found"),
])
def test_errors_are_one_line(app, small, tmp_path, args, message):
    res_tif, cores_tif = small
    sub = {"{r}": res_tif, "{c}": cores_tif, "{o}": tmp_path / "e"}
    res = invoke(app, [sub.get(a, a) if isinstance(a, str) else a for a in args])
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], res.output


def test_small_linkage_without_barriers(app, small, tmp_path):
    res_tif, cores_tif = small
    out = tmp_path / "l"
    res = invoke(app, ["linkage", res_tif, cores_tif, "-o", out, "--cutoff", 300, "--weight", "eff-resist"])
    assert res.exit_code == 0, res.output
    assert "skipped" in res.output
    assert not list(out.glob("barriers_*"))
    rows = rows_of(out / "link_table.csv")
    assert all(float(row["centrality"]) > 0 for row in rows if row["status"] == "active")


def test_small_linkage_raw_scores(app, small, tmp_path):
    res_tif, cores_tif = small
    out = tmp_path / "l"
    res = invoke(app, ["linkage", res_tif, cores_tif, "-o", out, "--cutoff", 300, "--radius-start", 30,
                       "--radius-end", 30, "--radius-step", 30, "--raw-scores"])
    assert res.exit_code == 0, res.output
    with rasterio.open(out / "barriers_max_raw.tif") as ds:
        raw = ds.read(1, masked=True).astype(float).filled(np.nan)
    with rasterio.open(out / "barriers_max.tif") as ds:
        pub = ds.read(1, masked=True).astype(float).filled(np.nan)
    assert np.nanmin(raw) < 0 <= np.nanmax(raw)
    np.testing.assert_array_equal(pub, np.where(raw >= 0, raw, np.nan))
