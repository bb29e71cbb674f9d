"""Resistance surfaces: grading, distances, weighted sum, correction and the template grid,
each against a brute-force or hand computation; the TOML file's errors."""
import itertools
import math

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from gpucircuit import backend
from gpucircuit.analysis import resistance as rs
from gpucircuit.analysis.resistance_surface import factor_weights
from gpucircuit.errors import GpuCircuitError, InputError
from gpucircuit.io.factors import read_resistance_config
from gpucircuit.io.factor_grid import raster_on_grid, template_grid, vector_on_grid
from gpucircuit.io.raster import GridSpec
from gpucircuit.io.vector import write_lines

from rasters import write_tif

CRS_UTM = CRS.from_epsg(32633)
X0, Y0 = 500000.0, 4000000.0


# --------------------------------------------------------------------------- grading

def test_reclass_matches_a_lookup_loop():
    rng = np.random.default_rng(0)
    classes = np.array([11, 21, 41, 82, 90])
    v = rng.choice(classes, (30, 40)).astype(float)
    v[rng.random(v.shape) < 0.1] = np.nan
    table = {11.0: 5, 21.0: 4, 41.0: 1, 82.0: 3, 90.0: 1.5}
    got = rs.grade_reclass(v, table)
    for (r, c), x in np.ndenumerate(v):
        assert (np.isnan(got[r, c]) if np.isnan(x) else got[r, c] == table[x])
    filled = rs.grade_reclass(v, table, nodata_grade=7)
    assert np.all(filled[np.isnan(v)] == 7) and np.array_equal(filled[~np.isnan(v)], got[~np.isnan(v)])


def test_reclass_names_the_missing_classes_and_first_cell():
    v = np.array([[11.0, 21.0, np.nan], [52.0, 11.0, 52.0], [71.0, 11.0, 11.0]])
    with pytest.raises(InputError) as err:
        rs.grade_reclass(v, {11: 1, 21: 2})
    msg = str(err.value)
    assert "52, 71" in msg and "3 cells" in msg and "row 1, column 0" in msg


def test_breaks_match_the_class_definition():
    """Class c holds b_{c-1} < v <= b_c: counted directly, value by value."""
    rng = np.random.default_rng(1)
    b = [5.0, 15.0, 25.0, 35.0]
    v = rng.integers(0, 45, (25, 25)).astype(float)  # integers: many values sit exactly on a break
    v[0, :3] = np.nan
    grades = [1, 2, 3, 4, 5]
    got = rs.grade_breaks(v, b, grades)
    for (r, c), x in np.ndenumerate(v):
        if np.isnan(x):
            assert np.isnan(got[r, c])
        else:
            cls = sum(1 for bb in b if x > bb)  # number of breaks strictly below x
            assert got[r, c] == grades[cls]
    assert got[v == 5.0].max() == 1 and got[v == 6.0].min() == 2


def test_breaks_errors():
    with pytest.raises(InputError, match="strictly increasing"):
        rs.grade_breaks(np.ones((2, 2)), [5, 5], [1, 2, 3])
    with pytest.raises(InputError, match="3 classes, but 2 grades"):
        rs.grade_breaks(np.ones((2, 2)), [1, 2], [1, 2])


def test_even_grades_ascending_and_descending():
    np.testing.assert_allclose(rs.even_grades(5, [1, 5]), [1, 2, 3, 4, 5])
    np.testing.assert_allclose(rs.even_grades(4, [100, 1]), [100, 67, 34, 1])


def brute_jenks(values, k):
    """Optimal partition of the sorted values into k contiguous classes by enumeration."""
    x = np.sort(values)
    best, best_cut = math.inf, None
    for cuts in itertools.combinations(range(1, x.size), k - 1):
        parts = np.split(x, cuts)
        cost = sum(((p - p.mean()) ** 2).sum() for p in parts)
        if cost < best - 1e-12:
            best, best_cut = cost, cuts
    return [float(x[c - 1]) for c in best_cut]  # each break = the largest value of the lower class


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_jenks_breaks_match_enumeration(seed):
    v = np.random.default_rng(seed).gamma(2.0, 3.0, 13)
    grid = np.full((4, 4), np.nan)
    grid.flat[:13] = v
    np.testing.assert_allclose(rs.data_breaks(grid, 3, "jenks"), brute_jenks(v, 3), rtol=1e-12)


