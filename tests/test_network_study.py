"""``gpucircuit network`` on the bundled Frederick example, the study tables against independent counts,
starting mid-way from given files, and the config errors (one line naming file, table and key)."""
import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from scipy import ndimage
from typer.testing import CliRunner

from gpucircuit.errors import InputError
from gpucircuit.linkage import tables
from gpucircuit.linkage.report import report_files

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "frederick"
EIGHT = np.ones((3, 3), dtype=bool)


def rows_of(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def read(path):
    with rasterio.open(path) as ds:
        return ds.read(1, masked=True).astype(np.float64).filled(np.nan), ds.transform


def invoke(args):
    from gpucircuit._cli.main import app

    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("network") / "out"
    res = invoke(["network", EXAMPLE / "network.toml", "-o", out, "-q"])
    assert res.exit_code == 0, res.output
    return out


def test_every_step_kept_and_recorded(study):
    run = json.loads((study / "run.json").read_text())
    assert [s["name"] for s in run["steps"]] == ["resistance", "mspa", "sources", "linkage", "report"]
    assert all(not s["skipped"] and s["seconds"] > 0 and (study / s["folder"]).is_dir() for s in run["steps"])
    by = {s["name"]: s for s in run["steps"]}
    assert by["mspa"]["options"]["foreground"] == [41, 42, 43]
    assert by["linkage"]["options"]["pinchpoints"]["cutoff"] == 3000
    for f in ("resistance/resistance.tif", "resistance/weights.csv", "mspa/mspa.tif", "mspa/mspa_stats.csv",
              "sources/sources.tif", "sources/patches.csv", "sources/sweep.csv", "linkage/link_table.csv",
              "linkage/pinchpoints_all_to_one_cutoff3000.tif", "linkage/barriers_max.tif",
              "linkage/core_centrality.csv", "report/summary.md", "report/summary.html", "summary.md"):
        assert (study / f).exists(), f
    md = (study / "summary.md").read_text()
    n_links = sum(r["status"] == "active" for r in rows_of(study / "linkage/link_table.csv"))
    assert f"joined by {n_links} corridors" in md and "| linkage | `linkage/` |" in md


def test_mspa_step_matches_foreground(study):
    mspa, _ = read(study / "mspa/mspa.tif")
    lc, _ = read(study / "mspa/landcover.tif")
    fg = np.isin(lc, [41, 42, 43])
    assert np.array_equal(np.isin(mspa, [1, 3, 5, 9, 17, 33, 65]) | np.isin(mspa, [35, 37, 67, 69]), fg)


def test_sources_table_against_rasters(study):
    ids, t = read(study / "sources/sources.tif")
    r, _ = read(study / "resistance/resistance.tif")
    cell_km2 = abs(t.a * t.e) / 1e6
    study_km2 = np.isfinite(r).sum() * cell_km2
    rows = rows_of(study / "report/sources.csv")
    present, counts = np.unique(ids[np.isfinite(ids) & (ids > 0)].astype(int), return_counts=True)
    assert [int(x["core_id"]) for x in rows] == present.tolist() and len(rows) == 8
    for x, n in zip(rows, counts):
        assert int(x["cells"]) == n
        assert float(x["share_of_study_pct"]) == pytest.approx(100 * n * cell_km2 / study_km2)
    dpc = [float(x["dpc"]) for x in rows]
    ranks = [int(x["dpc_rank"]) for x in rows]
    assert sorted(ranks) == list(range(1, 9))
    assert [dpc[i] for i in np.argsort(ranks)] == sorted(dpc, reverse=True)


def test_class_tables_against_independent_count(study):
    cur, t = read(study / "linkage/pinchpoints_all_to_one_cutoff3000.tif")
    cores, _ = read(study / "sources/sources.tif")
    corridor = np.isfinite(cur) & ~(cores > 0)
    cell_km2 = abs(t.a * t.e) / 1e6
    rows = rows_of(study / "report/pinchpoint_classes.csv")
    assert len(rows) == 5
    edges = [float(rows[0]["lower"])] + [float(x["upper"]) for x in rows]
    total = 0
    for x in rows:
        c = int(x["class"])
        lo, hi = edges[c - 1], edges[c]
        mask = corridor & (cur <= hi) & ((cur > lo) if c > 1 else (cur >= lo))
        total += mask.sum()
        assert int(x["cells"]) == mask.sum()
        assert float(x["area_km2"]) == pytest.approx(mask.sum() * cell_km2)
        assert int(x["patches"]) == ndimage.label(mask, structure=EIGHT)[1]
        assert float(x["share_of_corridors_pct"]) == pytest.approx(100 * mask.sum() / corridor.sum())
    assert total == corridor.sum()
    top = next(x for x in rows_of(study / "report/pinchpoint_breaks.csv") if x["top"] == "true")
    assert int(top["cells"]) == int(rows[-1]["cells"])
    assert len(rows_of(study / "report/pinchpoint_patches.csv")) == int(rows[-1]["patches"])
    # barriers: classes over the positive scores only
    score, _ = read(study / "linkage/barriers_max.tif")
    brows = rows_of(study / "report/barrier_classes.csv")
    assert sum(int(x["cells"]) for x in brows) == int((score > 0).sum())


def test_corridor_tables_and_sweep(study):
    links = [r for r in rows_of(study / "linkage/link_table.csv") if r["status"] == "active"]
    s = rows_of(study / "report/corridor_summary.csv")[0]
    km = [float(r["lcp_length"]) / 1000 for r in links]
    assert int(s["corridors"]) == len(links)
    assert float(s["total_length_km"]) == pytest.approx(sum(km), rel=1e-6)
    assert float(s["max_length_km"]) == pytest.approx(max(km), rel=1e-6)
    imp = rows_of(study / "report/corridor_importance.csv")
    n_imp = sum(r["class"] == "important" for r in imp)
    assert float(s["important_share_pct"]) == pytest.approx(100 * n_imp / len(imp))
    assert "m²" in s["gravity_units"]
    src = {int(r["core_id"]): float(r["area_km2"]) for r in rows_of(study / "report/sources.csv")}
    assert all(float(r["area_a_km2"]) == src[int(r["core_a"])] for r in imp)
    r, t = read(study / "resistance/resistance.tif")
    study_km2 = np.isfinite(r).sum() * abs(t.a * t.e) / 1e6
    sw = rows_of(study / "report/width_sweep.csv")
    assert [r["used_for_maps"] for r in sw] == ["false", "true", "false"]
    for x in sw:
        assert float(x["corridor_share_pct"]) == pytest.approx(100 * float(x["corridor_area_km2"]) / study_km2)
    lu = rows_of(study / "report/landuse_composition.csv")
    for name in {x["set"] for x in lu}:
        assert sum(float(x["share_pct"]) for x in lu if x["set"] == name) == pytest.approx(100.0)
    assert {"pinchpoints_class5", "barriers_class1"} <= {x["set"] for x in lu}
    assert "deciduous forest" in {x["name"] for x in lu}


def test_start_mid_way_from_given_files(study, tmp_path):
    cfg = tmp_path / "mid.toml"
    cfg.write_text(f'[resistance]\nfile = "{study / "resistance/resistance.tif"}"\n'
                   f'[sources]\ncores = "{study / "sources/sources.tif"}"\n'
                   '[linkage]\ncutoff = 3000\nmax_euclid = 30000\nradius_start = 90\nradius_end = 270\n'
                   'radius_step = 90\n')
    res = invoke(["network", cfg, "-o", tmp_path / "out", "-q"])
    assert res.exit_code == 0, res.output
    run = json.loads((tmp_path / "out/run.json").read_text())
    assert [s["skipped"] for s in run["steps"]] == [True, True, False, False]
    assert not (tmp_path / "out/mspa").exists()
    assert (tmp_path / "out/linkage/link_table.csv").read_text() == (study / "linkage/link_table.csv").read_text()


@pytest.mark.parametrize("text, words", [
    ('[resistance]\nfile = "R"\n[linkage]\ncutoff = 3000\nwidth = 2\n', ["[linkage]", "unknown key 'width'"]),
    ('[resistance]\nfile = "R"\n[linkage]\ncutoff = "wide"\nradius_start = 90\nradius_end = 90\nradius_step = 90\n'
     '[sources]\ncores = "R"\n', ["[linkage]", "'cutoff'", "number"]),
    ('[resistance]\nfile = "R"\n[sources]\ncores = "R"\n[linkage]\ncutoff = 3000\n', ["radius_start"]),
    ('[resistance]\nfile = "R"\n[sources]\ncores = "R"\n[linkage]\ncutoff = 3000\nadjacency = "x"\n'
     'radius_start = 90\nradius_end = 90\nradius_step = 90\n', ["[linkage]", "adjacency"]),
    ('[resistance]\nfile = "missing.tif"\n[linkage]\ncutoff = 1\n', ["[resistance]", "'file'", "not found"]),
    ('[resistance]\nfile = "R"\n[linkage]\ncutoff = 1\n', ["[mspa]", "landcover"]),
    ('[resistance]\nfile = "R"\n[sources]\ncores = "R"\n[linkage]\ncutoff = 1\nradius_start = 90\n'
     'radius_end = 90\nradius_step = 90\n[report]\nmethod = "odd"\n', ["[report]", "--method"]),
])
def test_config_errors_are_one_line(tmp_path, text, words):
    raster = EXAMPLE / "resistance.tif"
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text.replace('"R"', f'"{raster}"'))
    res = invoke(["network", cfg, "-o", tmp_path / "out"])
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(cfg) in lines[0], res.output
    assert all(w in lines[0] for w in words), lines[0]
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- tables on a small landscape

