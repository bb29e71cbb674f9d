"""CLI: ``corridors`` and ``barriers`` commands on the demo and on small rasters."""
import csv

import numpy as np
import pytest
import rasterio
import typer
from affine import Affine
from typer.testing import CliRunner

from gpucircuit._cli import barriers as barriers_cli
from gpucircuit._cli import corridors as corridors_cli

from shared_data import DEMO  # noqa: E402


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    corridors_cli.register(app)
    barriers_cli.register(app)
    return app


def invoke(app, args):
    return CliRunner().invoke(app, [str(a) for a in args])


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


def test_demo_corridors_then_barriers(app, tmp_path):
    out = tmp_path / "out"
    res = invoke(app, ["corridors", DEMO / "lm_resistances.tif", DEMO / "lm_cores.shp", "-o", out,
                       "--core-field", "core_id", "--max-cwd", 100000, "--max-euclid", 40000, "--knn", 4,
                       "--connect-constellations", "--drop-crossing", "--cwd-threshold", 200000])
    assert res.exit_code == 0, res.output
    for name in ("corridors.tif", "corridors.png", "link_table.csv", "least_cost_paths.gpkg"):
        assert (out / name).is_file(), name
    with rasterio.open(DEMO / "lm_resistances.tif") as src, rasterio.open(out / "corridors.tif") as ds:
        assert ds.crs == src.crs and ds.transform.almost_equals(src.transform) and ds.shape == src.shape
        corr = ds.read(1, masked=True)
        assert corr.count() > 0 and corr.max() <= 200000 and corr.min() == 0
    rows = list(csv.DictReader((out / "link_table.csv").open()))
    active = [row for row in rows if row["status"] == "active"]
    assert len(rows) == 10 and len(active) == 8
    for row in active:
        assert float(row["cwd"]) <= 100000 and float(row["euclidean_distance"]) <= 40000
        assert float(row["cwd_to_euclidean"]) == pytest.approx(float(row["cwd"]) / float(row["euclidean_distance"]), rel=1e-5)
    import pyogrio.raw

    meta, _, geoms, fields = pyogrio.raw.read(out / "least_cost_paths.gpkg")
    assert len(geoms) == 10 and meta["geometry_type"] == "LineString"
    import shapely

    with rasterio.open(DEMO / "lm_resistances.tif") as src:
        b = src.bounds
    for g in shapely.from_wkb(geoms):
        x0, y0, x1, y1 = g.bounds
        assert b.left < x0 and x1 < b.right and b.bottom < y0 and y1 < b.top

    res = invoke(app, ["barriers", DEMO / "lm_resistances.tif", DEMO / "lm_cores.shp", "-o", out,
                       "--radius-start", 400, "--radius-end", 1200, "--radius-step", 400, "--sum"])
    assert res.exit_code == 0, res.output
    assert "8 active links" in res.output
    for stat in ("max", "sum"):
        for suffix in ("", "_r400", "_r800", "_r1200", "_circles"):
            assert (out / f"barriers_{stat}{suffix}.tif").is_file()
        assert (out / f"barriers_{stat}.png").is_file()
    with rasterio.open(out / "barriers_max.tif") as ds:
        top = ds.read(1, masked=True)
    with rasterio.open(out / "barriers_max_r400.tif") as ds:
        r400 = ds.read(1, masked=True)
    assert top.count() > 0 and np.all(top >= r400)


def test_small_barriers_without_link_table(app, small, tmp_path):
    res_tif, cores_tif = small
    out = tmp_path / "b"
    res = invoke(app, ["barriers", res_tif, cores_tif, "-o", out, "--radius-start", 30, "--radius-end", 90,
                       "--radius-step", 30, "--percent"])
    assert res.exit_code == 0, res.output
    assert (out / "link_table.csv").is_file() and (out / "corridors.tif").is_file()
    assert (out / "barriers_max_pct.tif").is_file() and (out / "barriers_max_pct_r60.tif").is_file()
    assert not (out / "barriers_sum_pct.tif").exists()


def test_small_corridors_options(app, small, tmp_path):
    res_tif, cores_tif = small
    out = tmp_path / "c"
    res = invoke(app, ["corridors", res_tif, cores_tif, "-o", out, "--adjacency", "cwd", "--knn", 1,
                       "--no-connect-constellations", "--write-cwd"])
    assert res.exit_code == 0, res.output
    assert all((out / f"cwd_core_{i}.tif").is_file() for i in (1, 2, 3))
    rows = list(csv.DictReader((out / "link_table.csv").open()))
    assert {row["adjacency"] for row in rows} == {"cwd"}


def test_cli_errors_are_one_line(app, small, tmp_path):
    res_tif, _ = small
    one = np.zeros((30, 40), dtype=np.int32)
    one[2:5, 3:7] = 1
    one_tif = write_tif(tmp_path / "one.tif", one, nodata=0, dtype="int32")
    for args, pattern in [
        (["corridors", res_tif, one_tif, "-o", tmp_path / "x"], "only one core"),
        (["corridors", res_tif, tmp_path / "nope.shp", "-o", tmp_path / "x"], "not found"),
        (["corridors", res_tif, one_tif, "-o", tmp_path / "x", "--adjacency", "rook"], "--adjacency"),
        (["barriers", res_tif, one_tif, "-o", tmp_path / "x", "--radius-start", 10, "--radius-end", 5,
          "--radius-step", 1], "radius end"),
    ]:
        res = invoke(app, args)
        assert res.exit_code == 1, res.output
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and pattern in lines[0], res.output


def test_small_barriers_raw_scores(app, small, tmp_path):
    res_tif, cores_tif = small
    out = tmp_path / "raw"
    res = invoke(app, ["barriers", res_tif, cores_tif, "-o", out, "--radius-start", 30, "--radius-end", 60,
                       "--radius-step", 30, "--sum", "--raw-scores"])
    assert res.exit_code == 0, res.output
    negative = False
    for stem in ("barriers_max", "barriers_max_r30", "barriers_max_r60", "barriers_max_circles", "barriers_sum"):
        with rasterio.open(out / f"{stem}_raw.tif") as ds:
            raw = ds.read(1, masked=True).astype(float).filled(np.nan)
        with rasterio.open(out / f"{stem}.tif") as ds:
            pub = ds.read(1, masked=True).astype(float).filled(np.nan)
        # Barrier Mapper's SetNull(VALUE < 0) of the raw scores
        np.testing.assert_array_equal(pub, np.where(raw >= 0, raw, np.nan))
        negative |= bool(np.nanmin(raw) < 0)
    assert negative
    # without the option: no raw twins, and the same published map
    out2 = tmp_path / "pub"
    assert invoke(app, ["barriers", res_tif, cores_tif, "-o", out2, "--radius-start", 30, "--radius-end", 60,
                        "--radius-step", 30]).exit_code == 0
    assert not list(out2.glob("*_raw.tif"))
    with rasterio.open(out2 / "barriers_max.tif") as a, rasterio.open(out / "barriers_max.tif") as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))
