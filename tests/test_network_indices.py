import itertools
import math

import numpy as np
import pytest

from gpucircuit.analysis.network_indices import (
    dpc_table, gravity_matrix, network_structure, pc_analysis, pc_dpc)
from gpucircuit.errors import InputError


# --------------------------------------------------------------------------- α β γ

def test_alpha_beta_gamma_small_graphs():
    # 17 sources, 33 corridors (a seed-study network)
    r = network_structure(17, 33)
    assert r["alpha"] == pytest.approx(17 / 29)
    assert r["beta"] == pytest.approx(33 / 17)
    assert r["gamma"] == pytest.approx(33 / 45)
    # a tree has no circuits; the maximal planar graph on 4 nodes (K4) has α = γ = 1
    assert network_structure(5, 4)["alpha"] == 0
    k4 = network_structure(4, 6)
    assert k4["alpha"] == pytest.approx(1) and k4["gamma"] == pytest.approx(1)


@pytest.mark.parametrize("v,e", [(2, 1), (0, 0), (5, -1), (4.5, 3), (True, 1)])
def test_network_structure_guard_rails(v, e):
    with pytest.raises(InputError):
        network_structure(v, e)


# --------------------------------------------------------------------------- PC / dPC

def _brute_pstar(p, nodes):
    """Max-product probability between every pair by enumerating all simple paths."""
    best = {(i, i): 1.0 for i in nodes}
    for i, j in itertools.permutations(nodes, 2):
        others = [x for x in nodes if x not in (i, j)]
        b = 0.0
        for r in range(len(others) + 1):
            for mid in itertools.permutations(others, r):
                path = (i, *mid, j)
                prod = 1.0
                for u, w in zip(path[:-1], path[1:]):
                    prod *= p[u, w]
                b = max(b, prod)
        best[i, j] = b
    return best


def _brute_pc_num(a, p, nodes):
    ps = _brute_pstar(p, nodes)
    return sum(a[i] * a[j] * ps[i, j] for i in nodes for j in nodes)


def _four_node_case():
    a = np.array([4.0, 1.0, 2.5, 3.0])
    inf = np.inf
    # node 1 is a stepping stone between 0 and 2; 3 is linked to 2 only, far from 0
    d = np.array([[0, 2000, 9000, inf],
                  [2000, 0, 2500, 12000],
                  [9000, 2500, 0, 4000],
                  [inf, 12000, 4000, 0]], dtype=float)
    return a, d


def test_pc_and_dpc_against_path_enumeration():
    a, d = _four_node_case()
    dth, pth, AL = 5000.0, 0.5, 100.0
    k = -math.log(pth) / dth
    with np.errstate(over="ignore"):
        p = np.exp(-k * d)          # inf -> 0
    nodes = list(range(4))
    want_num = _brute_pc_num(a, p, nodes)
    res = pc_analysis(a, d, dth, pth, AL)
    assert res.pc == pytest.approx(want_num / AL**2, rel=1e-12)
    ps = _brute_pstar(p, nodes)
    for (i, j), v in ps.items():
        assert res.pstar[i, j] == pytest.approx(v, rel=1e-12)
    for i in nodes:
        rest = [x for x in nodes if x != i]
        num_i = _brute_pc_num(a, p, rest)
        assert res.dpc[i] == pytest.approx(100 * (want_num - num_i) / want_num, rel=1e-10)
        # fractions
        intra = 100 * a[i] ** 2 / want_num
        flux = 100 * sum(a[i] * a[j] * (ps[i, j] + ps[j, i]) for j in rest) / want_num
        assert res.dpc_intra[i] == pytest.approx(intra)
        assert res.dpc_flux[i] == pytest.approx(flux)
        assert res.dpc_connector[i] == pytest.approx(res.dpc[i] - intra - flux, abs=1e-9)
    # node 1 carries the 0-2 and 0-3 paths: it is the only connector here
    assert res.dpc_connector[1] > 0
    assert res.dpc_connector[0] == 0 and res.dpc_connector[3] == 0
    pc, dpc = pc_dpc(a, d, dth, pth, AL)
    assert pc == res.pc and np.array_equal(dpc, res.dpc)