def test_class_rows_brute_force():
    rng = np.random.default_rng(3)
    classes = rng.integers(0, 4, size=(12, 10))
    corridor = classes > 0
    rows = tables.class_rows(classes, [0.0, 1.0, 2.0, 3.0], corridor, 100.0, 10.0)
    for x in rows:
        mask = classes == x["class"]
        assert x["cells"] == mask.sum() and x["area_km2"] == pytest.approx(mask.sum() * 1e-4)
        assert x["patches"] == ndimage.label(mask, structure=EIGHT)[1]
        assert x["share_of_corridors_pct"] == pytest.approx(100 * mask.sum() / corridor.sum())
    one = np.zeros((5, 5), dtype=int)
    one[1, 1] = one[1, 4] = 1                                   # two one-cell patches: no extent
    one[3, 0:4] = 2                                             # a 4-cell row: 3 cells centre to centre
    r = tables.class_rows(one, [0.0, 1.0, 2.0], one > 0, 100.0, 10.0)
    assert (r[0]["patches"], r[0]["length_km"]) == (2, 0.0)
    assert r[1]["length_km"] == pytest.approx(0.03)


def test_other_tables():
    bp = [{"lines": "roads.gpkg", "fclass": "primary"}, {"lines": "roads.gpkg", "fclass": "primary"},
          {"lines": "roads.gpkg", "fclass": "rail"}, {"lines": "rivers.gpkg"}]
    assert tables.breakpoints_by_type(bp, "fclass") == [
        {"lines": "rivers.gpkg", "type": "", "breakpoints": 1},
        {"lines": "roads.gpkg", "type": "primary", "breakpoints": 2},
        {"lines": "roads.gpkg", "type": "rail", "breakpoints": 1}]
    assert [x["breakpoints"] for x in tables.breakpoints_by_type(bp, None)] == [1, 3]
    imp = [{"lcp_length_km": 2.0, "class": "important"}, {"lcp_length_km": 6.0, "class": "general"}]
    s = tables.corridor_summary(imp, 1.0)[0]
    assert (s["corridors"], s["total_length_km"], s["mean_length_km"], s["important_share_pct"]) == (2, 8.0, 4.0, 50.0)
    assert math.isnan(tables.corridor_summary([], 1.0)[0]["mean_length_km"])
    cores = [{"core_id": 1, "area_km2": 2.0}, {"core_id": 5, "area_km2": 3.0}]
    rows = tables.source_rows(cores, [{"core_id": 5, "dpc": 70.0, "rank": 1}, {"core_id": 1, "dpc": 40.0, "rank": 2}],
                              50.0)
    assert [(x["share_of_study_pct"], x["dpc_rank"]) for x in rows] == [(4.0, 2), (6.0, 1)]


