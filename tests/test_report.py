"""``gpucircuit report``: the assembly in gpucircuit.analysis.report and the command end to end (demo)."""
import csv
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from typer.testing import CliRunner

from gpucircuit.analysis import report as rp
from gpucircuit.io.csv_table import rows_to_csv
from gpucircuit.io.report_render import summary_html, summary_markdown
from gpucircuit.analysis.corridors import Link
from gpucircuit.errors import InputError

from shared_data import DEMO  # noqa: E402


def rows_of(path):
    return list(csv.DictReader(Path(path).open()))


# --------------------------------------------------------------------------- pure functions

def pinch_map():
    """Corridor values 1..4, a top class of value 100 in two 8-connected patches, a core of 1000."""
    v = np.full((12, 14), np.nan)
    v[:, :] = 1.0
    v[0, :] = 2.0
    v[11, :] = 3.0
    v[:, 13] = 4.0
    v[1:3, 1:3] = 100.0          # patch A: 2 x 2 ...
    v[3, 3] = 100.0              # ... plus a cell touching it only diagonally (8-connected: same patch)
    v[6, 5:8] = 100.0            # patch B: 1 x 3
    v[9:11, 9:11] = 1000.0       # a core (excluded from the classes)
    v[5, 0] = np.nan             # outside the corridors
    core = np.zeros(v.shape, dtype=np.int64)
    core[9:11, 9:11] = 7
    return v, core


def test_class_patches_top_class_known_by_construction():
    v, core = pinch_map()
    cp = rp.class_patches(v, 5, "jenks", cellsize=(30.0, 30.0), include=core <= 0, value_name="current",
                          transform=Affine(30.0, 0, 1000.0, 0, -30.0, 5000.0))
    assert cp.top == 5 and cp.n == 2
    assert np.array_equal(cp.mask, (v == 100.0))
    assert np.all(cp.classes[core > 0] == 0) and cp.classes[5, 0] == 0
    sizes = sorted(r["cells"] for r in cp.patches)
    assert sizes == [3, 5]
    for r in cp.patches:
        assert r["area_km2"] == pytest.approx(r["cells"] * 900 / 1e6)
        assert r["mean_current"] == r["max_current"] == 100.0
    b = next(r for r in cp.patches if r["cells"] == 3)
    assert b["max_length_km"] == pytest.approx(0.06)
    assert (b["centroid_x"], b["centroid_y"]) == pytest.approx((1000 + 6.5 * 30, 5000 - 6.5 * 30))
    assert cp.area_km2 == pytest.approx(8 * 900 / 1e6)
    # breaks table: every classified cell counted once, top row = the patches
    assert sum(r["cells"] for r in cp.breaks) == cp.cells_classified == np.isfinite(v).sum() - 4
    top = [r for r in cp.breaks if r["top"]]
    assert len(top) == 1 and top[0]["cells"] == 8 and top[0]["area_km2"] == pytest.approx(cp.area_km2)
    assert sum(r["share_pct"] for r in cp.breaks) == pytest.approx(100.0)


def test_class_patches_landuse_and_few_values():
    v, core = pinch_map()
    lu = np.where(np.arange(14)[None, :] < 6, 10, 20).repeat(12, axis=0)
    cp = rp.class_patches(v, 5, "jenks", include=core <= 0, landuse=lu, landuse_names={10: "forest"})
    for r in cp.patches:
        shares = [r[k] for k in r if k.startswith("landuse_")]
        assert sum(shares) == pytest.approx(100.0)
    rows = rp.landuse_rows({"top": cp.mask}, lu, {10: "forest"}, cellsize=30.0)
    a = next(r for r in rows if r["name"] == "forest")
    assert a["cells"] == 5 + 1 and a["area_km2"] == pytest.approx(6 * 900 / 1e6)   # patch A + B's column 5
    # quantile classes: the top class holds the values above the 80 % quantile
    q = rp.class_patches(v, 5, "quantile", include=core <= 0)
    vals = v[np.isfinite(v) & (core <= 0)]
    assert q.cells == int((vals > np.quantile(vals, 0.8)).sum())
    # fewer distinct values than classes: the highest non-empty class is the top class
    two = np.where(np.isfinite(v), np.where(v > 50, 2.0, 1.0), np.nan)
    cp2 = rp.class_patches(two, 5, "jenks")
    assert cp2.top < 5 and cp2.cells == int((two == 2.0).sum())


