"""Centrality Mapper against a dense network solve (pseudo-inverse of the Laplacian)."""
import math

import numpy as np
import pytest

from gpucircuit.analysis.centrality import centrality
from gpucircuit.analysis.corridors import Link
from gpucircuit.errors import InputError


def dense_centrality(core_ids, edges):
    """Circuitscape network pairwise written out: Laplacian pseudo-inverse per component.

    ``edges``: (core_a, core_b, resistance). Returns (R, node centrality, branch centrality).
    """
    ids = sorted(core_ids)
    pos = {c: i for i, c in enumerate(ids)}
    n = len(ids)
    L = np.zeros((n, n))
    for a, b, r in edges:
        i, j, g = pos[a], pos[b], 1.0 / r
        L[i, i] += g
        L[j, j] += g
        L[i, j] -= g
        L[j, i] -= g
    Lp = np.linalg.pinv(L)
    # components by reachability (pinv voltages across components would be meaningless)
    comp = list(range(n))
    for _ in range(n):
        for a, b, _r in edges:
            m = min(comp[pos[a]], comp[pos[b]])
            comp[pos[a]] = comp[pos[b]] = m
    R = np.full((n, n), -1.0)
    np.fill_diagonal(R, 0.0)
    node = np.zeros(n)
    branch = np.zeros(len(edges))
    for i in range(n):
        for j in range(i + 1, n):
            if comp[i] != comp[j]:
                continue
            e = np.zeros(n)
            e[j], e[i] = 1.0, -1.0  # 1 A in at the higher id, out at the lower
            v = Lp @ e
            v -= v[i]
            R[i, j] = R[j, i] = v[j]
            inflow, outflow = np.zeros(n), np.zeros(n)
            for k, (a, b, r) in enumerate(edges):
                f = (v[pos[a]] - v[pos[b]]) / r
                branch[k] += abs(f)
                if f > 0:
                    outflow[pos[a]] += f
                    inflow[pos[b]] += f
                else:
                    inflow[pos[a]] -= f
                    outflow[pos[b]] -= f
            node += np.maximum(inflow, outflow)
    return R, dict(zip(ids, node)), branch


@pytest.fixture()
def network():
    rng = np.random.default_rng(3)
    links, lid = [], 0
    pairs = [(1, 2), (1, 3), (2, 3), (2, 5), (3, 5), (5, 6), (3, 6), (1, 6),  # component {1, 2, 3, 5, 6}
             (7, 9), (8, 9)]  # component {7, 8, 9}; core 4 isolated
    for a, b in pairs:
        lid += 1
        links.append(Link(lid, a, b, "cwd", lcd=float(rng.uniform(1e3, 5e4))))
    links.append(Link(lid + 1, 2, 6, "cwd", lcd=10.0, status="knn_pruned"))  # inactive: no edge
    return links, list(range(1, 10))


def test_cwd_weighted_matches_dense_solve(network):
    links, cores = network
    res = centrality(links, cores)
    active = [lk for lk in links if lk.active]
    R, node, branch = dense_centrality(cores, [(lk.core_a, lk.core_b, lk.lcd) for lk in active])
    np.testing.assert_allclose(res.resistances, R, rtol=1e-9, atol=1e-9)
    assert res.core_ids == cores
    for c in cores:
        assert res.core_centrality[c] == pytest.approx(node[c], rel=1e-9, abs=1e-12)
    for k, lk in enumerate(active):
        assert res.link_centrality[lk.link_id] == pytest.approx(branch[k], rel=1e-9)
    assert math.isnan(res.link_centrality[links[-1].link_id])
    assert res.core_centrality[4] == 0.0
    # a pendant link carries every pair that involves its leaf: links 9 and 10 hang off core 9
    assert res.link_centrality[9] == pytest.approx(2.0) and res.link_centrality[10] == pytest.approx(2.0)
    assert set(res.link_columns()) == {"centrality"}


def test_effective_resistance_weight(network):
    links, cores = network
    eff = {lk.link_id: 100.0 + 7.0 * lk.link_id for lk in links if lk.active}
    res = centrality(links, cores, weight="eff_resist", eff_resist=eff)
    active = [lk for lk in links if lk.active]
    R, node, branch = dense_centrality(cores, [(lk.core_a, lk.core_b, eff[lk.link_id]) for lk in active])
    np.testing.assert_allclose(res.resistances, R, rtol=1e-9, atol=1e-9)
    for k, lk in enumerate(active):
        assert res.link_centrality[lk.link_id] == pytest.approx(branch[k], rel=1e-9)
    for c in cores:
        assert res.core_centrality[c] == pytest.approx(node[c], rel=1e-9, abs=1e-12)


def test_core_ids_default_to_linked_cores(network):
    links, _ = network
    res = centrality(links)
    assert res.core_ids == [1, 2, 3, 5, 6, 7, 8, 9]


def test_errors(network):
    links, cores = network
    with pytest.raises(InputError, match="effective resistance"):
        centrality(links, cores, weight="eff_resist", eff_resist={1: 5.0})
    with pytest.raises(InputError, match="weight"):
        centrality(links, cores, weight="euclid")
    with pytest.raises(InputError, match="no active links"):
        centrality([Link(1, 1, 2, "cwd", lcd=3.0, status="max_cwd")])
    with pytest.raises(InputError, match="more than one active link"):
        centrality(links + [Link(99, 2, 1, "cwd", lcd=7.0)])
    with pytest.raises(InputError, match="positive"):
        centrality([Link(1, 1, 2, "cwd", lcd=math.nan)])