def test_data_breaks_refuse_too_few_values():
    with pytest.raises(InputError, match="too few distinct values"):
        rs.data_breaks(np.array([1.0, 1.0, 2.0]), 4, "jenks")


# --------------------------------------------------------------------------- distances, sum, correction

def brute_distance(features, h, w):
    fr, fc = np.nonzero(features)
    out = np.empty(features.shape)
    for (r, c), _ in np.ndenumerate(out):
        out[r, c] = np.sqrt(((fr - r) * h) ** 2 + ((fc - c) * w) ** 2).min()
    return out


def test_distance_matches_brute_force_with_rectangular_cells():
    rng = np.random.default_rng(3)
    f = rng.random((17, 23)) < 0.03
    f[8, 11] = True
    np.testing.assert_allclose(rs.distance_to_features(f, (30.0, 20.0)), brute_distance(f, 30.0, 20.0), rtol=1e-12)


def test_distance_without_features_is_an_error():
    with pytest.raises(InputError, match="no feature cell"):
        rs.distance_to_features(np.zeros((3, 3), bool), (1.0, 1.0))


def test_weighted_sum_by_hand():
    g1 = np.array([[1.0, 5.0], [3.0, np.nan]])
    g2 = np.array([[2.0, 2.0], [4.0, 1.0]])
    got = rs.weighted_sum(iter([g1, g2]), [0.6, 0.4])
    np.testing.assert_allclose(got, [[1.4, 3.8], [3.4, np.nan]])  # 0.6*1+0.4*2, 0.6*5+0.4*2, 0.6*3+0.4*4
    with pytest.raises(InputError, match="1 graded layers but 2 weights"):
        rs.weighted_sum([g1], [0.5, 0.5])


def test_correction_plain_and_relative():
    s = np.array([[1.0, 2.0], [3.0, np.nan]])
    c = np.array([[2.0, 4.0], [np.nan, 6.0]])
    np.testing.assert_allclose(rs.apply_correction(s, c), [[2.0, 8.0], [np.nan, np.nan]])
    # relative: divided by the mean over cells valid in both (2 and 4 -> 3)
    np.testing.assert_allclose(rs.apply_correction(s, c, relative=True), [[2 / 3, 8 / 3], [np.nan, np.nan]])
    with pytest.raises(InputError, match="row 0, column 1"):
        rs.apply_correction(s, np.array([[1.0, 0.0], [1.0, 1.0]]))


# --------------------------------------------------------------------------- the template grid

def plane(spec):
    """A linear field of the cell centres (bilinear interpolation reproduces it exactly)."""
    rows, cols = np.mgrid[0:spec.shape[0], 0:spec.shape[1]]
    t = spec.transform
    x, y = t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e
    return 0.01 * (x - X0) + 0.02 * (Y0 - y) + 3.0


def test_raster_onto_a_finer_offset_grid_bilinear_is_exact_on_a_plane(tmp_path):
    src = GridSpec((40, 50), Affine(30, 0, X0, 0, -30, Y0), CRS_UTM)
    path = write_tif(tmp_path / "plane.tif", plane(src), src.transform, CRS_UTM)
    dst = GridSpec((50, 60), Affine(20, 0, X0 + 10, 0, -20, Y0 - 10), CRS_UTM)
    got = raster_on_grid(path, dst, "bilinear", "raster")
    inner = (slice(1, -1), slice(1, -1))  # the outer half-cell ring extrapolates
    np.testing.assert_allclose(got[inner], plane(dst)[inner], atol=1e-9)