def test_core_table_areas_and_mean_resistance():
    r = np.arange(1.0, 21.0).reshape(4, 5)
    r[0, 0] = np.nan
    lab = np.zeros((4, 5), dtype=np.int64)
    lab[0:2, 0:2] = 1        # one cell on nodata
    lab[3, 2:5] = 4
    rows = rp.core_table(lab, r, [1, 4], (20.0, 25.0))
    one, four = rows
    assert one["cells"] == 3 and one["area_m2"] == 3 * 500 and one["area_km2"] == pytest.approx(1.5e-3)
    assert one["mean_resistance"] == pytest.approx(np.mean([2.0, 6.0, 7.0]))
    assert four["cells"] == 3 and four["mean_resistance"] == pytest.approx(np.mean([18.0, 19.0, 20.0]))
    with pytest.raises(InputError):
        rp.core_table(lab, r, [1, 4, 9], 20.0)


def sample_network():
    cores = [{"core_id": c, "cells": n, "area_m2": n * 900.0, "area_km2": n * 900.0 / 1e6, "mean_resistance": p}
             for c, n, p in ((1, 400, 2.0), (2, 100, 5.0), (3, 900, 1.5), (4, 50, 9.0))]
    links = [Link(1, 1, 2, "cwd", euclidean=1000, lcd=3000.0, lcp_length=1500.0),
             Link(2, 2, 3, "cwd", euclidean=2000, lcd=9000.0, lcp_length=2500.0),
             Link(3, 1, 3, "cwd", euclidean=4000, lcd=20000.0, lcp_length=6000.0, status="knn_pruned"),
             Link(4, 3, 4, "cwd", euclidean=500, lcd=1200.0, lcp_length=700.0)]
    return cores, links


def test_corridor_importance_ranks_active_links_by_gravity():
    cores, links = sample_network()
    cen = {1: 3.0, 2: 4.0, 4: 1.0}
    rows = rp.corridor_importance(links, cores, threshold=5.0, centrality=cen, k=2, method="quantile")
    assert [r["link_id"] for r in rows] == sorted((1, 2, 4), key=lambda i: -next(
        r["G"] for r in rows if r["link_id"] == i))
    assert {r["link_id"] for r in rows} == {1, 2, 4}          # the pruned link is left out
    S = {c["core_id"]: c["area_m2"] for c in cores}
    P = {c["core_id"]: c["mean_resistance"] for c in cores}
    lmax = 9000.0
    for r in rows:
        g = lmax**2 * math.log(S[r["core_a"]]) * math.log(S[r["core_b"]]) / (
            r["lcd"] ** 2 * P[r["core_a"]] * P[r["core_b"]])
        assert r["G"] == pytest.approx(g)
        assert r["class"] == ("important" if g > 5.0 else "general")
        assert r["centrality"] == cen[r["link_id"]]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    by = {r["link_id"]: r["centrality_class"] for r in rows}
    assert by[2] == 2 and by[4] == 1


def test_network_tables_counts_length_and_pc():
    cores, links = sample_network()
    ids = [c["core_id"] for c in cores]
    d = rp.distance_matrix(ids, {(1, 2): 1000.0, (2, 3): 2000.0, (1, 3): 4000.0, (3, 4): 500.0})
    assert d[0, 1] == d[1, 0] == 1000.0 and d[0, 3] == np.inf and d[2, 2] == 0.0
    idx, dpc = rp.network_tables(cores, links, d, 1e8, 5000.0, 0.5)
    assert idx["nodes"] == 4 and idx["edges"] == 3
    assert idx["alpha"] == pytest.approx((3 - 4 + 1) / (2 * 4 - 5))
    assert idx["beta"] == pytest.approx(3 / 4) and idx["gamma"] == pytest.approx(3 / (3 * 2))
    assert idx["total_corridor_length_km"] == pytest.approx((1500 + 2500 + 700) / 1000)
    # PC with a single node set apart is the sum of a_i^2 plus pair terms; check the bounds
    a = np.array([c["area_m2"] for c in cores])
    assert (a**2).sum() / 1e16 < idx["pc"] <= a.sum() ** 2 / 1e16
    assert sorted(r["core_id"] for r in dpc) == ids and [r["rank"] for r in dpc] == [1, 2, 3, 4]
    for r in dpc:
        assert r["dpc"] == pytest.approx(r["dpc_intra"] + r["dpc_flux"] + r["dpc_connector"])


