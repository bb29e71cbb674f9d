"""Every solver path against an independent direct solve on random landscapes.

"mg" on these small grids is one level (the coarsest-grid limit is larger than the grid), i.e. a
direct solve inside CG; "mg-deep" forces a real hierarchy (2x2 coarsest grid), so the
interpolation, Galerkin stencils, smoothers and cycle are checked too.
"""
import numpy as np
import pytest

import gpucircuit as gc
from gpucircuit.solver.multigrid import MultigridOptions
from reference import RefCircuit, grounded_component, pick_points, random_landscape

METHODS = ["direct", "amg", "mg", "mg-deep"]
DEEP = MultigridOptions(max_coarse=4)  # 24 x 30 -> 12 x 15 -> 6 x 8 -> 3 x 4 -> 2 x 2: five levels


def solver(method):
    """API keywords for a method of METHODS."""
    return dict(solver="mg", multigrid=DEEP) if method == "mg-deep" else dict(solver=method)


def assert_deep(stats, method):
    """mg-deep must really have built >= 3 levels in every solved system (no silent one-level fallback)."""
    if method != "mg-deep":
        return
    levels = [st.levels for st in stats if st.unknowns]
    assert levels, "nothing was solved"
    assert all(st.method == "mg" for st in stats if st.unknowns)
    assert min(levels) >= 3, levels
LAYOUTS = [(False, False), (False, True), (True, False), (True, True)]  # (four neighbours, avg resistances)


@pytest.fixture(scope="module")
def landscape():
    res = random_landscape((24, 30), seed=3)
    pts = pick_points(res, 6, seed=4)
    return res, pts


@pytest.mark.parametrize("method,precision", [(m, "double") for m in METHODS] + [("mg", "single"),
                                                                                   ("mg-deep", "single")])
