"""Source screening: patches, edge-to-edge distances (against brute force), selection rules."""
import heapq
import math

import numpy as np
import pytest

from gpucircuit.analysis.sources import (candidate_patches, cost_edge_distances, euclidean_edge_distances,
                                         parse_sweep, select_patches, top_score_cells)
from gpucircuit.errors import InputError


def blobs(seed, shape=(18, 22)):
    rng = np.random.default_rng(seed)
    return np.kron(rng.random((shape[0] // 3 + 1, shape[1] // 3 + 1)) > 0.6, np.ones((3, 3), bool))[:shape[0], :shape[1]] \
        & (rng.random(shape) > 0.1)


def plain_components(mask, eight=True):
    steps = [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1) if (a, b) != (0, 0) and (eight or a == 0 or b == 0)]
    lab, k = np.zeros(mask.shape, int), 0
    for i, j in zip(*np.nonzero(mask)):
        if lab[i, j]:
            continue
        k += 1
        lab[i, j] = k
        stack = [(i, j)]
        while stack:
            a, b = stack.pop()
            for da, db in steps:
                p, q = a + da, b + db
                if 0 <= p < mask.shape[0] and 0 <= q < mask.shape[1] and mask[p, q] and not lab[p, q]:
                    lab[p, q] = k
                    stack.append((p, q))
    return lab, k


@pytest.mark.parametrize("conn", [8, 4])
def test_patches_and_area_filter(conn):
    mask = blobs(1)
    lab, k = plain_components(mask, eight=conn == 8)
    sizes = np.bincount(lab.ravel())[1:]
    p, found = candidate_patches(mask, 900.0, min_area_km2=4 * 900 / 1e6, connectivity=conn)
    assert found == k
    assert sorted(p.cells.tolist()) == sorted(s for s in sizes if s >= 4)
    assert np.allclose(p.area_km2, p.cells * 900 / 1e6)
    assert set(np.unique(p.labels)) == set(range(p.n + 1))
    for pid in range(1, p.n + 1):                    # each kept patch is exactly one plain component
        assert len(np.unique(lab[p.labels == pid])) == 1
        assert np.count_nonzero(p.labels == pid) == p.cells[pid - 1]


def test_euclidean_distances_against_all_cell_pairs():
    mask = blobs(2)
    p, _ = candidate_patches(mask, 1.0)
    dx, dy = 30.0, 20.0
    d = euclidean_edge_distances(p.labels, p.n, (dx, dy))
    assert p.n >= 4
    for a in range(1, p.n + 1):
        ca = np.argwhere(p.labels == a)
        for b in range(a + 1, p.n + 1):
            cb = np.argwhere(p.labels == b)
            diff = ca[:, None, :] - cb[None, :, :]
            best = np.sqrt(((diff[..., 0] * dy) ** 2 + (diff[..., 1] * dx) ** 2).min())
            assert d[a - 1, b - 1] == pytest.approx(best, rel=1e-12) and d[b - 1, a - 1] == d[a - 1, b - 1]
    assert np.all(np.diag(d) == 0)


def plain_cwd_between(res, labels, a, b, cell):
    """Dijkstra by hand: step cost (r1 + r2) / 2 × step length, from every cell of patch a."""
    m, n = res.shape
    dist = {tuple(c): 0.0 for c in np.argwhere(labels == a) if np.isfinite(res[tuple(c)])}
    heap = [(0.0, c) for c in dist]
    done = set()
    while heap:
        du, u = heapq.heappop(heap)
        if u in done:
            continue
        done.add(u)
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                v = (u[0] + di, u[1] + dj)
                if (di, dj) == (0, 0) or not (0 <= v[0] < m and 0 <= v[1] < n) or not np.isfinite(res[v]):
                    continue
                w = (res[u] + res[v]) / 2 * cell * math.hypot(di, dj)
                if du + w < dist.get(v, math.inf):
                    dist[v] = du + w
                    heapq.heappush(heap, (du + w, v))
    return min((dist.get(tuple(c), math.inf) for c in np.argwhere(labels == b)), default=math.inf)


def test_cost_distances_against_plain_dijkstra():
    rng = np.random.default_rng(4)
    mask = blobs(3, (14, 16))
    p, _ = candidate_patches(mask, 1.0)
    res = rng.uniform(1, 9, mask.shape)
    res[rng.random(mask.shape) < 0.08] = np.nan
    res[p.labels > 0] = np.where(np.isnan(res[p.labels > 0]), 2.0, res[p.labels > 0])
    d = cost_edge_distances(p.labels, p.n, res, 30.0, method="dijkstra")
    assert p.n >= 4 and np.isfinite(d).all()
    for a in range(1, p.n + 1):
        for b in range(a + 1, p.n + 1):
            want = min(plain_cwd_between(res, p.labels, a, b, 30.0), plain_cwd_between(res, p.labels, b, a, 30.0))
            assert d[a - 1, b - 1] == pytest.approx(want, rel=1e-12)
    bad = res.copy()
    bad[p.labels == 1] = np.nan
    with pytest.raises(InputError, match="patches 1 lie wholly on resistance nodata"):
        cost_edge_distances(p.labels, p.n, bad, 30.0)


def test_selection_rules():
    dpc = np.array([5.0, 30.0, 1.0, 30.0, 12.0, 0.5, 8.0])
    assert select_patches(dpc, dpc_min=8).tolist() == [False, True, False, True, True, False, True]
    assert select_patches(dpc, top=2).tolist() == [False, True, False, True, False, False, False]
    assert select_patches(dpc, top_percent=40).sum() == 3                    # ceil(0.4 × 7)
    assert select_patches(dpc).all()
    with pytest.raises(InputError, match="one selection rule"):
        select_patches(dpc, dpc_min=1, top=2)
    with pytest.raises(InputError, match="--top must"):
        select_patches(dpc, top=0)


def test_top_score_cells_and_sweep_parsing():
    score = np.arange(100, dtype=float).reshape(10, 10)
    valid = np.ones_like(score, bool)
    valid[0] = False                                                           # 90 cells in the study area
    top = top_score_cells(score, valid, 10)
    assert top.sum() == 9 and score[top].min() == 91
    score[9, :] = 99.0                                                          # ties at the cut are all taken
    assert top_score_cells(score, valid, 5).sum() == 10
    assert parse_sweep("500:2000:500") == [500, 1000, 1500, 2000]
    for bad in ("500:100:50", "a:b:c", "0:10:1", "1:2"):
        with pytest.raises(InputError, match="--sweep"):
            parse_sweep(bad)


def test_screening_warns_on_many_patches(monkeypatch):
    import gpucircuit.analysis.sources as S

    mask = np.zeros((40, 40), bool)
    mask[::3, ::3] = True                                                      # 196 one-cell patches
    told = []
    monkeypatch.setattr(S, "LARGE_NETWORK", 100)
    found = S.screen_sources(mask, np.ones_like(mask), 900.0, 30.0, distance=100, notice=told.append)
    assert found.patches.n == 196 and len(told) == 1 and "196 candidate patches" in told[0]
    assert found.selected.all() and found.landscape_km2 == pytest.approx(1600 * 900 / 1e6)
    told.clear()
    S.screen_sources(mask[:10, :10], np.ones((10, 10), bool), 900.0, 30.0, notice=told.append)
    assert told == []