def test_summary_numbers_equal_the_tables():
    v, core = pinch_map()
    pinch = rp.class_patches(v, 5, cellsize=30.0, include=core <= 0)
    barrier = rp.class_patches(np.where(v > 50, v, 0.5), 3, "equal_interval", cellsize=30.0)
    cores, links = sample_network()
    d = rp.distance_matrix([1, 2, 3, 4], {(1, 2): 1000.0})
    idx, _ = rp.network_tables(cores, links, d, 1e8)
    imp = rp.corridor_importance(links, cores)
    sweep = {"rows": [{"cutoff": 1.0, "cumulative_current": 2.0, "relative_change": None, "selected": False},
                      {"cutoff": 2.0, "cumulative_current": 2.1, "relative_change": 0.05, "selected": True}],
             "best_cutoff": 2.0}
    s = rp.build_summary(cores=cores, links=links, pinch=pinch, barrier=barrier, n_breakpoints=3, indices=idx,
                         importance=imp, sweep=sweep, timings={"a": 1.0, "b": 0.5})
    assert s["sources"] == {"count": 4, "area_km2": pytest.approx(sum(c["area_km2"] for c in cores))}
    assert s["corridors"]["count"] == 3
    assert s["corridors"]["length_km"] == pytest.approx(sum(lk.lcp_length for lk in links if lk.active) / 1000)
    assert s["pinchpoints"]["count"] == len(pinch.patches) == 2
    assert s["pinchpoints"]["area_km2"] == pytest.approx(sum(r["area_km2"] for r in pinch.patches))
    assert s["pinchpoints"]["area_km2"] == pytest.approx(pinch.mask.sum() * 900 / 1e6)
    assert s["barriers"]["count"] == barrier.n and s["breakpoints"] == 3
    assert s["network"]["alpha"] == idx["alpha"] and s["width"]["best_cutoff"] == 2.0
    md = summary_markdown(s)
    assert "| Pinch-point patches | 2 | 0.0072 km² |" in md
    assert "| Corridors (active links) | 3 | 4.7 km |" in md
    assert "| total | 1.50 |" in md and "Chosen corridor width (CWD cutoff): 2." in md
    page = summary_html(s, {"x.png": b"\x89PNG"})
    assert page.count("<table>") == md.count("\n## ") - 1          # every section but Definitions
    assert "data:image/png;base64," in page and "<td>Pinch-point patches</td><td>2</td>" in page


def test_parse_sweep_and_csv():
    assert rp.parse_sweep("1000:9000:2000") == [1000, 3000, 5000, 7000, 9000]
    assert rp.parse_sweep("0:1:0.5") == [0, 0.5, 1.0]
    for bad in ("1000:5000", "a:b:c", "5000:1000:100", "0:10:-1", "0:1:5"):
        with pytest.raises(InputError):
            rp.parse_sweep(bad)
    text = rows_to_csv([{"a": 1, "b": math.nan}, {"a": True, "c": 0.1}])
    assert text == "a,b,c\n1,,\ntrue,,0.1\n"


# --------------------------------------------------------------------------- end to end on the demo

