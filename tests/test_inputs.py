"""Input reading: strict INI values, ASCII grids as Circuitscape reads them, files told apart by
content, one CRS rule, honest pair files, and source / ground text lists."""
import gzip

import numpy as np
import pytest
from rasterio.transform import from_origin

import rasters
from conformance import compare_file
from gpucircuit.errors import InputError
from gpucircuit.io.config import parse_config
from gpucircuit.io.points import read_included_pairs, read_points
from gpucircuit.io.raster import GridSpec, read_raster
from reference import RefCircuit
from shared_data import CS_DIR
from cli_runner import assert_one_line_error, run

TRANSFORM = from_origin(0, 100, 10, 10)


def ascii_grid(path, data, nodata=-9999, xll=0.0, yll=0.0, cellsize=10.0, fmt=None):
    """An ESRI ASCII grid written with plain Python string formatting (independent of our writer)."""
    m, n = data.shape
    rows = [" ".join((fmt or str)(v) for v in row) for row in data]
    text = (f"ncols {n}\nnrows {m}\nxllcorner {xll}\nyllcorner {yll}\ncellsize {cellsize}\n"
            f"NODATA_value {nodata}\n" + "\n".join(rows) + "\n")
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def write_ini(path, **values):
    values = {"data_type": "raster", "scenario": "pairwise", **values}
    path.write_text("[Circuitscape mode]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()))
    return path


@pytest.fixture
def habitat(tmp_path):
    return rasters.write_tif(tmp_path / "res.tif", np.ones((10, 10)), TRANSFORM, "EPSG:3857")


@pytest.fixture
def points(tmp_path):
    p = tmp_path / "pts.txt"
    p.write_text("1 5 95\n2 95 5\n")
    return p


# 1. INI values -------------------------------------------------------------------------------

@pytest.mark.parametrize("key,value", [
    ("habitat_map_is_resistances", "maybe"), ("write_cur_maps", "TRUE"), ("use_mask", "yes"),
    ("precision", "quadruple"), ("solver", "gauss"), ("remove_src_or_gnd", "rmvboth"),
    ("data_type", "graph"), ("max_parallel", "four"), ("max_parallel", "-2"),
])
def test_unrecognised_ini_value_is_an_error_naming_key_value_and_file(tmp_path, habitat, points, key, value):
    ini = write_ini(tmp_path / "job.ini", habitat_file=habitat, point_file=points,
                    output_file=tmp_path / "out" / "job.out", **{key: value})
    code, out = run("run", ini)
    assert_one_line_error(code, out, key, repr(value), str(ini))
    assert not (tmp_path / "out").exists()


def test_unset_scenario_is_an_error(tmp_path, habitat, points):
    ini = write_ini(tmp_path / "job.ini", scenario="not entered", habitat_file=habitat, point_file=points)
    code, out = run("run", ini)
    assert_one_line_error(code, out, "scenario is not set", str(ini))


@pytest.mark.parametrize("spelling,value", [("True", True), ("true", True), ("1", True),
                                            ("False", False), ("false", False), ("0", False)])
def test_circuitscape_boolean_spellings(spelling, value):
    cfg = parse_config({"scenario": "pairwise", "write_cur_maps": spelling, "habitat_map_is_resistances": spelling})
    assert cfg.write_cur_maps is value and cfg.habitat_map_is_resistances is value


@pytest.mark.parametrize("key,raw,expected", [
    ("scenario", "one_to_all", "one-to-all"), ("scenario", "Advanced", "advanced"),
    ("scenario", "all_to_one", "all-to-one"), ("data_type", "Raster", "raster"),
    ("precision", "Single", "single"), ("precision", "Double", "double"),
    ("solver", "amg+cg", "cg+amg"), ("solver", "cholesky", "cholmod"), ("solver", "mg", "mg"),
    ("remove_src_or_gnd", "rmvall", "rmvall"), ("remove_src_or_gnd", "not entered", "keepall"),
    ("max_parallel", "6", 6), ("mask_file", "None", None), ("polygon_file", "(Browse for a file)", None),
])
def test_enumerations_and_placeholders(key, raw, expected):
    values = {"scenario": "pairwise", key: raw}
    assert getattr(parse_config(values), key) == expected


def test_ini_solver_picks_our_method():
    from gpucircuit.pipeline import solve_options

    def method(name):
        return solve_options(parse_config({"scenario": "pairwise", "solver": name})).method

    assert [method(s) for s in ("cholmod", "cg+amg", "mg", "amg")] == ["direct", "auto", "mg", "amg"]


# 2. ASCII grids ------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".asc", ".asc.gz", ".txt"])
def test_ascii_grid_integers_above_2_31_read_exactly(tmp_path, suffix):
    data = np.array([[10**15, 2, 3], [4, -9999, 3 * 10**12]], dtype=np.int64)
    path = ascii_grid(tmp_path / f"big{suffix}", data)
    values, spec = read_raster(path)
    assert values.dtype == np.float64
    assert values[0, 0] == 1e15 and values[1, 2] == 3e12
    assert np.isnan(values[1, 1]) and values[0, 1] == 2
    assert spec.shape == (2, 3) and spec.transform.f == 20.0


def test_big_resistance_grid_gives_the_right_resistance(tmp_path):
    """A 1 x 4 strip of integer resistances above 2**31: R between its ends = the series sum."""
    res = np.array([[3 * 10**9, 5 * 10**9, 4 * 10**9, 3 * 10**9]], dtype=np.int64)
    hab = ascii_grid(tmp_path / "r.asc", res, cellsize=1.0)
    pts = ascii_grid(tmp_path / "p.asc", np.array([[1, 0, 0, 2]]), cellsize=1.0)
    ini = write_ini(tmp_path / "job.ini", habitat_file=hab, point_file=pts, output_file=tmp_path / "o" / "j.out",
                    connect_four_neighbors_only="True")
    code, out = run("run", ini)
    assert code == 0, out
    r = np.loadtxt(tmp_path / "o" / "j_resistances.out")[1, 2]
    g = 1 / res[0].astype(float)
    expected = sum(1 / ((g[i] + g[i + 1]) / 2) for i in range(3))  # series of averaged conductances
    assert r == pytest.approx(expected, rel=1e-6)
    assert r > 1e9  # GDAL's int32 wrap would have made these resistances negative


def test_word_in_grid_names_file_and_cell(tmp_path, points):
    hab = tmp_path / "r.asc"
    ascii_grid(hab, np.ones((10, 10)))
    lines = hab.read_text().splitlines()
    row = lines[6 + 3].split()
    row[7] = "abc"
    lines[6 + 3] = " ".join(row)
    hab.write_text("\n".join(lines) + "\n")
    code, out = run("pairwise", hab, points, "-o", tmp_path / "o")
    assert_one_line_error(code, out, str(hab), "'abc'", "row 3, column 7")
    assert not (tmp_path / "o" / "pairwise_resistances.csv").exists()


@pytest.mark.parametrize("cut,found", [(1, 99), (-1, 101)])
def test_grid_with_wrong_value_count(tmp_path, points, cut, found):
    hab = ascii_grid(tmp_path / "r.asc", np.ones((10, 10)))
    text = hab.read_text().rstrip("\n")
    hab.write_text(text.rsplit(None, 1)[0] + "\n" if cut == 1 else text + " 1\n")
    code, out = run("pairwise", hab, points, "-o", tmp_path / "o")
    assert_one_line_error(code, out, str(hab), f"holds {found} values", "= 100")


# 3. Point files by content ---------------------------------------------------------------------

def test_point_raster_named_txt_is_a_raster(tmp_path):
    p = np.zeros((10, 10))
    p[1, 2], p[7, 8] = 3, 9
    path = ascii_grid(tmp_path / "points.txt", p, yll=0.0)
    spec = GridSpec((10, 10), TRANSFORM)
    pts = read_points(path, spec)
    assert {k: v.tolist() for k, v in pts.items()} == {3: [12], 9: [78]}


def test_point_list_with_other_suffix_is_a_list(tmp_path):
    path = tmp_path / "points.asc"
    path.write_text("3 25 85\n9 85 25\n")  # map coordinates of the cells (1, 2) and (7, 8)
    pts = read_points(path, GridSpec((10, 10), TRANSFORM))
    assert {k: v.tolist() for k, v in pts.items()} == {3: [12], 9: [78]}


# 4. One CRS rule -------------------------------------------------------------------------------

@pytest.mark.parametrize("what", ["points", "mask", "polygons"])
def test_raster_without_crs_beside_habitat_with_one(tmp_path, habitat, points, what):
    other = np.zeros((10, 10))
    other[0, 0], other[9, 9] = 1, 2
    path = rasters.write_tif(tmp_path / f"{what}.tif", other, TRANSFORM, None)
    args = [habitat, path if what == "points" else points, "-o", tmp_path / "o"]
    if what != "points":
        args += [f"--{what}", path]
    code, out = run("pairwise", *args)
    assert_one_line_error(code, out, str(path), "no CRS")


def test_habitat_without_crs_beside_points_with_one(tmp_path):
    hab = rasters.write_tif(tmp_path / "r.tif", np.ones((10, 10)), TRANSFORM, None)
    p = np.zeros((10, 10))
    p[0, 0], p[9, 9] = 1, 2
    pts = rasters.write_tif(tmp_path / "p.tif", p, TRANSFORM, "EPSG:3857")
    code, out = run("pairwise", hab, pts, "-o", tmp_path / "o")
    assert_one_line_error(code, out, "habitat raster has no CRS", str(pts))


def test_source_raster_without_crs(tmp_path, habitat):
    src = np.zeros((10, 10))
    src[0, 0] = 1
    gnd = np.full((10, 10), np.nan)
    gnd[9, 9] = 0
    s = rasters.write_tif(tmp_path / "s.tif", src, TRANSFORM, None)
    g = rasters.write_tif(tmp_path / "g.tif", gnd, TRANSFORM, "EPSG:3857")
    code, out = run("advanced", habitat, s, g, "-o", tmp_path / "o")
    assert_one_line_error(code, out, str(s), "no CRS")


# 7. Pair files -----------------------------------------------------------------------------------

def test_unknown_ids_in_pair_file_warn_once(tmp_path, capsys):
    inc = tmp_path / "inc.txt"
    inc.write_text("mode include\n1 2\n2 7\n8 1\n")
    ids, chosen = read_included_pairs(inc, [1, 2, 3])
    assert ids == [1, 2] and chosen.tolist() == [[False, True], [True, False]]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: ") and "7, 8" in err[0] and str(inc) in err[0]


def test_unknown_ids_in_matrix_pair_file_warn(tmp_path, capsys):
    inc = tmp_path / "inc.txt"
    inc.write_text("min 1\nmax 5\n0 1 2 9\n1 0 3 3\n2 3 0 3\n9 3 3 0\n")
    ids, chosen = read_included_pairs(inc, [1, 2])
    assert ids == [1, 2] and chosen[0, 1]
    assert "9" in capsys.readouterr().err


def test_pair_file_excluding_everything_is_an_error(tmp_path):
    inc = tmp_path / "exc.txt"
    inc.write_text("mode exclude\n1 2\n")
    with pytest.raises(InputError, match="excludes every pair"):
        read_included_pairs(inc, [1, 2])


def test_pair_file_with_only_unknown_ids_through_cli(tmp_path, habitat, points):
    inc = tmp_path / "inc.txt"
    inc.write_text("mode include\n5 6\n")
    code, out = run("pairwise", habitat, points, "-o", tmp_path / "o", "--include", inc)
    assert_one_line_error(code, out, "selects no pair", "id(s) 5, 6 that are not focal points")


def test_pair_file_with_some_unknown_ids_through_cli(tmp_path, habitat, points):
    inc = tmp_path / "inc.txt"
    inc.write_text("mode include\n1 2\n2 6\n")
    code, out = run("pairwise", habitat, points, "-o", tmp_path / "o", "--include", inc)
    assert code == 0, out
    warns = [ln for ln in out.splitlines() if ln.startswith("warning: ")]
    assert len(warns) == 1 and "id(s) 6 that are not focal points" in warns[0]


# 8. Source and ground text lists -----------------------------------------------------------------

def grid_as_list(asc, path):
    """``value x y`` lines (cell centres) for every non-nodata cell of an ASCII grid, parsed with numpy."""
    head = dict(ln.split()[:2] for ln in asc.read_text().splitlines()[:6])
    head = {k.lower(): float(v) for k, v in head.items()}
    values = np.loadtxt(asc, skiprows=6)
    m = values.shape[0]
    rows = [f"{float(values[r, c])!r} {float(head['xllcorner'] + (c + 0.5) * head['cellsize'])!r} "
            f"{float(head['yllcorner'] + (m - r - 0.5) * head['cellsize'])!r}"
            for r, c in zip(*np.nonzero(values != head["nodata_value"]))]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("case", ["1", "2"])
def test_advanced_with_text_lists_equals_rasters(tmp_path, monkeypatch, case):
    folder = CS_DIR / "input" / "raster" / "advanced" / case
    ini = folder / f"mgVerify{case}.ini"
    text = ini.read_text()
    src = next(folder.glob("sources*.asc"))
    gnd = next(folder.glob("grounds*.asc"))
    lists = tmp_path / "lists.ini"
    lists.write_text(text.replace(f"input/raster/advanced/{case}/{src.name}", str(grid_as_list(src, tmp_path / "s.txt")))
                     .replace(f"input/raster/advanced/{case}/{gnd.name}", str(grid_as_list(gnd, tmp_path / "g.txt"))))
    assert str(tmp_path / "s.txt") in lists.read_text() and str(tmp_path / "g.txt") in lists.read_text()
    monkeypatch.chdir(CS_DIR)
    outputs = {}
    for label, path in (("rasters", ini), ("lists", lists)):
        out = tmp_path / label
        path_text = path.read_text().replace(f"output/mgVerify{case}.out", str(out / f"mgVerify{case}.out"))
        job = tmp_path / f"{label}.ini"
        job.write_text(path_text)
        code, msg = run("run", job)
        assert code == 0, msg
        outputs[label] = sorted(out.iterdir())
    assert [p.name for p in outputs["lists"]] == [p.name for p in outputs["rasters"]]
    for ours in outputs["lists"]:
        assert compare_file(ours, CS_DIR / "output_verify" / ours.name) is None
        a, b = np.loadtxt(ours, skiprows=6), np.loadtxt(tmp_path / "rasters" / ours.name, skiprows=6)
        assert np.array_equal(a, b)


def test_source_list_point_outside_and_repeated_cells(tmp_path, habitat):
    gnd = tmp_path / "g.txt"
    gnd.write_text("0 95 5\n")
    src = tmp_path / "s.txt"
    src.write_text("1 5 95\n2 500 5\n")
    code, out = run("advanced", habitat, src, gnd, "-o", tmp_path / "o")
    assert_one_line_error(code, out, str(src), "outside")
    src.write_text("1 5 95\n3 6 94\n")  # both on cell (0, 0): Circuitscape keeps the last
    code, out = run("advanced", habitat, src, gnd, "-o", tmp_path / "o")
    assert code == 0, out
    warn = [ln for ln in out.splitlines() if ln.startswith("warning: ")]
    assert len(warn) == 1 and "row 0, column 0" in warn[0]
    volts = read_raster(tmp_path / "o" / "advanced_voltmap.tif")[0]
    ref = RefCircuit(np.ones((10, 10)))
    v = ref.solve({ref.node_of[(0, 0)]: 3.0}, [ref.node_of[(9, 9)]])
    assert volts[0, 0] == pytest.approx(v[ref.node_of[(0, 0)]], rel=1e-6)


# 5. Vector cores: nothing lost silently ----------------------------------------------------------

def write_polygons(path, polys, ids, crs="EPSG:3857"):
    import pyogrio.raw
    import shapely

    pyogrio.raw.write(str(path), np.array(shapely.to_wkb(polys), dtype=object), [np.asarray(ids, dtype=np.int32)],
                      ["core_id"], driver="GPKG", geometry_type="Polygon", crs=crs)
    return path


def test_truncated_shapefile_is_an_error(tmp_path):
    from shared_data import DEMO

    for ext in ("shp", "shx", "dbf", "prj"):
        data = (DEMO / f"lm_cores.{ext}").read_bytes()
        (tmp_path / f"cut.{ext}").write_bytes(data[: len(data) // 2] if ext == "shp" else data)
    code, out = run("corridors", DEMO / "lm_resistances.tif", tmp_path / "cut.shp", "-o", tmp_path / "o")
    assert_one_line_error(code, out, str(tmp_path / "cut.shp"), "no geometry", "core_id")
    assert not (tmp_path / "o" / "corridors.tif").exists()


def test_truncated_dbf_is_an_error(tmp_path):
    from shared_data import DEMO

    for ext in ("shp", "shx", "dbf", "prj"):
        data = (DEMO / f"lm_cores.{ext}").read_bytes()
        (tmp_path / f"cut.{ext}").write_bytes(data[: len(data) * 2 // 3] if ext == "dbf" else data)
    code, out = run("corridors", DEMO / "lm_resistances.tif", tmp_path / "cut.shp", "-o", tmp_path / "o")
    assert_one_line_error(code, out, "cannot read cores", str(tmp_path / "cut.shp"))


@pytest.mark.parametrize("box,bad", [((-20, 30, 30, 60), "3"), ((200, 200, 260, 260), "3")])
def test_core_outside_the_raster_names_its_id(tmp_path, habitat, box, bad):
    import shapely

    cores = write_polygons(tmp_path / "c.gpkg", [shapely.box(10, 10, 40, 40), shapely.box(60, 60, 90, 90),
                                                 shapely.box(*box)], [1, 2, 3])
    code, out = run("corridors", habitat, cores, "-o", tmp_path / "o")
    assert_one_line_error(code, out, str(cores), f"core(s) {bad} lie partly or wholly outside")


def test_core_covering_no_cell_centre(tmp_path, habitat):
    import shapely

    cores = write_polygons(tmp_path / "c.gpkg", [shapely.box(10, 10, 40, 40), shapely.box(60, 60, 90, 90),
                                                 shapely.box(51, 51, 54, 54)], [1, 2, 8])
    code, out = run("corridors", habitat, cores, "-o", tmp_path / "o")
    assert_one_line_error(code, out, "core(s) 8 cover no cell centre")


# 6. Class-coded rasters given as cores -----------------------------------------------------------

def test_class_coded_core_raster_is_split_into_patches(tmp_path, capsys):
    from scipy import ndimage

    from gpucircuit.io.cores import read_cores

    codes = np.zeros((10, 10))
    codes[0:2, 0:2] = 17       # core class, patch 1
    codes[7:9, 6:9] = 17       # core class, patch 2
    codes[4, 4] = 17           # core class, patch 3 (alone)
    codes[5, 5] = 17           # diagonal neighbour of (4, 4): the same 8-connected patch
    codes[0:2, 6:9] = 3        # edge class, one patch
    path = rasters.write_tif(tmp_path / "mspa.tif", codes, TRANSFORM, "EPSG:3857", nodata=0)
    cores = read_cores(path, GridSpec((10, 10), TRANSFORM, rasters_crs()), np.ones((10, 10)))
    # brute force: the patches of each value by ndimage.label, one core each
    expected = 0
    for v in (3, 17):
        lab, count = ndimage.label(codes == v, structure=np.ones((3, 3)))
        expected += count
        for k in range(1, count + 1):
            got = np.unique(cores.labels[lab == k])
            assert got.size == 1 and got[0] > 0  # a patch is one core ...
            assert np.array_equal(cores.labels == got[0], lab == k)  # ... and that core is exactly it
    assert len(cores.ids) == expected == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: ") and "class-coded" in err[0] and "value 17" in err[0]


def test_id_raster_with_one_patch_per_id_is_unchanged(tmp_path, capsys):
    from gpucircuit.io.cores import read_cores

    ids = np.zeros((10, 10))
    ids[0:2, 0:2], ids[2:4, 2:4], ids[7:9, 6:9] = 5, 9, 12   # 5 and 9 touch diagonally: still one patch each
    path = rasters.write_tif(tmp_path / "ids.tif", ids, TRANSFORM, "EPSG:3857", nodata=0)
    cores = read_cores(path, GridSpec((10, 10), TRANSFORM, rasters_crs()), np.ones((10, 10)))
    assert cores.ids == [5, 9, 12] and np.array_equal(cores.labels, ids.astype(np.int64))
    assert capsys.readouterr().err == ""


def test_class_coded_warning_through_cli(tmp_path, habitat):
    codes = np.zeros((10, 10))
    codes[0:2, 0:2] = codes[7:9, 7:9] = 17
    cores = rasters.write_tif(tmp_path / "mspa.tif", codes, TRANSFORM, "EPSG:3857", nodata=0)
    code, out = run("corridors", habitat, cores, "-o", tmp_path / "o")
    assert code == 0, out
    warns = [ln for ln in out.splitlines() if ln.startswith("warning: ")]
    assert len(warns) == 1 and "value 17 forms 2 patches" in warns[0] and "(2 cores)" in warns[0]


def rasters_crs():
    from rasterio.crs import CRS

    return CRS.from_user_input("EPSG:3857")


def test_enumerated_options_checked_however_set(tmp_path, habitat):
    src = np.zeros((10, 10))
    src[0, 0] = 1
    s = rasters.write_tif(tmp_path / "s.tif", src, TRANSFORM, "EPSG:3857")
    code, out = run("advanced", habitat, s, s, "-o", tmp_path / "o", "--remove", "rmvboth")
    assert_one_line_error(code, out, "remove_src_or_gnd", "'rmvboth'", "keepall")