def test_report_files_never_guess(tmp_path):
    for name in ("link_table.csv", "corridors.tif", "least_cost_paths.gpkg", "barriers_max.tif",
                 "pinchpoints_all_to_one_cutoff1000.tif", "pinchpoints_all_to_one_cutoff3000.tif"):
        (tmp_path / name).write_text("")
    with pytest.raises(InputError, match="2 maps matching .*--pinchpoints"):
        report_files(tmp_path)
    chosen = report_files(tmp_path, pinch=tmp_path / "pinchpoints_all_to_one_cutoff1000.tif")
    assert chosen.pinch.name.endswith("cutoff1000.tif") and chosen.barrier.name == "barriers_max.tif"


def test_radius_below_cell_size_is_refused(tmp_path):
    r, t = read(EXAMPLE / "resistance.tif")                     # 30 m cells
    cores = np.zeros(r.shape, dtype=np.int32)
    cores[100:110, 100:110], cores[300:310, 400:410] = 1, 2
    with rasterio.open(EXAMPLE / "resistance.tif") as ds:
        profile = {**ds.profile, "dtype": "int32", "nodata": 0, "count": 1}
    with rasterio.open(tmp_path / "cores.tif", "w", **profile) as ds:
        ds.write(cores, 1)
    cfg = tmp_path / "r.toml"
    cfg.write_text(f'[resistance]\nfile = "{EXAMPLE / "resistance.tif"}"\n[sources]\ncores = "{tmp_path / "cores.tif"}"\n'
                   '[linkage]\ncutoff = 1000\nradius_start = 20\nradius_end = 60\nradius_step = 20\n')
    res = invoke(["network", cfg, "-o", tmp_path / "out"])
    assert res.exit_code == 1 and res.output.count("\n") == 1
    assert "barrier radius 20 is smaller than the cell size 30" in res.output
    assert not (tmp_path / "out/linkage").exists()


