"""Pinchpoint Mapper against a plain direct-solve Circuitscape (tests/reference.py).

Cores are focal regions: the reference merges each core's cells as a short-circuit polygon and
uses one cell per core as its point, which is the same circuit.
"""
import math

import numpy as np
import pytest

from gpucircuit.analysis.corridors import Link, linkage_pathways
from gpucircuit.analysis.pinchpoints import (PinchpointOptions, all_pairs_currents, link_habitat,
                                             pinchpoint_analysis)
from gpucircuit.errors import InputError
from gpucircuit.solver.system import SolveOptions

from reference import RefCircuit

CELL = 10.0
CUTOFF = 250.0


@pytest.fixture(scope="module")
def landscape():
    rng = np.random.default_rng(7)
    r = rng.uniform(1, 20, (24, 30))
    r[rng.random(r.shape) < 0.06] = np.nan
    r[11:13, 4:26] = 150.0  # a high-resistance band the corridors must cross
    labels = np.zeros(r.shape, dtype=np.int64)
    labels[1:4, 1:5], labels[19:23, 2:6], labels[2:5, 24:28], labels[19:22, 23:28] = 1, 2, 3, 4
    labels[~np.isfinite(r)] = 0
    lk = linkage_pathways(r, labels, CELL)
    assert len(lk.active_links) >= 3
    return r, labels, lk


def ref_habitat(r, labels, lk, link, cutoff):
    """The corridor circuit's habitat, written out independently of the library."""
    norm = lk.cwd[link.core_a] + lk.cwd[link.core_b] - link.lcd
    keep = np.isfinite(r) & ((norm <= cutoff + 1e-9 * link.lcd) | (labels == link.core_a) | (labels == link.core_b))
    return np.where(keep, r, np.nan)


def one_cell(labels, cid):
    return [tuple(np.argwhere(labels == cid)[0])]


def test_adjacent_pairs_match_reference(landscape):
    r, labels, lk = landscape
    res = pinchpoint_analysis(r, labels, lk.cwd, lk.links, CELL, PinchpointOptions(cutoff=CUTOFF, all_pairs=None))
    assert res.all_pairs_current is None
    expect_max = np.full(r.shape, np.nan)
    covered = np.zeros(r.shape, dtype=bool)
    for link in lk.active_links:
        hab = ref_habitat(r, labels, lk, link, CUTOFF)
        covered |= np.isfinite(hab)
        # the corridor is narrower than the landscape: the test is not trivial
        assert np.isfinite(hab).sum() < np.isfinite(r).sum()
        poly = np.where((labels == link.core_a) | (labels == link.core_b), labels, 0)
        ref = RefCircuit(hab, four=False, avg_res=True, polygons=poly)
        pts = {link.core_a: one_cell(labels, link.core_a), link.core_b: one_cell(labels, link.core_b)}
        R, cur = ref.pairwise(pts)
        assert R[0, 1] > 0
        assert res.resistance[link.link_id] == pytest.approx(R[0, 1], rel=1e-8)
        assert res.eff_resist[link.link_id] == pytest.approx(CELL * R[0, 1], rel=1e-8)
        assert res.cwd_to_eff_resist[link.link_id] == pytest.approx(link.lcd / (CELL * R[0, 1]), rel=1e-8)
        # Pinchpoint Mapper blanks the link's own two cores before the maximum mosaic
        own_cores = (labels == link.core_a) | (labels == link.core_b)
        expect_max = np.fmax(expect_max, np.where(np.isfinite(hab) & ~own_cores, cur, np.nan))
    got = res.adjacent_current
    # the rule bites: core cells inside some circuit are nodata (only their own links reach them)
    assert np.any(covered & (labels > 0) & ~np.isfinite(got))
    assert np.array_equal(np.isfinite(got), np.isfinite(expect_max))
    np.testing.assert_allclose(got[np.isfinite(got)], expect_max[np.isfinite(expect_max)], rtol=1e-7, atol=1e-10)
    cols = res.link_columns()
    assert set(cols) == {"eff_resist", "cwd_to_eff_resist"}
    assert set(cols["eff_resist"]) == {link.link_id for link in lk.active_links}


def test_link_habitat_contains_least_cost_path_and_cores(landscape):
    r, labels, lk = landscape
    for link in lk.active_links:
        hab = link_habitat(r, labels, lk.cwd, link, 0.0)  # cutoff 0: the least-cost path and the two cores
        p = link.path
        assert np.isfinite(hab[p[:, 0], p[:, 1]]).all()
        assert np.isfinite(hab[labels == link.core_a]).all() and np.isfinite(hab[labels == link.core_b]).all()


def union_reference(r, labels, lk, cutoff, squared=False):
    keep = labels > 0
    for link in lk.active_links:
        keep |= (lk.cwd[link.core_a] + lk.cwd[link.core_b] - link.lcd) <= cutoff + 1e-9 * link.lcd
    hab = np.where(keep & np.isfinite(r), r, np.nan)
    return hab, (hab * hab if squared else hab)


