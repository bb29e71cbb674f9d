import numpy as np
import pytest
import shapely
from pyogrio import raw
from shapely.geometry import LineString, MultiLineString, box

from gpucircuit.analysis.breakpoints import find_breakpoints, read_lines
from gpucircuit.errors import InputError

CRS = "EPSG:32648"


def _write_lines(path, geoms, names, kinds, crs=CRS, driver="GPKG"):
    raw.write(str(path), np.array(shapely.to_wkb(geoms), dtype=object),
              [np.array(names, dtype=object), np.array(kinds, dtype=object),
               np.arange(1, len(geoms) + 1, dtype=np.int64)],
              ["name", "fclass", "x"], geometry_type="LineString", crs=crs, driver=driver)


@pytest.fixture
def roads(tmp_path):
    geoms = [LineString([(500, -100), (500, 1100)]),          # vertical road at x = 500
             LineString([(-100, 800), (1100, 800)]),          # horizontal railway at y = 800
             LineString([(2000, 0), (2000, 1000)])]           # far away, crosses nothing
    p = tmp_path / "lines.gpkg"
    _write_lines(p, geoms, ["G318", "Chengyu rail", "S1"], ["primary", "rail", "secondary"])
    return p


def test_read_lines(roads):
    feats, crs = read_lines(roads)
    assert len(feats) == 3 and crs == CRS
    assert feats[0][0] == {"name": "G318", "fclass": "primary", "x": 1}
    assert feats[1][1].equals(LineString([(-100, 800), (1100, 800)]))


def test_crossings_from_geopackage(roads):
    paths = [
        ("L1", LineString([(0, 0), (1000, 0)])),                          # crosses the road once
        ("L2", LineString([(0, 900), (1000, 500)])),                      # road and railway
        ("L3", LineString([(600, 0), (900, 300)])),                       # crosses nothing
    ]
    rows = find_breakpoints(paths, roads, paths_crs="EPSG:32648")
    got = [(r["link_id"], round(r["x"], 6), round(r["y"], 6), r["name"]) for r in rows]
    # L2: y = 900 - 0.4 x meets y = 800 at x = 250 (railway), then x = 500 at y = 700 (road)
    assert got == [("L1", 500.0, 0.0, "G318"),
                   ("L2", 250.0, 800.0, "Chengyu rail"),
                   ("L2", 500.0, 700.0, "G318")]
    assert all(r["kind"] == "crossing" for r in rows)
    # clashing attribute name is prefixed, the computed coordinate kept
    assert rows[0]["line_x"] == 1 and rows[0]["x"] == 500.0
    assert rows[0]["fclass"] == "primary" and rows[0]["line_index"] == 0
    assert rows[2]["distance_along"] == pytest.approx(np.hypot(500, 200))


def test_corridor_polygon_boundary_and_overlap():
    lines = [({"name": "road"}, LineString([(5, -5), (5, 15)])),
             ({"name": "rail"}, LineString([(0, 10), (3, 10)]))]          # runs along an edge
    paths = [(7, box(0, 0, 10, 10)), (8, MultiLineString([[(0, 2), (5, 2)], [(5, 2), (9, 2)]]))]
    rows = find_breakpoints(paths, lines)
    r7 = [(r["x"], r["y"], r["kind"], r["name"]) for r in rows if r["link_id"] == 7]
    assert sorted(r7) == sorted([(5.0, 0.0, "crossing", "road"), (5.0, 10.0, "crossing", "road"),
                                 (1.5, 10.0, "overlap", "rail")])
    r8 = [r for r in rows if r["link_id"] == 8]
    assert len(r8) == 1 and (r8[0]["x"], r8[0]["y"]) == (5.0, 2.0)   # shared vertex reported once


def test_crs_mismatch_is_an_input_error(roads, tmp_path):
    paths = [("L1", LineString([(0, 0), (1000, 0)]))]
    with pytest.raises(InputError, match="CRS mismatch"):
        find_breakpoints(paths, roads, paths_crs="EPSG:4326")
    # equivalent CRS spelled as WKT is accepted
    from rasterio.crs import CRS as RCRS
    assert len(find_breakpoints(paths, roads, paths_crs=RCRS.from_epsg(32648).to_wkt())) == 1
    with pytest.raises(InputError):
        find_breakpoints(paths, [({}, LineString([(5, -5), (5, 5)]))],
                         paths_crs="EPSG:32648", lines_crs="EPSG:3857")


def test_shapefile_and_where_filter(tmp_path):
    p = tmp_path / "rail.shp"
    _write_lines(p, [LineString([(5, -5), (5, 5)]), LineString([(7, -5), (7, 5)])],
                 ["a", "b"], ["rail", "primary"], driver="ESRI Shapefile")
    paths = [(1, LineString([(0, 0), (10, 0)]))]
    rows = find_breakpoints(paths, p, paths_crs=CRS)
    assert [r["name"] for r in rows] == ["a", "b"]
    rows = find_breakpoints(paths, p, paths_crs=CRS, where="fclass = 'rail'")
    assert [r["x"] for r in rows] == [5.0]


def test_bad_inputs(tmp_path):
    with pytest.raises(InputError):
        find_breakpoints([(1, LineString([(0, 0), (1, 1)]))], tmp_path / "missing.gpkg")
    with pytest.raises(InputError):
        find_breakpoints([(1, shapely.Point(0, 0))], [({}, LineString([(0, 0), (1, 1)]))])
    assert find_breakpoints([(1, LineString([(0, 0), (1, 1)]))], []) == []
