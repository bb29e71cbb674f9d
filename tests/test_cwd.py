"""Cost-weighted distance: both engines against an independently built Dijkstra reference."""
import math

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from gpucircuit.analysis import cwd as C
from gpucircuit.errors import InputError


def reference_cwd(r, sources, dx, dy, limit=np.inf):
    """Linkage Mapper CWD by explicit loops over cells and neighbours + scipy Dijkstra per source."""
    m, n = r.shape
    rows, cols, w = [], [], []
    for i in range(m):
        for j in range(n):
            if not np.isfinite(r[i, j]):
                continue
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    p, q = i + di, j + dj
                    if (di or dj) and 0 <= p < m and 0 <= q < n and np.isfinite(r[p, q]):
                        rows.append(i * n + j)
                        cols.append(p * n + q)
                        w.append((r[i, j] + r[p, q]) / 2 * math.hypot(di * dy, dj * dx))
    g = coo_matrix((w, (rows, cols)), shape=(m * n, m * n)).tocsr()
    src = [k for k in np.flatnonzero(sources) if np.isfinite(r.flat[k])]
    d = np.min(dijkstra(g, indices=src, limit=limit), axis=0)  # min over separate single-source runs
    return d.reshape(m, n)


def random_case(shape=(23, 31), seed=0, nodata=0.12):
    rng = np.random.default_rng(seed)
    r = rng.uniform(1, 50, shape) ** 1.5
    r[rng.random(shape) < nodata] = np.nan
    r.flat[shape[0] * shape[1] // 3] = 0.0  # zero resistance is allowed
    src = np.zeros(shape, bool)
    src[2:5, 2:6] = True
    src[-1, -1] = True
    return r, src


@pytest.mark.parametrize("method", ["dijkstra", "sweep"])
@pytest.mark.parametrize("cellsize", [1.0, (30.0, 45.0)])
def test_matches_reference_dijkstra(method, cellsize):
    r, src = random_case()
    dx, dy = C.cell_steps(cellsize)
    ref = reference_cwd(r, src, dx, dy)
    got = C.cost_distance(r, src, cellsize, method=method)
    assert np.array_equal(np.isinf(got), np.isinf(ref))
    fin = np.isfinite(ref)
    np.testing.assert_allclose(got[fin], ref[fin], rtol=1e-12, atol=1e-9)
    assert np.all(got[src & np.isfinite(r)] == 0)
    assert np.all(np.isinf(got[~np.isfinite(r)]))


@pytest.mark.parametrize("method", ["dijkstra", "sweep"])
def test_max_distance(method):
    r, src = random_case(seed=3)
    ref = reference_cwd(r, src, 1.0, 1.0, limit=400.0)
    got = C.cost_distance(r, src, 1.0, max_distance=400.0, method=method)
    assert np.array_equal(np.isinf(got), np.isinf(ref))
    assert np.isfinite(got).sum() > 10 and np.isinf(got[np.isfinite(r)]).sum() > 10
    fin = np.isfinite(ref)
    np.testing.assert_allclose(got[fin], ref[fin], rtol=1e-12)


@pytest.mark.parametrize("shape", [(1, 17), (17, 1), (2, 40), (40, 3)])
def test_sweep_thin_rasters(shape):
    r, _ = random_case(shape, seed=5, nodata=0.05)
    src = np.zeros(shape, bool)
    src.flat[shape[0] * shape[1] // 2] = True
    a = C.cost_distance(r, src, 2.0, method="dijkstra")
    b = C.cost_distance(r, src, 2.0, method="sweep")
    assert np.array_equal(np.isinf(a), np.isinf(b))
    np.testing.assert_allclose(b[np.isfinite(a)], a[np.isfinite(a)], rtol=1e-12)


def test_sweep_batch_equals_single_runs():
    r, _ = random_case(seed=7)
    surface = C.CostSurface(r, 10.0)
    stack = np.zeros((3,) + r.shape, bool)
    stack[0, 0, 0] = stack[1, 10, 10] = True
    stack[2, 20:, 25:] = True
    batch = surface.distance(stack, method="sweep")
    for k in range(3):
        single = surface.distance(stack[k], method="dijkstra")
        np.testing.assert_allclose(batch[k][np.isfinite(single)], single[np.isfinite(single)], rtol=1e-12)
        assert np.array_equal(np.isinf(batch[k]), np.isinf(single))


def test_serpentine_path_converges_exactly():
    # a maze forces many direction reversals: the sweep needs several passes and must still be exact
    r = np.ones((21, 21))
    for k, row in enumerate(range(2, 20, 3)):
        r[row, :] = np.nan
        r[row, 0 if k % 2 else 20] = 1.0
    src = np.zeros_like(r, bool)
    src[0, 0] = True
    a = C.cost_distance(r, src, method="dijkstra")
    b = C.cost_distance(r, src, method="sweep")
    assert np.isfinite(a[20, 20])
    np.testing.assert_allclose(b[np.isfinite(a)], a[np.isfinite(a)], rtol=1e-12)


def test_least_cost_path_accumulates_the_cwd():
    r, src = random_case(seed=11)
    d = C.cost_distance(r, src, (2.0, 3.0))
    start = tuple(np.argwhere(np.isfinite(d) & (d == np.nanmax(np.where(np.isfinite(d), d, np.nan))))[0])
    path = C.trace_least_cost_path(d, r, start, (2.0, 3.0))
    assert tuple(path[0]) == start and d[tuple(path[-1])] == 0
    cost = sum((r[tuple(p)] + r[tuple(q)]) / 2 * math.hypot((p[0] - q[0]) * 3.0, (p[1] - q[1]) * 2.0)
               for p, q in zip(path[:-1], path[1:]))
    assert cost == pytest.approx(d[start], rel=1e-12)
    assert np.all(np.abs(np.diff(path, axis=0)) <= 1)


def test_auto_method_follows_backend(monkeypatch):
    class FakeBackend:
        def __init__(self, gpu):
            self.is_gpu = gpu

    monkeypatch.setattr(C, "get_backend", lambda: FakeBackend(True))
    assert C._pick_method("auto") == "sweep"
    monkeypatch.setattr(C, "get_backend", lambda: FakeBackend(False))
    assert C._pick_method("auto") == "dijkstra"
    with pytest.raises(InputError):
        C._pick_method("astar")


def test_bad_inputs():
    with pytest.raises(InputError, match="negative"):
        C.CostSurface(np.array([[1.0, -2.0]]))
    with pytest.raises(InputError, match="shape"):
        C.CostSurface(np.ones((3, 3))).distance(np.zeros((2, 3), bool))
    with pytest.raises(InputError, match="cell size"):
        C.CostSurface(np.ones((3, 3)), 0.0)
    assert np.all(np.isinf(C.cost_distance(np.ones((3, 3)), np.zeros((3, 3), bool))))
