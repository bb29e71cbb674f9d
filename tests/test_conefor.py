"""Conefor's indices against their definitions, enumerated: every simple path for PC, BFS link counts for IIC."""
import itertools
import math
from collections import deque

import numpy as np
import pytest

from gpucircuit.analysis.conefor import component_count, conefor_indices, iic_analysis, threshold_sweep
from gpucircuit.errors import InputError


def brute_pstar(d, k):
    n = len(d)
    best = np.eye(n)
    for i, j in itertools.permutations(range(n), 2):
        others = [x for x in range(n) if x not in (i, j)]
        for r in range(len(others) + 1):
            for mid in itertools.permutations(others, r):
                path = (i, *mid, j)
                prob = 1.0
                for u, v in zip(path, path[1:]):
                    prob *= math.exp(-k * d[u][v]) if math.isfinite(d[u][v]) else 0.0
                best[i, j] = max(best[i, j], prob)
    return best


def brute_pc_num(a, d, k):
    return sum(a[i] * a[j] * brute_pstar(d, k)[i, j] for i in range(len(a)) for j in range(len(a)))


def bfs_links(d, D):
    n = len(d)
    nl = np.full((n, n), np.inf)
    for s in range(n):
        nl[s, s] = 0
        queue = deque([s])
        while queue:
            u = queue.popleft()
            for v in range(n):
                if v != u and d[u][v] <= D and nl[s, v] == np.inf:
                    nl[s, v] = nl[s, u] + 1
                    queue.append(v)
    return nl


def brute_iic_num(a, d, D):
    nl = bfs_links(d, D)
    return sum(a[i] * a[j] / (1 + nl[i, j]) for i in range(len(a)) for j in range(len(a)) if np.isfinite(nl[i, j]))


def without(x, i):
    keep = [j for j in range(len(x)) if j != i]
    return [x[j] for j in keep] if np.ndim(x) == 1 else [[x[r][c] for c in keep] for r in keep]


def random_patches(seed, n):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 12000, (n, 2))
    a = rng.uniform(0.5, 30.0, n)
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)) - 300.0
    d = np.maximum(d, 10.0)
    np.fill_diagonal(d, 0.0)
    if seed % 2:
        d[0, 1:] = d[1:, 0] = np.inf                                   # one patch unreachable
    return a, d


@pytest.mark.parametrize("seed,n", [(0, 4), (1, 5), (2, 6), (3, 6), (4, 3)])
def test_pc_iic_and_importances_match_enumeration(seed, n):
    a, d = random_patches(seed, n)
    D, P, AL = 5000.0, 0.5, 2000.0
    k = -math.log(P) / D
    r = conefor_indices(a, d, D, P, AL)
    num = brute_pc_num(a, d, k)
    assert r.pc.pc == pytest.approx(num / AL**2, rel=1e-12)
    assert np.allclose(r.pc.pstar, brute_pstar(d, k), rtol=1e-12, atol=0)
    for i in range(n):
        dpc = 100 * (num - brute_pc_num(without(a, i), without(d, i), k)) / num
        assert r.pc.dpc[i] == pytest.approx(dpc, rel=1e-9, abs=1e-9)
        assert r.pc.dpc_intra[i] == pytest.approx(100 * a[i] ** 2 / num, rel=1e-12)
    assert np.allclose(r.pc.dpc_intra + r.pc.dpc_flux + r.pc.dpc_connector, r.pc.dpc, rtol=1e-12, atol=1e-12)
    assert np.all(r.pc.dpc_connector >= -1e-9)
    inum = brute_iic_num(a, d, D)
    assert r.iic == pytest.approx(inum / AL**2, rel=1e-12)
    for i in range(n):
        diic = 100 * (inum - brute_iic_num(without(a, i), without(d, i), D)) / inum
        assert r.diic[i] == pytest.approx(diic, rel=1e-9, abs=1e-9)
    nl = bfs_links(d, D)
    groups = {tuple(np.isfinite(nl[i])) for i in range(n)}
    assert r.nc == len(groups)


def test_stepping_stone_is_a_connector():
    """A small patch between two big ones: most of its dPC is the connector fraction."""
    a = [100.0, 1.0, 100.0]
    d = [[0, 4000, 8000], [4000, 0, 4000], [8000, 4000, 0]]
    d = np.array(d, dtype=float)
    d[0, 2] = d[2, 0] = np.inf
    r = conefor_indices(a, d, 5000, 0.5, 1000)
    assert r.pc.dpc_connector[1] > 10 * (r.pc.dpc_intra[1] + r.pc.dpc_flux[1])
    assert r.diic[1] > 10 and r.nc == 1
    assert component_count(d, 3000) == 3


def test_sweep_and_errors():
    a, d = random_patches(2, 6)
    rows = threshold_sweep(a, d, [500, 2500, 5000, 10000], 0.5, 2000.0)
    assert [r["distance"] for r in rows] == [500, 2500, 5000, 10000]
    assert all(x["nc"] >= y["nc"] and x["pc"] <= y["pc"] for x, y in zip(rows, rows[1:]))
    for r in rows:
        k = -math.log(0.5) / r["distance"]
        assert r["pc"] == pytest.approx(brute_pc_num(a, d, k) / 2000.0**2, rel=1e-12)
        assert r["iic"] == pytest.approx(brute_iic_num(a, d, r["distance"]) / 2000.0**2, rel=1e-12)
    with pytest.raises(InputError, match="threshold"):
        iic_analysis(a, d, -1, 10)
    with pytest.raises(InputError, match="shape"):
        iic_analysis(a[:3], d, 100, 10)