def test_raster_onto_a_coarser_grid_nearest_takes_the_cell_under_each_centre(tmp_path):
    src = GridSpec((40, 50), Affine(30, 0, X0, 0, -30, Y0), CRS_UTM)
    v = np.random.default_rng(4).integers(1, 9, src.shape).astype(float)
    v[7, 9] = np.nan
    path = write_tif(tmp_path / "cat.tif", v, src.transform, CRS_UTM)
    dst = GridSpec((28, 34), Affine(45, 0, X0 + 15, 0, -45, Y0 - 15), CRS_UTM)  # overhangs the source
    got = raster_on_grid(path, dst, "nearest", "raster")
    rows, cols = np.mgrid[0:28, 0:34]
    sr = np.floor((15 + (rows + 0.5) * 45) / 30).astype(int)
    sc = np.floor((15 + (cols + 0.5) * 45) / 30).astype(int)
    inside = (sr < 40) & (sc < 50)
    want = np.where(inside, v[sr.clip(0, 39), sc.clip(0, 49)], np.nan)
    np.testing.assert_array_equal(got, want)  # outside the source: nodata
    assert np.isnan(got).sum() > np.isnan(want[inside]).sum()


def test_raster_without_crs_off_the_grid_is_an_error(tmp_path):
    src = GridSpec((4, 5), Affine(30, 0, X0, 0, -30, Y0), None)
    path = write_tif(tmp_path / "nocrs.tif", np.ones(src.shape), src.transform, None)
    dst = GridSpec((2, 2), Affine(60, 0, X0, 0, -60, Y0), CRS_UTM)
    with pytest.raises(InputError, match="no CRS"):
        raster_on_grid(path, dst, "nearest", "raster")


def test_vector_line_rasterised_then_distance(tmp_path):
    spec = GridSpec((12, 15), Affine(30, 0, X0, 0, -30, Y0), CRS_UTM)
    y_row4 = Y0 - 4.5 * 30
    gpkg = write_lines(tmp_path / "road.gpkg", [np.array([[X0 - 100, y_row4], [X0 + 1000, y_row4]])],
                       {"id": [1]}, crs=CRS_UTM)
    burnt = vector_on_grid(gpkg, spec, "roads")
    assert burnt[4].all() and burnt.sum() == 15
    d = rs.distance_to_features(burnt, (30.0, 30.0))
    np.testing.assert_allclose(d, np.abs(np.arange(12) - 4)[:, None] * 30.0 * np.ones((1, 15)))


def test_template_from_like_at_a_new_cell_size(tmp_path):
    like = write_tif(tmp_path / "like.tif", np.ones((10, 7)), Affine(30, 0, X0, 0, -30, Y0), CRS_UTM)
    cfg_path = tmp_path / "r.toml"
    cfg_path.write_text(f'[grid]\nlike = "{like.name}"\ncellsize = 60\n'
                        '[[factors]]\nname = "a"\npath = "like.tif"\nkind = "reclass"\ntable = { 1 = 1 }\n'
                        '[weights]\na = 1.0\n')
    spec = template_grid(read_resistance_config(cfg_path))
    assert spec.shape == (5, 4)  # 7 columns of 30 m need 4 of 60 m (the last overhangs)
    assert spec.transform == Affine(60, 0, X0, 0, -60, Y0) and spec.crs == CRS_UTM


# --------------------------------------------------------------------------- the TOML file's errors

FACTOR = '[[factors]]\nname = "lu"\npath = "lu.tif"\nkind = "reclass"\ntable = { 1 = 1, 2 = 5 }\n'
FACTOR2 = '[[factors]]\nname = "slope"\npath = "lu.tif"\nkind = "breaks"\nbreaks = [1.5]\ngrade_range = [1, 5]\n'


@pytest.fixture()
def folder(tmp_path):
    write_tif(tmp_path / "lu.tif", np.array([[1.0, 2.0], [2.0, 1.0]]), Affine(30, 0, X0, 0, -30, Y0), CRS_UTM)
    return tmp_path


