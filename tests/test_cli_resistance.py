"""CLI: ``gpucircuit resistance`` end to end on small rasters and a road layer written here."""
import csv
from pathlib import Path

import numpy as np
import pytest
import rasterio
import typer
from affine import Affine
from rasterio.crs import CRS
from typer.testing import CliRunner

from gpucircuit._cli import resistance as resistance_cli
from gpucircuit.io.vector import write_lines

from rasters import write_tif

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "frederick" / "resistance.toml"
CRS_UTM = CRS.from_epsg(32633)
X0, Y0, CS = 500000.0, 4000000.0, 30.0
SHAPE = (20, 30)
LU_TABLE = {1: 1, 2: 3, 3: 5}
ROAD_ROW = 10


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    resistance_cli.register(app)
    app.command("noop")(lambda: None)  # two commands: typer then expects the command name
    return app


def invoke(app, args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture()
def study(tmp_path):
    """Land use (3 classes, some nodata), slope, a night-light index on one 30 m grid, and a road."""
    rng = np.random.default_rng(7)
    t = Affine(CS, 0, X0, 0, -CS, Y0)
    lu = rng.integers(1, 4, SHAPE).astype(float)
    lu[0, :4] = np.nan
    slope = rng.uniform(0, 40, SHAPE)
    nl = rng.uniform(0.5, 2.0, SHAPE)
    write_tif(tmp_path / "landuse.tif", lu, t, CRS_UTM)
    write_tif(tmp_path / "slope.tif", slope, t, CRS_UTM)
    write_tif(tmp_path / "nightlights.tif", nl, t, CRS_UTM)
    y = Y0 - (ROAD_ROW + 0.5) * CS
    write_lines(tmp_path / "roads.gpkg", [np.array([[X0 - 50, y], [X0 + 2000, y]])], {"id": [1]}, crs=CRS_UTM)
    return tmp_path, lu, slope, nl


def config(weights: str, extra: str = "", grid: str = 'like = "landuse.tif"') -> str:
    table = ", ".join(f"{k} = {v}" for k, v in LU_TABLE.items())
    return f"""
[grid]
{grid}

[[factors]]
name = "landuse"
path = "landuse.tif"
kind = "reclass"
table = {{ {table} }}

[[factors]]
name = "slope"
path = "slope.tif"
kind = "breaks"
breaks = [8, 15, 25]
grade_range = [1, 4]

[[factors]]
name = "roads"
path = "roads.gpkg"
kind = "distance"
breaks = [45, 100]
grades = [5, 3, 1]
{extra}
{weights}
"""


def expected_grades(lu, slope):
    g_lu = np.vectorize(lambda v: np.nan if np.isnan(v) else LU_TABLE[int(v)])(lu)
    g_slope = np.select([slope <= 8, slope <= 15, slope <= 25], [1.0, 2.0, 3.0], 4.0)
    dist = np.abs(np.arange(SHAPE[0]) - ROAD_ROW)[:, None] * CS * np.ones((1, SHAPE[1]))
    g_road = np.select([dist <= 45, dist <= 100], [5.0, 3.0], 1.0)
    return g_lu, g_slope, g_road


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_direct_weights_and_relative_correction_end_to_end(app, study):
    folder, lu, slope, nl = study
    toml = folder / "study.toml"
    toml.write_text(config("[weights]\nlanduse = 0.5\nslope = 0.3\nroads = 0.2\n",
                           '[correction]\npath = "nightlights.tif"\nrelative = true\n'))
    out = folder / "out"
    res = invoke(app, ["resistance", toml, "-o", out])
    assert res.exit_code == 0, res.output
    g_lu, g_slope, g_road = expected_grades(lu, slope)
    base = 0.5 * g_lu + 0.3 * g_slope + 0.2 * g_road
    want = base * nl / nl[np.isfinite(base)].mean()
    with rasterio.open(out / "resistance.tif") as ds:
        assert ds.dtypes[0] == "float32" and ds.crs == CRS_UTM and ds.transform == Affine(CS, 0, X0, 0, -CS, Y0)
        assert ds.compression is not None
        got = ds.read(1, masked=True)
    assert np.array_equal(got.mask, np.isnan(want))  # nodata in land use is nodata in the result
    np.testing.assert_allclose(got.filled(np.nan)[~got.mask], want[~got.mask].astype(np.float32), rtol=1e-6)
    rows = read_csv(out / "weights.csv")
    assert [(r["factor"], float(r["weight"]), r["CR"]) for r in rows] == [
        ("landuse", 0.5, ""), ("slope", 0.3, ""), ("roads", 0.2, "")]
    grading = read_csv(out / "grading.csv")
    assert [float(r["grade"]) for r in grading if r["factor"] == "slope"] == [1.0, 2.0, 3.0, 4.0]
    # cells per class, counted here from the inputs; km² of 30 m cells; shares of the factor's valid cells
    counts = {("landuse", float(k)): int(np.sum(lu == k)) for k in LU_TABLE}
    counts.update({("slope", float(c)): int(np.sum(g_slope == c)) for c in (1, 2, 3, 4)})
    counts.update({("roads", float(c)): int(np.sum(g_road == g)) for c, g in ((1, 5), (2, 3), (3, 1))})
    for r in grading:
        n = counts[(r["factor"], float(r["class"]))]
        valid = np.isfinite(lu).sum() if r["factor"] == "landuse" else lu.size
        assert int(r["cells"]) == n and float(r["area_km2"]) == pytest.approx(n * 900 / 1e6)
        assert float(r["share_pct"]) == pytest.approx(100 * n / valid)
    table = (out / "resistance_table.md").read_text()
    assert "| slope | 0.3000 | 2 | 8 < value <= 15 | 2 |" in table
    assert (out / "resistance.png").stat().st_size > 1000
    assert not list(out.glob(".*"))  # no temporary files left


def test_ahp_weights_on_a_coarser_template(app, study):
    folder, lu, slope, _ = study
    toml = folder / "study.toml"
    ahp = '[ahp]\nfactors = ["roads", "landuse", "slope"]\nmatrix = [[1, "1/3", 2], [3, 1, 5], ["1/2", "1/5", 1]]\n'
    grid = f'crs = "EPSG:32633"\ncellsize = 90\nextent = [{X0}, {Y0 - 600}, {X0 + 900}, {Y0}]'
    toml.write_text(config(ahp, grid=grid))
    out = folder / "out"
    res = invoke(app, ["resistance", toml, "-o", out])
    assert res.exit_code == 0, res.output
    # n = 3: the eigenvector weights are the row geometric means exactly
    m = np.array([[1, 1 / 3, 2], [3, 1, 5], [1 / 2, 1 / 5, 1]])
    gm = np.prod(m, axis=1) ** (1 / 3)
    w = dict(zip(["roads", "landuse", "slope"], gm / gm.sum()))
    lam = 1 + (2 / (1 / 3 * 5)) ** (1 / 3) + (1 / 3 * 5 / 2) ** (1 / 3)
    rows = read_csv(out / "weights.csv")
    assert [r["factor"] for r in rows] == ["landuse", "slope", "roads"]
    for r in rows:
        assert float(r["weight"]) == pytest.approx(w[r["factor"]], rel=1e-5)
        assert float(r["CR"]) == pytest.approx((lam - 3) / 2 / 0.58, rel=1e-5)
    # 90 m cells: nearest takes the 30 m cell under each centre (rows and columns 1, 4, 7, ...)
    g_lu, g_slope, _ = expected_grades(lu, slope)
    pick = (slice(1, None, 3), slice(1, None, 3))
    lu90 = lu[pick]
    rows90 = np.arange(lu90.shape[0])
    dist = np.abs(rows90 * 90 + 45 - (ROAD_ROW + 0.5) * CS)[:, None] * np.ones((1, lu90.shape[1]))
    g_road = np.select([dist <= 45, dist <= 100], [5.0, 3.0], 1.0)
    with rasterio.open(out / "resistance.tif") as ds:
        assert ds.shape == (7, 10) and ds.transform == Affine(90, 0, X0, 0, -90, Y0)
        got = ds.read(1, masked=True)
    lu_part = w["landuse"] * g_lu[pick] + w["roads"] * g_road
    # slope is bilinear-resampled: check it lies within the grades its neighbours allow
    slope_part = (got.filled(np.nan) - lu_part) / w["slope"]
    ok = ~got.mask
    assert np.array_equal(got.mask, np.isnan(lu90))
    assert np.all((slope_part[ok] > 1 - 1e-4) & (slope_part[ok] < 4 + 1e-4))
    assert np.allclose(slope_part[ok], np.round(slope_part[ok]), atol=1e-4)  # whole grades


def test_inconsistent_matrix_is_an_error_unless_allowed(app, study):
    folder = study[0]
    toml = folder / "study.toml"
    bad = "matrix = [[1, 9, \"1/9\"], [\"1/9\", 1, 9], [9, \"1/9\", 1]]\n"
    toml.write_text(config("[ahp]\n" + bad))
    res = invoke(app, ["resistance", toml, "-o", folder / "out"])
    assert res.exit_code == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and str(toml) in lines[0]
    assert "CR = 6.13" in lines[0] and "allow_inconsistent" in lines[0]
    assert not (folder / "out").exists()
    toml.write_text(config("[ahp]\nallow_inconsistent = true\n" + bad))
    res = invoke(app, ["resistance", toml, "-o", folder / "out"])
    assert res.exit_code == 0, res.output
    warnings = [ln for ln in res.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "CR = 6.13" in warnings[0]


@pytest.mark.parametrize("change, words", [
    (lambda t: t.replace("3 = 5", "4 = 5"), "factor 'landuse': reclass table has no grade for value(s) 3"),
    (lambda t: t.replace('"roads.gpkg"', '"rivers.gpkg"'), "factor 'roads' key 'path': file not found"),
    (lambda t: t.replace('kind = "breaks"', 'kind = "fuzzy"'), "factor 'slope' key 'kind': unknown factor kind"),
    (lambda t: t.replace("roads = 0.2", "roads = 0.3"), "[weights]: weights sum to 1.1, not 1"),
    (lambda t: t.replace("[weights]", '[correction]\npath = "slope.tif"\n[weights]'),
     "[correction]: correction layer is 0 at row 3, column 4"),
])
def test_bad_input_is_one_line_naming_the_toml(app, study, change, words):
    folder = study[0]
    slope = study[2]
    if "correction" in words:  # make one slope cell zero: a correction must be positive
        slope = slope.copy()
        slope[3, 4] = 0.0
        write_tif(folder / "slope.tif", slope, Affine(CS, 0, X0, 0, -CS, Y0), CRS_UTM)
    toml = folder / "study.toml"
    toml.write_text(change(config("[weights]\nlanduse = 0.5\nslope = 0.3\nroads = 0.2\n")))
    res = invoke(app, ["resistance", toml, "-o", folder / "out"])
    assert res.exit_code == 1, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {toml}:") and words in lines[0], res.stderr
    assert not (folder / "out").exists()  # nothing written


def test_missing_config_file(app, tmp_path):
    res = invoke(app, ["resistance", tmp_path / "none.toml", "-o", tmp_path / "out"])
    assert res.exit_code == 1 and res.stderr.strip() == f"error: resistance config not found: {tmp_path / 'none.toml'}"


@pytest.mark.slow
def test_bundled_frederick_example(app, tmp_path):
    res = invoke(app, ["resistance", EXAMPLE, "-o", tmp_path])
    assert res.exit_code == 0, res.output
    with rasterio.open(EXAMPLE.parent / "nlcd_2016_frederick_md.tif") as src, \
            rasterio.open(tmp_path / "resistance.tif") as ds:
        assert ds.shape == src.shape and ds.crs == src.crs and ds.transform == src.transform
        masked = ds.read(1, masked=True)
        lc = src.read(1)
    r = masked.filled(np.nan)
    assert masked.count() == r.size and 1.0 <= r.min() and r.max() <= 5.0
    # forest far from development and water is the easiest ground; developed high intensity the hardest
    assert np.median(r[lc == 41]) < np.median(r[lc == 82]) < np.median(r[lc == 24])
