"""Linkage Pathways: adjacency, pruning, corridors, link table, core input; demo end to end."""
import math

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from gpucircuit.analysis import corridors as LP
from gpucircuit.analysis.cwd import cost_distance
from gpucircuit.errors import InputError
from gpucircuit.io.cores import cores_from_labels, read_cores
from gpucircuit.io.raster import GridSpec, read_raster

from shared_data import DEMO  # noqa: E402


def channel_landscape():
    """A and C far apart on a costly plain; a cheap channel joins them via core B at the top."""
    r = np.full((24, 40), 100.0)
    r[2:12, 4] = 1.0  # up from A
    r[2, 4:36] = 1.0  # across the top, through B
    r[2:12, 35] = 1.0  # down to C
    r[20:, 15:25] = np.nan  # a nodata hole
    labels = np.zeros(r.shape, dtype=np.int64)
    labels[10:14, 3:6] = 1  # A
    labels[1:4, 19:22] = 2  # B
    labels[10:14, 34:37] = 3  # C
    return r, labels


def test_channel_links_crossing_and_corridors():
    r, labels = channel_landscape()
    res = LP.linkage_pathways(r, labels, 10.0, LP.LinkageOptions(cwd_threshold=2000.0))
    by_pair = {(lk.core_a, lk.core_b): lk for lk in res.links}
    assert set(by_pair) == {(1, 2), (2, 3), (1, 3)}
    ac = by_pair[(1, 3)]
    assert "euclidean" in ac.adjacency
    assert ac.status == "crosses_core" and ac.crossed_core == 2
    assert by_pair[(1, 2)].active and by_pair[(2, 3)].active
    for lk in res.links:
        cwd_a = cost_distance(r, labels == lk.core_a, 10.0)
        assert lk.lcd == pytest.approx(cwd_a[labels == lk.core_b].min(), rel=1e-12)
        # the path starts in B, ends in A, and its cost is the LCD
        assert labels[tuple(lk.path[0])] == lk.core_b and labels[tuple(lk.path[-1])] == lk.core_a
        steps = np.diff(lk.path, axis=0)
        assert lk.lcp_length == pytest.approx(10.0 * np.hypot(steps[:, 0], steps[:, 1]).sum())
        assert lk.cwd_to_path_length == pytest.approx(lk.lcd / lk.lcp_length)
        assert lk.cwd_to_euclidean == pytest.approx(lk.lcd / lk.euclidean)
    # corridor mosaic = min over active links of CWD_A + CWD_B - LCD, truncated at the threshold
    expect = np.full(r.shape, np.inf)
    for lk in res.active_links:
        expect = np.minimum(expect, res.cwd[lk.core_a] + res.cwd[lk.core_b] - lk.lcd)
    expect = np.maximum(expect, 0)
    keep = np.isfinite(expect) & (expect <= 2000.0) & np.isfinite(r)
    assert np.array_equal(np.isfinite(res.corridors), keep)
    np.testing.assert_allclose(res.corridors[keep], expect[keep], atol=1e-9)
    for lk in res.active_links:
        assert np.all(res.corridors[lk.path[:, 0], lk.path[:, 1]] < 1e-9)
    assert np.all(np.isnan(res.corridors[~np.isfinite(r)]))

    kept = LP.linkage_pathways(r, labels, 10.0, LP.LinkageOptions(drop_crossing=False))
    assert all(lk.active for lk in kept.links)