@pytest.mark.parametrize("text, words", [
    ('[grid]\nlike = "lu.tif"\n' + FACTOR, "give either a [weights] table or an [ahp] table"),
    ('[grid]\nlike = "missing.tif"\n' + FACTOR + '[weights]\nlu = 1\n', "[grid] key 'like': file not found"),
    ('[grid]\nlike = "lu.tif"\n' + FACTOR.replace('"reclass"', '"fuzzy"') + '[weights]\nlu = 1\n',
     "factor 'lu' key 'kind': unknown factor kind 'fuzzy'"),
    ('[grid]\nlike = "lu.tif"\n' + FACTOR.replace('lu.tif', 'nope.tif') + '[weights]\nlu = 1\n',
     "factor 'lu' key 'path': file not found"),
    ('[grid]\nlike = "lu.tif"\n' + FACTOR + FACTOR2 + '[weights]\nlu = 0.5\nslope = 0.4\n',
     "[weights]: weights sum to 0.9, not 1"),
    ('[grid]\nlike = "lu.tif"\n' + FACTOR + FACTOR2 + '[weights]\nlu = 1\n', "factor 'slope' has no weight"),
    ('[grid]\nlike = "lu.tif"\n' + FACTOR + '[weights]\nlu = 1\nroads = 0\n', "'roads' is not a factor name"),
    ('[grid]\nlike = "lu.tif"\n' + FACTOR + FACTOR2 + '[ahp]\nmatrix = [[1, 3], [3, 1]]\n',
     "[ahp] key 'matrix': entries [0][1] = 3 and [1][0] = 3 are not reciprocal"),
    ('[grid]\nlike = "lu.tif"\n' + FACTOR + FACTOR2 + '[ahp]\nmatrix = [[1, -3], ["-1/3", 1]]\n',
     "[ahp] key 'matrix': entry [0][1] = -3 must be a positive number"),
    ('[grid]\nlike = "lu.tif"\n' + FACTOR + FACTOR2 + '[ahp]\nmatrix = [[1, "x"], [1, 1]]\n',
     "[ahp] key 'matrix': entry [0][1] = 'x' is not a number"),
    ('[grid]\nlike = "lu.tif"\n' + FACTOR + FACTOR2 + '[ahp]\nmatrix = [[1, 3]]\n',
     "[ahp] key 'matrix': must be 2 rows of 2 entries"),
    ('[grid]\nlike = "lu.tif"\n' + FACTOR2.replace("breaks = [1.5]", "breaks = [2, 1]") + '[weights]\nslope = 1\n',
     "factor 'slope' key 'breaks': must be strictly increasing"),
    ('[grid]\nlike = "lu.tif"\n' + FACTOR2.replace("grade_range = [1, 5]", "grades = [1, 2, 3]")
     + '[weights]\nslope = 1\n', "factor 'slope' key 'grades': 2 classes need 2 grades, got 3"),
    ('[grid]\nlike = "lu.tif"\n' + FACTOR2.replace("grade_range = [1, 5]", "") + '[weights]\nslope = 1\n',
     "factor 'slope': needs grades = [2 values] or grade_range"),
    ('[grid]\nlike = "lu.tif"\n' + FACTOR.replace("table", "tabel") + '[weights]\nlu = 1\n',
     "factor 'lu': unknown key 'tabel'"),
    ('[grid]\nlike = "lu.tif"\n' + FACTOR + 'grade_range = [1, 3]\n[weights]\nlu = 1\n',
     "factor 'lu' key 'table': grade 5 of class 2 is outside grade_range [1.0, 3.0]"),
    ('[grid]\ncrs = "EPSG:32633"\ncellsize = 30\n' + FACTOR + '[weights]\nlu = 1\n', "[grid] key 'extent': is missing"),
    ('[grid]\nlike = "lu.tif"\n' + FACTOR + '[weights]\nlu = 1\n[correction]\nrelative = true\n',
     "[correction] key 'path': is missing"),
    ('[grid\n', "not valid TOML"),
])
def test_config_errors_name_the_file_and_key(folder, text, words):
    path = folder / "study.toml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        factor_weights(read_resistance_config(path))  # the matrix is checked first thing, before any raster
    msg = str(err.value)
    assert words in msg and str(path) in msg and "\n" not in msg


def test_config_paths_are_relative_to_the_toml(folder, monkeypatch):
    (folder / "sub").mkdir()
    path = folder / "sub" / "study.toml"
    path.write_text('[grid]\nlike = "../lu.tif"\n' + FACTOR.replace("lu.tif", "../lu.tif") + '[weights]\nlu = 1\n')
    monkeypatch.chdir("/")
    cfg = read_resistance_config(path)
    assert cfg.factors[0].path.resolve() == (folder / "lu.tif").resolve()
    assert cfg.factors[0].resampling == "nearest"
    assert cfg.factors[0].table == {1.0: 1.0, 2.0: 5.0}