@pytest.mark.parametrize("squared", [False, True])
def test_all_to_one_matches_reference(landscape, squared):
    r, labels, lk = landscape
    res = pinchpoint_analysis(r, labels, lk.cwd, lk.links, CELL,
                              PinchpointOptions(cutoff=CUTOFF, adjacent=False, squared=squared))
    assert res.all_pairs_mode == "all-to-one" and res.adjacent_current is None and not res.eff_resist
    hab, circuit = union_reference(r, labels, lk, CUTOFF, squared)
    ref = RefCircuit(circuit, four=False, avg_res=True, polygons=labels)
    pts = {c: one_cell(labels, c) for c in lk.core_ids}
    _, cum = ref.all_to_one(pts)
    got = res.all_pairs_current
    assert np.array_equal(np.isfinite(got), np.isfinite(hab))
    ok = np.isfinite(hab)
    assert cum[ok].max() > 0
    np.testing.assert_allclose(got[ok], cum[ok], rtol=1e-7, atol=1e-9 * cum.max())


def test_pairwise_all_matches_reference(landscape):
    r, labels, lk = landscape
    cum, rr = all_pairs_currents(r, labels, lk.cwd, lk.links, CUTOFF, "pairwise")
    hab, _ = union_reference(r, labels, lk, CUTOFF)
    # Circuitscape pairwise with focal regions short-circuits only the pair's two regions
    ids = lk.core_ids
    R = np.zeros((len(ids), len(ids)))
    ref_cum = np.zeros(r.shape)
    for i, a in enumerate(ids):
        for j in range(i + 1, len(ids)):
            b = ids[j]
            ref = RefCircuit(hab, four=False, avg_res=True, polygons=np.where(np.isin(labels, (a, b)), labels, 0))
            Rp, cur = ref.pairwise({a: one_cell(labels, a), b: one_cell(labels, b)})
            R[i, j] = R[j, i] = Rp[0, 1]
            ref_cum += cur
    np.testing.assert_allclose(rr.resistances, R, rtol=1e-8)
    ok = np.isfinite(hab)
    np.testing.assert_allclose(cum[ok], ref_cum[ok], rtol=1e-7, atol=1e-9 * ref_cum.max())


def test_amg_solver_agrees_with_direct(landscape):
    r, labels, lk = landscape
    opts = dict(cutoff=CUTOFF)
    direct, amg = SolveOptions(method="direct"), SolveOptions(method="amg")
    a = pinchpoint_analysis(r, labels, lk.cwd, lk.links, CELL, PinchpointOptions(**opts, solve=direct))
    b = pinchpoint_analysis(r, labels, lk.cwd, lk.links, CELL, PinchpointOptions(**opts, solve=amg))
    for lid, v in a.eff_resist.items():
        assert b.eff_resist[lid] == pytest.approx(v, rel=1e-5)
    ok = np.isfinite(a.all_pairs_current)
    np.testing.assert_allclose(b.all_pairs_current[ok], a.all_pairs_current[ok], rtol=1e-4, atol=1e-6)


def test_rectangular_cells_and_squared_ratio(landscape):
    r, labels, lk = landscape
    res = pinchpoint_analysis(r, labels, lk.cwd, lk.links, (10.0, 40.0),
                              PinchpointOptions(cutoff=CUTOFF, all_pairs=None))
    base = pinchpoint_analysis(r, labels, lk.cwd, lk.links, CELL, PinchpointOptions(cutoff=CUTOFF, all_pairs=None))
    for lid, v in base.eff_resist.items():
        assert res.eff_resist[lid] == pytest.approx(v * 2.0)  # sqrt(10 * 40) = 20 = 2 x 10
    sq = pinchpoint_analysis(r, labels, lk.cwd, lk.links, CELL,
                             PinchpointOptions(cutoff=CUTOFF, all_pairs=None, squared=True))
    assert all(math.isnan(v) for v in sq.cwd_to_eff_resist.values())
    assert all(sq.eff_resist[lid] > base.eff_resist[lid] for lid in base.eff_resist)


def test_errors(landscape):
    r, labels, lk = landscape
    with pytest.raises(InputError, match="cutoff"):
        pinchpoint_analysis(r, labels, lk.cwd, lk.links, CELL, PinchpointOptions(cutoff=-1))
    with pytest.raises(InputError, match="no active links"):
        dead = [Link(1, 1, 2, "cwd", lcd=5.0, status="max_cwd")]
        pinchpoint_analysis(r, labels, lk.cwd, dead, CELL, PinchpointOptions())
    with pytest.raises(InputError, match="adjacent pairs, all pairs or both"):
        pinchpoint_analysis(r, labels, lk.cwd, lk.links, CELL, PinchpointOptions(adjacent=False, all_pairs=None))
    with pytest.raises(InputError, match="all-pairs mode"):
        pinchpoint_analysis(r, labels, lk.cwd, lk.links, CELL, PinchpointOptions(all_pairs="one-to-all"))
    with pytest.raises(InputError, match="cost-weighted distance"):
        pinchpoint_analysis(r, labels, {1: lk.cwd[1]}, lk.links, CELL, PinchpointOptions())