@pytest.mark.parametrize("four,avg", LAYOUTS)
def test_pairwise_matches_direct_reference(landscape, method, precision, four, avg):
    """(precision = single stores fp32 conductances but keeps fp64 CG: the same tolerances hold.)"""
    res, pts = landscape
    ref = RefCircuit(res, four, avg)
    R_ref, cum_ref = ref.pairwise(pts)
    out = gc.pairwise(res, pts, four_neighbors=four, avg_resistances=avg, precision=precision, **solver(method))
    assert_deep(out.stats, method)
    assert (R_ref == -1).sum() > 0, "the landscape should have disconnected pairs"
    np.testing.assert_allclose(out.resistances, R_ref, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(out.cum_current, cum_ref, rtol=1e-4, atol=1e-6 * cum_ref.max())


@pytest.mark.parametrize("method", METHODS)
def test_one_to_all_and_all_to_one_match_reference(landscape, method):
    res, pts = landscape
    ref = RefCircuit(res)
    r1, c1 = ref.one_to_all(pts)
    out = gc.one_to_all(res, pts, **solver(method))
    assert_deep(out.stats, method)
    np.testing.assert_allclose(out.resistances, r1, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(out.cum_current, c1, rtol=1e-4, atol=1e-6 * c1.max())
    r2, c2 = ref.all_to_one(pts)
    out = gc.all_to_one(res, pts, **solver(method))
    assert_deep(out.stats, method)
    np.testing.assert_array_equal(out.resistances, r2)
    np.testing.assert_allclose(out.cum_current, c2, rtol=1e-4, atol=1e-6 * c2.max())


@pytest.mark.parametrize("method", METHODS)
def test_polygons_short_circuit(landscape, method):
    res, pts = landscape
    poly = np.zeros(res.shape)
    poly[2:6, 2:9] = 7  # one short-circuit region
    poly[15:18, 20:26] = 3
    ref = RefCircuit(res, polygons=poly)
    R_ref, cum_ref = ref.pairwise(pts)
    out = gc.pairwise(res, pts, polygons=poly, **solver(method))
    assert_deep(out.stats, method)
    np.testing.assert_allclose(out.resistances, R_ref, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(out.cum_current, cum_ref, rtol=1e-4, atol=1e-6 * cum_ref.max())


@pytest.mark.parametrize("method", METHODS)
def test_advanced_matches_reference(landscape, method):
    res, _ = landscape
    ref = RefCircuit(res)
    rng = np.random.default_rng(9)
    src = np.zeros(res.shape)
    gnd = np.zeros(res.shape)
    cells = np.argwhere(~np.isnan(res))
    for r, c in cells[rng.choice(len(cells), 5, replace=False)]:
        src[r, c] = rng.random() + 0.5
    for r, c in cells[rng.choice(len(cells), 5, replace=False)]:
        if src[r, c] == 0:
            gnd[r, c] = rng.random() + 0.1
    out = gc.advanced(res, src, gnd, **solver(method))
    assert_deep(out.stats, method)
    # reference: only components with both sources and grounds are solved
    inj = {ref.node_of[tuple(p)]: src[tuple(p)] for p in np.argwhere(src > 0)}
    gg = {ref.node_of[tuple(p)]: gnd[tuple(p)] for p in np.argwhere(gnd > 0)}
    solved = {ref.comp[u] for u in inj} & {ref.comp[u] for u in gg}
    inj = {u: c for u, c in inj.items() if ref.comp[u] in solved}
    gg = {u: c for u, c in gg.items() if ref.comp[u] in solved}
    v = ref.solve(inj, [], ground_g=gg)
    vmap = np.zeros(res.shape)
    for cell, u in ref.node_of.items():
        vmap[cell] = v[u]
    assert solved, "the random case should have a solvable component"
    np.testing.assert_allclose(out.voltages, vmap, rtol=1e-5, atol=1e-9 * np.abs(vmap).max())
    cur = ref.current_map(v, gg)
    np.testing.assert_allclose(out.current, cur, rtol=1e-4, atol=1e-6 * cur.max())


def test_pairwise_takes_about_k_solves():
    res = random_landscape((20, 20), seed=1, split=False, nodata=0.0)
    pts = pick_points(res, 8, seed=2)
    out = gc.pairwise(res, pts, solver="direct")
    assert sum(s.solves for s in out.stats) == 7  # k - 1, not k(k-1)/2 = 28


def test_network_pairwise_matches_dense_pseudoinverse():
    rng = np.random.default_rng(0)
    n = 12
    edges = [(i, j, rng.random() * 5 + 0.1) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.3]
    edges += [(20, 21, 2.0)]  # a second component
    out = gc.network_pairwise(edges, [0, 3, 7, 20, 21])
    L = np.zeros((n, n))
    for a, b, r in edges[:-1]:
        L[a, a] += 1 / r
        L[b, b] += 1 / r
        L[a, b] -= 1 / r
        L[b, a] -= 1 / r
    P = np.linalg.pinv(L)
    for x, a in enumerate([0, 3, 7]):
        for y, b in enumerate([0, 3, 7]):
            expect = P[a, a] + P[b, b] - 2 * P[a, b]
            assert out.resistances[x, y] == pytest.approx(expect, rel=1e-8, abs=1e-12)
    assert out.resistances[3, 4] == pytest.approx(2.0)
    assert out.resistances[0, 3] == -1


def test_single_precision_stores_fp32_conductances():
    dtypes = {}
    for precision in ("single", "double"):
        s, _, _ = grounded_component((30, 30), 5, method="mg", precision=precision)
        dtypes[precision] = (s.solver.op.edges.e.dtype, s.solver.op.diag.dtype)
    assert dtypes["single"] == (np.float32, np.float64)  # fp64 diagonal keeps the operator exactly SPD
    assert dtypes["double"] == (np.float64, np.float64)


@pytest.mark.parametrize("method", METHODS)
def test_unit_injections_equal_explicit_right_hand_sides(method):
    """solve_units builds the right-hand sides batch by batch (the factorisation: straight in
    unknown space); same voltages as solve(). cells[0] is the ground: its injection is dropped."""
    deep = {"method": "mg", "multigrid": DEEP} if method == "mg-deep" else {"method": method}
    s, graph, cells = grounded_component((28, 33), 8, **deep)
    assert_deep([s.stats], method)
    pick = cells[[3, 0, 11, 20]]
    rhs = np.zeros((len(pick),) + graph.shape)
    for j, c in enumerate(pick):
        rhs[j].flat[c] = 1.0
    np.testing.assert_allclose(s.solve_units(pick, on_device=True), s.solve(rhs), rtol=1e-9, atol=1e-12)