# --------------------------------------------------------------------------- the GPU path

@pytest.fixture()
def on_gpu():
    previous = backend.get_backend()
    try:
        backend.set_backend("gpu")
    except GpuCircuitError:
        pytest.skip("needs CuPy and a CUDA device")
    yield backend.get_backend().xp
    backend.set_backend(previous.name)


@pytest.mark.gpu
def test_gpu_grading_and_distance_match_numpy(on_gpu):
    cp = on_gpu
    rng = np.random.default_rng(5)
    v = rng.choice([1.0, 2.0, 7.0], (300, 400))
    v[rng.random(v.shape) < 0.05] = np.nan
    table = {1.0: 1, 2.0: 3, 7.0: 5}
    cont = rng.gamma(2, 3, v.shape)
    feats = rng.random(v.shape) < 0.001
    cpu = rs.weighted_sum([rs.grade_reclass(v, table), rs.grade_breaks(cont, [2, 5, 9], [1, 2, 4, 5]),
                           rs.grade_breaks(rs.distance_to_features(feats, (30.0, 30.0)), [100, 300], [5, 3, 1])],
                          [0.5, 0.3, 0.2])
    gpu = rs.weighted_sum([rs.grade_reclass(cp.asarray(v), table),
                           rs.grade_breaks(cp.asarray(cont), [2, 5, 9], [1, 2, 4, 5]),
                           rs.grade_breaks(rs.distance_to_features(cp.asarray(feats), (30.0, 30.0)), [100, 300],
                                           [5, 3, 1])], [0.5, 0.3, 0.2])
    np.testing.assert_allclose(cp.asnumpy(gpu), cpu, rtol=1e-12)
    with pytest.raises(InputError, match="no grade for value"):
        rs.grade_reclass(cp.asarray(v), {1.0: 1, 2.0: 3})


# --------------------------------------------------------------------------- distance factors on the template grid

def test_features_beyond_the_grid_count_up_to_the_last_break(tmp_path):
    """A road two cells above the grid: 60 m from the first row, seen because breaks reach 100 m."""
    from gpucircuit.analysis.resistance_surface import feature_distance
    from gpucircuit.io.factors import FactorConfig

    spec = GridSpec((6, 8), Affine(30, 0, X0, 0, -30, Y0), CRS_UTM)
    y = Y0 + 1.5 * 30  # centre of row -2
    gpkg = write_lines(tmp_path / "road.gpkg", [np.array([[X0 - 500, y], [X0 + 500, y]])], {"id": [1]}, crs=CRS_UTM)
    f = FactorConfig(name="roads", path=gpkg, kind="distance", breaks=(45.0, 100.0), grades=(5.0, 3.0, 1.0))
    d = feature_distance(f, spec, np)
    np.testing.assert_allclose(d, (np.arange(6) + 2)[:, None] * 30.0 * np.ones((1, 8)))
    far = FactorConfig(name="roads", path=gpkg, kind="distance", breaks=(10.0, 20.0), grades=(5.0, 3.0, 1.0))
    with pytest.raises(InputError, match="no feature .* on the template grid or within 20 of it"):
        feature_distance(far, spec, np)


def test_distance_from_a_raster_keeps_its_nodata(tmp_path):
    from gpucircuit.analysis.resistance_surface import feature_distance
    from gpucircuit.io.factors import FactorConfig

    spec = GridSpec((5, 6), Affine(30, 0, X0, 0, -30, Y0), CRS_UTM)
    lc = np.full(spec.shape, 41.0)
    lc[2, 3] = 11.0
    lc[0, 0] = np.nan
    path = write_tif(tmp_path / "lc.tif", lc, spec.transform, CRS_UTM)
    f = FactorConfig(name="water", path=path, kind="distance", breaks=(50.0,), grades=(1.0, 2.0), features=(11.0,))
    d = feature_distance(f, spec, np)
    want = brute_distance(lc == 11.0, 30.0, 30.0)
    want[0, 0] = np.nan
    np.testing.assert_allclose(d, want)