@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    import time

    import pyogrio
    import pyogrio.raw
    import shapely

    from gpucircuit._cli.main import app

    tmp = tmp_path_factory.mktemp("report")
    out = tmp / "out"
    runner = CliRunner()
    t = time.perf_counter()
    res = runner.invoke(app, [str(a) for a in (
        "linkage", DEMO / "lm_resistances.tif", DEMO / "lm_cores.shp", "-o", out, "--cutoff", 5000,
        "--max-cwd", 100000, "--max-euclid", 40000, "--knn", 4, "--cwd-threshold", 200000,
        "--radius-start", 400, "--radius-end", 1200, "--radius-step", 400, "--sum")])
    assert res.exit_code == 0, res.output
    t_linkage = time.perf_counter() - t

    # roads: three horizontal lines across the whole raster, in its CRS
    with rasterio.open(DEMO / "lm_resistances.tif") as ds:
        left, bottom, right, top = ds.bounds
        crs = ds.crs
        shape, transform = ds.shape, ds.transform
    ys = [bottom + f * (top - bottom) for f in (0.35, 0.5, 0.65)]
    roads = [shapely.LineString([(left, y), (right, y)]) for y in ys]
    info = pyogrio.read_info(out / "least_cost_paths.gpkg")
    roads_path = tmp / "roads.gpkg"
    pyogrio.raw.write(roads_path, np.array(shapely.to_wkb(roads), dtype=object),
                      [np.array(["primary", "secondary", "rail"], dtype=object)], ["fclass"], driver="GPKG",
                      geometry_type="LineString", crs=info["crs"])
    # land use: two classes in vertical halves
    lu = np.where(np.arange(shape[1])[None, :] < shape[1] // 2, 1, 2).repeat(shape[0], axis=0).astype("int16")
    lu_path = tmp / "landuse.tif"
    with rasterio.open(lu_path, "w", driver="GTiff", height=shape[0], width=shape[1], count=1, dtype="int16",
                       crs=crs, transform=transform, nodata=-1) as ds:
        ds.write(lu, 1)
    names = tmp / "names.csv"
    names.write_text("code,name\n1,forest\n2,farmland\n")

    t = time.perf_counter()
    res = runner.invoke(app, [str(a) for a in (
        "report", DEMO / "lm_resistances.tif", DEMO / "lm_cores.shp", "-o", out, "--lines", roads_path,
        "--sweep", "1000:5000:2000", "--landuse", lu_path, "--landuse-names", names)])
    assert res.exit_code == 0, res.output
    return {"out": out, "rdir": out / "report", "ys": ys, "t_linkage": t_linkage,
            "t_report": time.perf_counter() - t, "output": res.output, "crs": crs, "transform": transform}


REPORT_FILES = (
    "pinchpoint_breaks.csv", "pinchpoint_patches.csv", "barrier_breaks.csv", "barrier_patches.csv",
    "landuse_composition.csv", "breakpoints.csv", "corridor_importance.csv", "network_indices.csv", "dpc.csv",
    "width_sweep.csv", "sources.csv", "pinchpoint_classes.tif", "pinchpoint_patches.tif", "barrier_classes.tif",
    "barrier_patches.tif", "pinchpoint_patches.gpkg", "barrier_patches.gpkg", "pinchpoint_classes.png",
    "barrier_classes.png", "width_sweep.png", "summary.md", "summary.html",
)


def test_demo_report_files_and_georeferencing(demo_run):
    rdir = demo_run["rdir"]
    missing = [f for f in REPORT_FILES if not (rdir / f).exists()]
    assert not missing
    for name in ("pinchpoint_classes.tif", "pinchpoint_patches.tif", "barrier_classes.tif", "barrier_patches.tif"):
        with rasterio.open(rdir / name) as ds:
            assert ds.crs == demo_run["crs"] and ds.transform.almost_equals(demo_run["transform"])
    print(f"\ndemo timings: linkage {demo_run['t_linkage']:.2f} s, report {demo_run['t_report']:.2f} s")


def _patch_raster_check(rdir, prefix, transform):
    import pyogrio

    rows = rows_of(rdir / f"{prefix}_patches.csv")
    with rasterio.open(rdir / f"{prefix}_patches.tif") as ds:
        ids = ds.read(1, masked=True)
    cell_km2 = abs(transform.a * transform.e) / 1e6
    assert ids.count() * cell_km2 == pytest.approx(sum(float(r["area_km2"]) for r in rows))
    vals, counts = np.unique(ids.compressed().astype(int), return_counts=True)
    assert [int(r["id"]) for r in rows] == vals.tolist()
    assert [int(r["cells"]) for r in rows] == counts.tolist()
    assert pyogrio.read_info(rdir / f"{prefix}_patches.gpkg")["features"] == len(rows)
    with rasterio.open(rdir / f"{prefix}_classes.tif") as ds:
        cls = ds.read(1, masked=True)
    top = next(r for r in rows_of(rdir / f"{prefix}_breaks.csv") if r["top"] == "true")
    assert int((cls == int(top["class"])).sum()) == ids.count() == int(top["cells"])
    return rows


def test_demo_patches_consistent(demo_run):
    rdir, out = demo_run["rdir"], demo_run["out"]
    pinch = _patch_raster_check(rdir, "pinchpoint", demo_run["transform"])
    barrier = _patch_raster_check(rdir, "barrier", demo_run["transform"])
    assert pinch and barrier
    # the pinch-point classes cover exactly the corridor cells of the all-to-one map (cores excluded)
    with rasterio.open(out / "pinchpoints_all_to_one_cutoff5000.tif") as ds:
        cur = ds.read(1, masked=True)
    with rasterio.open(rdir / "pinchpoint_classes.tif") as ds:
        cls = ds.read(1, masked=True)
    # the published map already has the cores as nodata: the classes cover exactly its cells
    assert cls.count() > 0 and np.array_equal(np.ma.getmaskarray(cls), np.ma.getmaskarray(cur))
    top_rows = next(r for r in rows_of(rdir / "pinchpoint_breaks.csv") if r["top"] == "true")
    assert float(min(float(r["max_current"]) for r in pinch)) > float(top_rows["lower"])
    lu = rows_of(rdir / "landuse_composition.csv")
    for name in ("pinchpoints", "barriers", "corridors", "sources"):
        shares = [float(r["share_pct"]) for r in lu if r["set"] == name]
        assert shares and sum(shares) == pytest.approx(100.0)
    assert {r["name"] for r in lu} <= {"forest", "farmland"}
    assert any(k.startswith("landuse_") for k in pinch[0])


def test_demo_tables_match_linkage_outputs_and_summary(demo_run):
    rdir, out = demo_run["rdir"], demo_run["out"]
    links = rows_of(out / "link_table.csv")
    active = [r for r in links if r["status"] == "active"]
    idx = {r["index"]: float(r["value"]) for r in rows_of(rdir / "network_indices.csv")}
    assert idx["edges"] == len(active) and idx["nodes"] == 6
    assert idx["total_corridor_length_km"] == pytest.approx(sum(float(r["lcp_length"]) for r in active) / 1000)
    imp = rows_of(rdir / "corridor_importance.csv")
    assert sorted(int(r["link_id"]) for r in imp) == sorted(int(r["link_id"]) for r in active)
    g = [float(r["G"]) for r in imp]
    assert g == sorted(g, reverse=True)
    cen = {r["link_id"]: float(r["centrality"]) for r in active}
    assert all(float(r["centrality"]) == pytest.approx(cen[r["link_id"]]) for r in imp)
    dpc = rows_of(rdir / "dpc.csv")
    assert len(dpc) == 6
    # sources: area = cells x cell area
    t = demo_run["transform"]
    for r in rows_of(rdir / "sources.csv"):
        assert float(r["area_m2"]) == pytest.approx(int(r["cells"]) * abs(t.a * t.e))

    # breakpoints: non-empty, on active links, on one of the roads
    bps = rows_of(rdir / "breakpoints.csv")
    assert bps
    ids = {r["link_id"] for r in active}
    for b in bps:
        assert b["link_id"] in ids and b["fclass"] in ("primary", "secondary", "rail")
        assert min(abs(float(b["y"]) - y) for y in demo_run["ys"]) < 1e-6

    # width sweep: one selected cutoff; at the linkage cutoff it equals the pinch map's corridor total
    sw = rows_of(rdir / "width_sweep.csv")
    assert [float(r["cutoff"]) for r in sw] == [1000, 3000, 5000]
    assert sum(r["selected"] == "true" for r in sw) == 1
    with rasterio.open(out / "pinchpoints_all_to_one_cutoff5000.tif") as ds:
        cur = ds.read(1, masked=True).filled(np.nan)
    with rasterio.open(rdir / "pinchpoint_classes.tif") as ds:
        corridor = ds.read_masks(1) > 0                     # classified cells = corridor cells
    assert float(sw[2]["cumulative_current"]) == pytest.approx(float(np.nansum(cur[corridor])), rel=1e-9)
    assert int(sw[2]["corridor_cells"]) == int(corridor.sum())
    rel = [float(r["relative_change"]) for r in sw[1:]]
    best = sw[1 + int(np.argmin(rel))]
    assert best["selected"] == "true"

    md = (rdir / "summary.md").read_text()
    pinch = rows_of(rdir / "pinchpoint_patches.csv")
    barrier = rows_of(rdir / "barrier_patches.csv")
    assert f"| Pinch-point patches | {len(pinch)} |" in md
    assert f"| Barrier patches | {len(barrier)} |" in md
    assert f"| Breakpoints (LCP × lines) | {len(bps)} |" in md
    assert f"| Corridors (active links) | {len(active)} |" in md
    assert f"Chosen corridor width (CWD cutoff): {float(best['cutoff']):g}" in md
    assert "## Timings" in md
    page = (rdir / "summary.html").read_text()
    assert "<table>" in page and 'src="http' not in page and "<link" not in page    # self-contained


def test_report_missing_linkage_outputs(tmp_path):
    from gpucircuit._cli.main import app

    runner = CliRunner()
    res = runner.invoke(app, ["report", "r.tif", "c.shp", "-o", str(tmp_path)])
    assert res.exit_code == 1
    assert "link_table.csv not found" in res.output and "gpucircuit linkage" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(app, ["report", "r.tif", "c.shp", "-o", str(tmp_path), "--sweep", "1:2"])
    assert res.exit_code == 1 and "--sweep" in res.output