@pytest.mark.parametrize("line, expect", [("", False), ("raw_scores = true\n", True), ("raw_scores = false\n", False)])
def test_raw_scores_key_reaches_the_chain(tmp_path, line, expect):
    from gpucircuit.linkage.study import plan_study
    from gpucircuit.linkage.study_config import read_study_config

    raster = EXAMPLE / "resistance.tif"
    cfg = tmp_path / "s.toml"
    cfg.write_text(f'[resistance]\nfile = "{raster}"\n[sources]\ncores = "{raster}"\n[linkage]\ncutoff = 1000\n'
                   f'radius_start = 30\nradius_end = 60\nradius_step = 30\n{line}')
    assert plan_study(read_study_config(cfg)).chain.raw_scores is expect


def test_raw_scores_key_must_be_boolean(tmp_path):
    raster = EXAMPLE / "resistance.tif"
    cfg = tmp_path / "s.toml"
    cfg.write_text(f'[resistance]\nfile = "{raster}"\n[sources]\ncores = "{raster}"\n[linkage]\ncutoff = 1000\n'
                   'radius_start = 30\nradius_end = 60\nradius_step = 30\nraw_scores = "yes"\n')
    res = invoke(["network", cfg, "-o", tmp_path / "out"])
    assert res.exit_code == 1 and res.output.count("\n") == 1
    assert "[linkage]" in res.output and "raw_scores" in res.output