def test_distance_limits_and_adjacency_methods():
    r, labels = channel_landscape()
    res = LP.linkage_pathways(r, labels, 10.0, LP.LinkageOptions(cwd_adjacency=True, euclidean_adjacency=False))
    assert {(lk.core_a, lk.core_b) for lk in res.links} == {(1, 2), (2, 3)}
    lcds = sorted(lk.lcd for lk in res.links)
    limited = LP.linkage_pathways(r, labels, 10.0, LP.LinkageOptions(max_cwd=lcds[0] + 1, euclidean_adjacency=False))
    assert [lk.status for lk in limited.links].count("max_cwd") == 1
    short = LP.linkage_pathways(r, labels, 10.0, LP.LinkageOptions(max_euclidean=1.0))
    assert {lk.status for lk in short.links} == {"max_euclidean"}
    assert np.all(np.isnan(short.corridors))
    with pytest.raises(InputError, match="adjacency"):
        LP.linkage_pathways(r, labels, 10.0, LP.LinkageOptions(cwd_adjacency=False, euclidean_adjacency=False))


def test_adjacent_pairs_eight_neighbour_contact():
    alloc = np.array([[1, 1, 0, 0],
                      [1, 0, 3, 0],
                      [0, 2, 0, 4]])
    # 1-3 touch diagonally, 1-2 diagonally, 2-3 diagonally, 3-4 diagonally; nothing touches via 0
    assert LP.adjacent_pairs(alloc) == {(1, 3), (1, 2), (2, 3), (3, 4)}


def _link(i, a, b, lcd):
    return LP.Link(link_id=i, core_a=a, core_b=b, adjacency="cwd", lcd=lcd)


def test_knn_and_constellations():
    links = [_link(1, 1, 2, 1.0), _link(2, 2, 3, 2.0), _link(3, 1, 3, 3.0), _link(4, 4, 5, 1.0),
             _link(5, 3, 4, 10.0), _link(6, 1, 5, 20.0)]
    keep = LP.knn_keep(links, 1)
    assert keep == {1, 2, 4}
    kept = [lk for lk in links if lk.link_id in keep]
    pruned = [lk for lk in links if lk.link_id not in keep]
    assert LP.constellation_links([1, 2, 3, 4, 5], kept, pruned) == [5]
    assert LP.knn_keep(links, 2) == {1, 2, 3, 4, 5, 6}
    with pytest.raises(InputError):
        LP.knn_keep(links, 0)


def test_link_table_round_trip(tmp_path):
    links = [_link(1, 1, 2, 10.5), _link(2, 2, 3, math.inf)]
    links[0].euclidean, links[0].lcp_length = 3.0, 7.0
    links[1].status = "unreachable"
    p = tmp_path / "links.csv"
    p.write_text(LP.link_table_text(links))
    back = LP.read_link_table(p)
    assert [(lk.link_id, lk.core_a, lk.core_b, lk.status) for lk in back] == [(1, 1, 2, "active"), (2, 2, 3, "unreachable")]
    assert back[0].lcd == 10.5 and back[0].cwd_to_euclidean == pytest.approx(3.5) and math.isinf(back[1].lcd)
    assert p.read_text().splitlines()[0].startswith("link_id,core_a,core_b")


# -- core input --------------------------------------------------------------------------------
def _spec(crs="EPSG:32633"):
    from affine import Affine
    from rasterio.crs import CRS

    return GridSpec((20, 30), Affine(10.0, 0, 1000.0, 0, -10.0, 2000.0), CRS.from_user_input(crs))


def _write_polys(path, polys, ids, crs="EPSG:32633", field="core_id"):
    import pyogrio.raw
    import shapely

    pyogrio.raw.write(str(path), np.array(shapely.to_wkb(polys), dtype=object), [np.asarray(ids, dtype=np.int32)],
                      [field], driver="GPKG", geometry_type="Polygon", crs=crs)


def test_read_polygon_cores(tmp_path):
    import shapely

    p = tmp_path / "cores.gpkg"
    _write_polys(p, [shapely.box(1020, 1820, 1060, 1860), shapely.box(1200, 1900, 1250, 1950)], [7, 9])
    cores = read_cores(p, _spec(), np.ones((20, 30)))
    assert cores.ids == [7, 9]
    assert (cores.labels == 7).sum() == 16 and (cores.labels == 9).sum() == 25
    assert set(cores.geometries) == {7, 9}
    with pytest.raises(InputError, match="no field 'patch'"):
        read_cores(p, _spec(), field="patch")