def test_pc_threshold_probability_and_zero_distance():
    a = np.array([1.0, 1.0])
    d = np.array([[0, 5000.0], [5000.0, 0]])
    pc, dpc = pc_dpc(a, d, 5000, 0.5, 10.0)
    assert pc == pytest.approx((1 + 1 + 2 * 0.5) / 100)
    d0 = np.array([[0, 0.0], [0.0, 0]])            # touching patches: p = 1
    pc0, _ = pc_dpc(a, d0, 5000, 0.5, 2.0)
    assert pc0 == pytest.approx(1.0)


def test_dpc_table_is_ranked():
    a, d = _four_node_case()
    res = pc_analysis(a, d, 5000, 0.5, 100)
    rows = dpc_table(res, node_ids=[11, 12, 13, 14])
    assert [r["rank"] for r in rows] == [1, 2, 3, 4]
    assert [r["dpc"] for r in rows] == sorted(res.dpc, reverse=True)
    assert rows[0]["node"] == 11 + int(np.argmax(res.dpc))


@pytest.mark.parametrize("kwargs", [
    dict(p_threshold=1.0), dict(p_threshold=0.0), dict(d_threshold=0), dict(landscape_area=5.0),
])
def test_pc_guard_rails(kwargs):
    a, d = _four_node_case()
    args = dict(areas=a, distances=d, d_threshold=5000, p_threshold=0.5, landscape_area=100)
    args.update(kwargs)
    with pytest.raises(InputError):
        pc_analysis(**args)
    with pytest.raises(InputError):
        pc_analysis(a, d[:3, :3], 5000, 0.5, 100)
    with pytest.raises(InputError):
        pc_analysis(a, -d, 5000, 0.5, 100)


# --------------------------------------------------------------------------- gravity model

def test_gravity_matrix_explicit_formula():
    S = np.array([1200.0, 350.0, 90.0, 5000.0])      # ha
    P = np.array([1.5, 3.0, 8.0, 12.0])
    links = [(0, 1, 4000.0), (1, 2, 8000.0), (0, 3, 2000.0), (2, 3, 30000.0)]
    rows = gravity_matrix(S, P, links)
    lmax = 30000.0
    want = {}
    for t, (i, j, l) in enumerate(links):
        na = math.log(S[i]) / P[i]
        nb = math.log(S[j]) / P[j]
        want[t] = na * nb / (l / lmax) ** 2            # N_a N_b / D_ab², D normalised by L_max
    assert len(rows) == 4
    for r in rows:
        assert r["G"] == pytest.approx(want[r["link"]], rel=1e-12)
        assert r["class"] == ("important" if want[r["link"]] > 1 else "general")
    assert [r["link"] for r in rows] == sorted(want, key=lambda t: -want[t])
    assert [r["rank"] for r in rows] == [1, 2, 3, 4]
    # the longest link has D = 1: G = N_a N_b, here below 1 -> general
    last = [r for r in rows if r["link"] == 3][0]
    assert last["class"] == "general"
    # threshold and node ids
    rows2 = gravity_matrix(S, P, [(10, 40, 2000.0), (10, 20, 4000.0)], threshold=1e9,
                           node_ids=[10, 20, 30, 40])
    assert [(r["i"], r["j"]) for r in rows2] == [(10, 40), (10, 20)]
    assert all(r["class"] == "general" for r in rows2)


def test_gravity_guard_rails():
    S, P = np.array([100.0, 200.0]), np.array([1.0, 2.0])
    with pytest.raises(InputError):
        gravity_matrix(np.array([0.5, 200.0]), P, [(0, 1, 10.0)])
    with pytest.raises(InputError):
        gravity_matrix(S, np.array([0.0, 1.0]), [(0, 1, 10.0)])
    with pytest.raises(InputError):
        gravity_matrix(S, P, [(0, 2, 10.0)])
    with pytest.raises(InputError):
        gravity_matrix(S, P, [(0, 1, 0.0)])
    assert gravity_matrix(S, P, []) == []