def test_vector_in_another_crs_is_reprojected(tmp_path):
    """A road drawn in longitude/latitude lands on the UTM row it was traced along."""
    from rasterio.warp import transform

    spec = GridSpec((10, 12), Affine(30, 0, X0, 0, -30, Y0), CRS_UTM)
    xs = np.linspace(X0 - 60, X0 + 420, 200)
    ys = np.full(xs.size, Y0 - 6.5 * 30)  # centre of row 6
    lon, lat = transform(CRS_UTM, CRS.from_epsg(4326), xs.tolist(), ys.tolist())
    gpkg = write_lines(tmp_path / "road.gpkg", [np.column_stack([lon, lat])], {"id": [1]}, crs=CRS.from_epsg(4326))
    burnt = vector_on_grid(gpkg, spec, "roads")
    assert burnt[6].all() and burnt.sum() == 12


def test_distance_keys_for_the_wrong_kind_of_file(folder):
    path = folder / "study.toml"
    path.write_text('[grid]\nlike = "lu.tif"\n[[factors]]\nname = "d"\npath = "lu.tif"\nkind = "distance"\n'
                    'layer = "roads"\nbreaks = [10]\ngrade_range = [1, 2]\n[weights]\nd = 1\n')
    with pytest.raises(InputError, match="factor 'd' key 'layer': applies to vector features only, and lu.tif is "
                                         "a raster file"):
        read_resistance_config(path)


def test_raster_in_another_crs_nearest_takes_the_cell_under_each_centre(tmp_path):
    """Longitude/latitude classes onto a UTM grid: each UTM cell centre, transformed by hand, falls in
    the source cell whose value it gets (GDAL's approximate transformer may flip a rare borderline cell)."""
    from rasterio.warp import transform

    geo = CRS.from_epsg(4326)
    lon0, lat0, step = 15.0, 36.15, 0.0004  # about 36 m x 44 m cells near the zone's central meridian
    v = np.random.default_rng(9).integers(1, 50, (80, 80)).astype(float)
    path = write_tif(tmp_path / "geo.tif", v, Affine(step, 0, lon0 - 40 * step, 0, -step, lat0 + 40 * step), geo)
    cx, cy = transform(geo, CRS_UTM, [lon0], [lat0])
    dst = GridSpec((40, 40), Affine(30, 0, round(cx[0]) - 600, 0, -30, round(cy[0]) + 600), CRS_UTM)
    got = raster_on_grid(path, dst, "nearest", "raster")
    rows, cols = np.mgrid[0:40, 0:40]
    x = dst.transform.c + (cols + 0.5) * 30
    y = dst.transform.f - (rows + 0.5) * 30
    lon, lat = transform(CRS_UTM, geo, x.ravel().tolist(), y.ravel().tolist())
    sc = np.floor((np.array(lon) - (lon0 - 40 * step)) / step).astype(int)
    sr = np.floor(((lat0 + 40 * step) - np.array(lat)) / step).astype(int)
    want = v[sr, sc].reshape(40, 40)
    assert np.mean(got == want) > 0.99


def test_grading_rows_count_cells_per_class_and_nodata(tmp_path):
    from gpucircuit.analysis.resistance_surface import grade_factor
    from gpucircuit.io.factors import FactorConfig

    spec = GridSpec((3, 4), Affine(30, 0, X0, 0, -30, Y0), CRS_UTM)
    v = np.array([[1.0, 1.0, 2.0, np.nan], [2.0, 2.0, 2.0, 1.0], [np.nan, 1.0, 2.0, 2.0]])
    path = write_tif(tmp_path / "lu.tif", v, spec.transform, CRS_UTM)
    f = FactorConfig(name="lu", path=path, kind="reclass", table={1.0: 2.0, 2.0: 4.0}, nodata_grade=5.0)
    graded, rows = grade_factor(f, spec, np)
    assert [(r["class"], r["grade"], r["cells"]) for r in rows] == [(1.0, 2.0, 4), (2.0, 4.0, 6), ("nodata", 5.0, 2)]
    np.testing.assert_array_equal(graded, np.where(np.isnan(v), 5.0, np.where(v == 1.0, 2.0, 4.0)))