def test_core_input_errors(tmp_path):
    import shapely

    a, b = shapely.box(1020, 1820, 1060, 1860), shapely.box(1200, 1900, 1250, 1950)
    p = tmp_path / "wgs.gpkg"
    _write_polys(p, [a, b], [1, 2], crs="EPSG:4326")
    with pytest.raises(InputError, match="CRS"):
        read_cores(p, _spec())
    p = tmp_path / "far.gpkg"
    _write_polys(p, [shapely.box(9e5, 9e5, 9.1e5, 9.1e5), shapely.box(8e5, 8e5, 8.1e5, 8.1e5)], [1, 2])
    with pytest.raises(InputError, match="do not overlap"):
        read_cores(p, _spec())
    p = tmp_path / "one.gpkg"
    _write_polys(p, [a], [1])
    with pytest.raises(InputError, match="only one core"):
        read_cores(p, _spec())
    p = tmp_path / "two.gpkg"
    _write_polys(p, [a, b], [1, 2])
    res = np.ones((20, 30))
    res[:10, 18:] = np.nan  # under core 2
    with pytest.raises(InputError, match="core\\(s\\) 2 lie only on resistance nodata"):
        read_cores(p, _spec(), res)
    with pytest.raises(InputError, match="not found"):
        read_cores(tmp_path / "missing.shp", _spec())
    with pytest.raises(InputError, match="no core cells"):
        cores_from_labels(np.zeros((3, 3)))
    with pytest.raises(InputError, match="only one core"):
        cores_from_labels(np.eye(3))


def test_read_raster_cores(tmp_path):
    import rasterio

    spec = _spec()
    labels = np.zeros(spec.shape, dtype=np.int32)
    labels[2:4, 2:4], labels[10:12, 20:22] = 3, 5
    p = tmp_path / "cores.tif"
    with rasterio.open(p, "w", driver="GTiff", height=20, width=30, count=1, dtype="int32", crs=spec.crs,
                       transform=spec.transform, nodata=-1) as ds:
        ds.write(labels, 1)
    cores = read_cores(p, spec, np.ones(spec.shape))
    assert cores.ids == [3, 5] and np.array_equal(cores.labels, labels) and cores.geometries is None
    from affine import Affine

    other = GridSpec(spec.shape, Affine(10.0, 0, 0.0, 0, -10.0, 2000.0), spec.crs)
    with pytest.raises(InputError, match="not aligned"):
        read_cores(p, other)


# -- the Linkage Mapper demo ---------------------------------------------------------------
def independent_graph(r, dx, dy):
    """Same 8-neighbour CWD graph, built from all eight offsets with ravel_multi_index."""
    m, n = r.shape
    ii, jj = np.mgrid[0:m, 0:n]
    rows, cols, w = [], [], []
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if not (di or dj):
                continue
            p, q = ii + di, jj + dj
            inside = (p >= 0) & (p < m) & (q >= 0) & (q < n)
            i0, j0, p, q = ii[inside], jj[inside], p[inside], q[inside]
            ok = np.isfinite(r[i0, j0]) & np.isfinite(r[p, q])
            rows.append(np.ravel_multi_index((i0[ok], j0[ok]), (m, n)))
            cols.append(np.ravel_multi_index((p[ok], q[ok]), (m, n)))
            w.append((r[i0[ok], j0[ok]] + r[p[ok], q[ok]]) / 2 * math.hypot(di * dy, dj * dx))
    return coo_matrix((np.concatenate(w), (np.concatenate(rows), np.concatenate(cols))), shape=(m * n, m * n)).tocsr()


def test_demo_linkage_pathways_against_dijkstra():
    r, spec = read_raster(DEMO / "lm_resistances.tif")
    cores = read_cores(DEMO / "lm_cores.shp", spec, r)
    cs = (abs(spec.transform.a), abs(spec.transform.e))
    opts = LP.LinkageOptions(max_cwd=100_000, max_euclidean=40_000, knn=4, connect_constellations=True,
                             drop_crossing=True, cwd_threshold=200_000)
    res = LP.linkage_pathways(r, cores.labels, cs, opts, euclidean_distances=LP.polygon_core_distances(cores.geometries))
    assert res.core_ids == [1, 2, 3, 4, 5, 6]
    g = independent_graph(r, *cs)
    for lk in res.links:
        d = dijkstra(g, indices=np.flatnonzero(cores.labels == lk.core_a), min_only=True).reshape(r.shape)
        assert lk.lcd == pytest.approx(d[cores.labels == lk.core_b].min(), rel=1e-10)
    d1 = dijkstra(g, indices=np.flatnonzero(cores.labels == 1), min_only=True).reshape(r.shape)
    fin = np.isfinite(d1)
    np.testing.assert_allclose(res.cwd[1][fin], d1[fin], rtol=1e-10)
    # Euclidean distances: the polygon edge-to-edge distances are those of upstream's distance file
    table = {(int(a), int(b)): float(x) for a, b, x in (ln.split() for ln in
                                                         (DEMO / "distances_lm_cores.txt").read_text().split("\n") if ln.strip())}
    raster_d = LP.euclidean_core_distances(cores.labels, cores.ids, cs)
    for lk in res.links:
        assert lk.euclidean == pytest.approx(table[(lk.core_a, lk.core_b)], rel=1e-9)
    for pair, x in table.items():
        assert 0 <= raster_d[pair] - x <= 1.5 * cs[0]
    status = {(lk.core_a, lk.core_b): lk.status for lk in res.links}
    assert all(lk.lcd <= 100_000 for lk in res.active_links)
    assert all(lk.euclidean <= 40_000 for lk in res.active_links)
    assert status[(1, 2)] == "max_cwd" and status[(2, 5)] == "crosses_core"
    assert len(res.active_links) >= len(res.core_ids) - 1
    fin = np.isfinite(res.corridors)
    assert fin.any() and res.corridors[fin].max() <= 200_000 and res.corridors[fin].min() == 0


def test_core_distances_batched_sweep_matches_dijkstra():
    from gpucircuit.analysis.cwd import CostSurface

    r, labels = channel_landscape()
    surface = CostSurface(r, 10.0)
    a = LP.core_distances(surface, labels, [1, 2, 3], "dijkstra")
    b = LP.core_distances(surface, labels, [1, 2, 3], "sweep", batch_bytes=2 * labels.size * 8)  # batches of 2
    for c in (1, 2, 3):
        fin = np.isfinite(a[c])
        assert np.array_equal(fin, np.isfinite(b[c]))
        np.testing.assert_allclose(b[c][fin], a[c][fin], rtol=1e-12)
    sweep = LP.linkage_pathways(r, labels, 10.0, LP.LinkageOptions(method="sweep"))
    dij = LP.linkage_pathways(r, labels, 10.0, LP.LinkageOptions(method="dijkstra"))
    assert [(lk.status, pytest.approx(lk.lcd)) for lk in sweep.links] == [(lk.status, lk.lcd) for lk in dij.links]


@pytest.mark.parametrize("raster_crs,vector_crs", [(None, "EPSG:32633"), ("EPSG:32633", None)])
def test_missing_crs_on_one_side_is_an_error(tmp_path, raster_crs, vector_crs):
    import shapely

    spec = _spec() if raster_crs else GridSpec(_spec().shape, _spec().transform, None)
    p = tmp_path / "cores.gpkg"
    _write_polys(p, [shapely.box(1020, 1820, 1060, 1860), shapely.box(1200, 1900, 1240, 1940)], [1, 2],
                 crs=vector_crs)
    with pytest.raises(InputError, match="has no CRS"):
        read_cores(p, spec)
