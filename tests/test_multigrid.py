"""Grid multigrid preconditioner: against a direct sparse solve, symmetry, edge cases.

Iteration bounds are the counts measured when the tests were written (noted next to each
bound) plus a margin, so a regression in the hierarchy shows up as a failure.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from gpucircuit.operators import GridEdges, GridOperator
from gpucircuit.solver.coarsening import Stencil, coarse_shape, galerkin, interpolation
from gpucircuit.solver.multigrid import MAX_COARSE, GridMultigrid, MultigridOptions, solve

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from landscape import make_landscape, operator_from_resistance, pick_focal_points  # noqa: E402

from reference import grid_direct  # noqa: E402


def direct(op, b):
    return grid_direct(op, b, inactive_keep_b=True)


def point_rhs(res, op, seed):
    pts = pick_focal_points(np.where(op.active, res, np.nan), 3, seed)
    b = np.zeros(res.shape)
    b[pts[0, 0], pts[0, 1]] = 1.0
    b[pts[1, 0], pts[1, 1]] = -0.5
    return b


def check(op, b, max_its, rtol=1e-6, **opts):
    # a small coarsest grid, so that these small problems still get 4-6 levels
    opts.setdefault("max_coarse", 64)
    x, info = solve(op, b, rtol=rtol, **opts)
    ref = direct(op, b)
    err = np.linalg.norm(x - ref) / np.linalg.norm(ref)
    assert info.converged, info
    assert info.iterations <= max_its, info.iterations
    assert err < 1e-4, err
    return info


# measured 8 (8 neighbours) and 36 (4 neighbours: a known weakness, see
# benchmarks/README.md -- single conductive cells at odd/odd positions form pockets the
# coarse grid cannot see once diagonal edges are gone)
@pytest.mark.parametrize("four, max_its", [(False, 12), (True, 45)])
def test_high_contrast_landscape_matches_direct(four, max_its):
    # 1e4 contrast, roads, 10 % holes, many components each grounded at one cell
    res = make_landscape((180, 150), seed=1)
    op, _, ncomp = operator_from_resistance(res, four_neighbors=four)
    assert ncomp > 3
    info = check(op, point_rhs(res, op, 1), max_its=max_its)
    assert info.residuals[0] < 1e-5


def test_random_rhs_and_batch():
    res = make_landscape((128, 96), seed=2, contrast=1e3)
    op, _, _ = operator_from_resistance(res)
    rng = np.random.default_rng(0)
    b = rng.standard_normal((3,) + res.shape) * op.active
    x, info = solve(op, b, max_coarse=64)
    assert info.iterations <= 16  # measured 12
    for i in range(3):
        ref = direct(op, b[i])
        assert np.linalg.norm(x[i] - ref) / np.linalg.norm(ref) < 1e-5


def test_finite_grounds_instead_of_dirichlet():
    # components held by extra diagonal (finite grounds) only; no inactive ground cell
    res = make_landscape((120, 140), seed=3, nodata_frac=0.15)
    valid = np.isfinite(res)
    extra = np.zeros(res.shape)
    rng = np.random.default_rng(3)
    extra[valid & (rng.random(res.shape) < 0.002)] = 0.1
    from landscape import components, edges_from_resistance

    labels, ncomp = components(valid)
    has = np.zeros(ncomp + 1, bool)
    has[labels[extra > 0]] = True
    for lab in np.flatnonzero(~has[1:]) + 1:  # every component needs a ground
        i, j = np.argwhere(labels == lab)[0]
        extra[i, j] = 1e-3
    op = GridOperator.build(edges_from_resistance(res), valid, extra_diag=extra)
    check(op, point_rhs(res, op, 3), max_its=11)  # measured 7


def test_several_components_each_grounded():
    # four blocks separated by nodata strips, each with its own ground cell
    res = make_landscape((96, 96), seed=4, nodata_frac=0.0, roads=False)
    res[47:49, :] = np.nan
    res[:, 47:49] = np.nan
    grounds = np.array([[5, 5], [5, 90], [90, 5], [90, 90]])
    op, _, ncomp = operator_from_resistance(res, grounds=grounds)
    assert ncomp == 4
    b = np.zeros(res.shape)
    b[[20, 20, 70, 70], [20, 70, 20, 70]] = 1.0
    check(op, b, max_its=11)  # measured 7


@pytest.mark.parametrize("shape", [(1, 40), (2, 7), (3, 3), (37, 1), (33, 65), (64, 31)])
def test_odd_shapes(shape):
    rng = np.random.default_rng(sum(shape))
    res = 10 ** rng.uniform(0, 3, shape)
    op, _, _ = operator_from_resistance(res)
    b = rng.standard_normal(shape) * op.active
    if not b.any():
        return
    check(op, b, max_its=10, max_coarse=4)  # measured 2-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_preconditioner_is_symmetric(dtype):
    res = make_landscape((70, 90), seed=5)
    op, _, _ = operator_from_resistance(res)
    M = GridMultigrid(op, dtype=dtype, max_coarse=64)  # several levels, dense coarsest
    rng = np.random.default_rng(5)
    u, v = rng.standard_normal((2,) + res.shape) * op.active
    Mv, Mu = M(v), M(u)
    a, b = np.vdot(u, Mv), np.vdot(v, Mu)
    # rounding scale: |u| |Mv| times the cycle's unit roundoff (times a margin)
    scale = np.linalg.norm(u) * np.linalg.norm(Mv)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    assert abs(a - b) <= tol * scale
    assert np.vdot(u, Mu) > 0


def test_symmetric_with_sparse_coarsest_and_v_cycle():
    res = make_landscape((80, 80), seed=6)
    op, _, _ = operator_from_resistance(res)
    M = GridMultigrid(op, dtype=np.float64, max_coarse=2000, cycle="V")
    rng = np.random.default_rng(6)
    u, v = rng.standard_normal((2,) + res.shape) * op.active
    a, b = np.vdot(u, M(v)), np.vdot(v, M(u))
    assert abs(a - b) <= 1e-10 * abs(a)


def _interp_matrix(P, shape):
    m, n = shape
    mc, nc = coarse_shape(shape)
    rows, cols, vals = [], [], []
    I, J = np.meshgrid(np.arange(mc), np.arange(nc), indexing="ij")
    for (ui, uj), p in P.items():
        fi, fj = 2 * I + ui, 2 * J + uj
        ok = (fi >= 0) & (fi < m) & (fj >= 0) & (fj < n)
        assert np.all(p[~ok] == 0)  # no weight on cells past the edge
        rows.append((fi * n + fj)[ok])
        cols.append((I * nc + J)[ok])
        vals.append(p[ok])
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(m * n, mc * nc))


@pytest.mark.parametrize("four", [False, True])
def test_galerkin_stencil_equals_sparse_product(four):
    res = make_landscape((23, 18), seed=7)
    op, _, _ = operator_from_resistance(res, four_neighbors=four)
    st = Stencil.from_operator(op)
    P = interpolation(st)
    Pm = _interp_matrix(P, st.shape)
    ref = (Pm.T @ op.to_csr() @ Pm).toarray()
    C = galerkin(st, P)
    got = GridOperator(GridEdges(C.e, C.s, C.se, C.sw), C.diag, C.active).to_csr().toarray()
    empty = ~C.active.ravel()  # empty columns become identity rows
    ref[empty, empty] = 1.0
    assert np.allclose(got, ref, rtol=1e-12, atol=1e-14)


def test_interpolation_preserves_constants_away_from_grounds():
    res = make_landscape((60, 60), seed=8, contrast=1.0, roads=False)
    op, _, _ = operator_from_resistance(res)
    st = Stencil.from_operator(op)
    P = _interp_matrix(interpolation(st), st.shape)
    ones = P @ np.ones(P.shape[1])
    # cells with no grounded neighbour (diagonal = sum of their conductances)
    free = op.active & np.isclose(st.diag, sum(st.full().values()))
    assert free.sum() > 0.5 * op.active.sum()
    assert np.allclose(ones.reshape(res.shape)[free], 1.0)


def _stencil_csr(st):
    return GridOperator(GridEdges(st.e, st.s, st.se, st.sw), st.diag, st.active).to_csr()


@pytest.mark.parametrize("shape", [(23, 18), (24, 17), (9, 8)])
def test_galerkin_on_coarse_level_equals_sparse_product(shape):
    """Second level: the stencil now has negative conductances (lumped by interpolation)
    and odd/even sizes, which exercise the edges of the quarter-size sampling."""
    op, _, _ = operator_from_resistance(make_landscape(shape, seed=3))
    st = Stencil.from_operator(op)
    st = galerkin(st, interpolation(st))
    assert min(w.min() for _, w in st.forward()) < 0
    P = interpolation(st)
    assert min(p.min() for p in P.values()) >= 0
    Pm = _interp_matrix(P, st.shape)
    ref = (Pm.T @ _stencil_csr(st) @ Pm).toarray()
    C = galerkin(st, P)
    empty = ~C.active.ravel()
    ref[empty, empty] = 1.0
    assert np.allclose(_stencil_csr(C).toarray(), ref, rtol=1e-12, atol=1e-14)


def test_float32_stencil_is_coarsened_in_float64():
    """A float32 stencil (``precision = single`` storage) is cast sample by sample: P and the
    coarse stencil are float64 and equal those of its float64 upcast."""
    op, _, _ = operator_from_resistance(make_landscape((61, 50), seed=4))
    st32 = Stencil.from_operator(op, dtype=np.float32)
    st64 = st32.astype(np.float64)
    for _ in range(2):  # the second level has negative conductances
        P32, P64 = interpolation(st32), interpolation(st64)
        for u in P64:
            assert P32[u].dtype == np.float64
            assert np.allclose(P32[u], P64[u], rtol=1e-12, atol=0)
        C32, C64 = galerkin(st32, P32), galerkin(st64, P64)
        for k in ("diag", "e", "s", "se", "sw"):
            assert getattr(C32, k).dtype == np.float64
            assert np.allclose(getattr(C32, k), getattr(C64, k), rtol=1e-12, atol=0)
        # P in float32 is cast too
        Pf = {u: p.astype(np.float32) for u, p in P64.items()}
        Cf = galerkin(st64, Pf)
        Cu = galerkin(st64, {u: p.astype(np.float64) for u, p in Pf.items()})
        assert Cf.diag.dtype == np.float64
        assert np.allclose(Cf.e, Cu.e, rtol=1e-12, atol=0)
        st32, st64 = C64.astype(np.float32), C64.astype(np.float32).astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_setup_peak_memory_per_cell(dtype):
    """interpolation + galerkin hold only quarter-size temporaries (the fine level of a 2e8-
    cell raster is 1.6 GB per fp64 array). Measured with the quarter-size sampling: 12.6
    bytes per fine cell beyond the returned P (18) and coarse stencil (10), for fp64 and
    fp32 input alike; the former full-size padded copies peaked at 196 (fp64) and 99
    (fp32). Bound: the measurement + 25 %."""
    import gc
    import tracemalloc

    op, _, _ = operator_from_resistance(make_landscape((400, 400), seed=0))
    st = Stencil.from_operator(op, dtype=dtype)
    cells = 400 * 400
    gc.collect()
    tracemalloc.start()
    try:
        P = interpolation(st)
        _, peak_p = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        C = galerkin(st, P)
        _, peak_c = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    bytes_p = sum(p.nbytes for p in P.values())
    bytes_c = sum(a.nbytes for a in (C.diag, C.e, C.s, C.se, C.sw, C.active))
    temp = max(peak_p - bytes_p, peak_c - bytes_p - bytes_c) / cells
    assert temp < 16.0, temp


@pytest.mark.parametrize("four", [False, True])
def test_blocked_apply_matches_sparse_matrix(four, monkeypatch):
    """The host apply works in row blocks; blocks of a few rows must give the same A x as CSR."""
    import gpucircuit.operators as operators

    res = make_landscape((40, 50), seed=9)
    op, _, _ = operator_from_resistance(res, four_neighbors=four)
    x = np.random.default_rng(9).standard_normal((2, 40, 50))
    ref = (op.to_csr() @ x.reshape(2, -1).T).T.reshape(x.shape)
    for block in (50, 7 * 50 * 2, 1 << 18):  # one row, 7 rows, the whole grid
        monkeypatch.setattr(operators, "_BLOCK", block)
        assert np.allclose(op.apply(x), ref, rtol=1e-13, atol=1e-13)


def test_options_set_the_hierarchy():
    """max_coarse / max_levels decide the depth; the default coarsest size is the backend's."""
    op, _, _ = operator_from_resistance(make_landscape((70, 90), seed=5))
    shapes = [lvl.shape for lvl in GridMultigrid(op, MultigridOptions(max_coarse=64)).levels]
    assert shapes == [(70, 90), (35, 45), (18, 23), (9, 12), (5, 6)]  # halved (rounded up) until <= 64 cells
    assert [lvl.shape for lvl in GridMultigrid(op, max_coarse=64, max_levels=3).levels] == shapes[:3]
    assert MultigridOptions().coarse_limit(np) == MAX_COARSE["cpu"] > 70 * 90
    assert len(GridMultigrid(op).levels) == 1  # a CPU default: this grid is solved directly
    # keyword overrides leave the given options object alone
    base = MultigridOptions(cycle="V")
    M = GridMultigrid(op, base, max_coarse=64, dtype=np.float64)
    assert (M.options.cycle, M.options.max_coarse, M.dtype) == ("V", 64, np.float64)
    assert base.max_coarse is None


@pytest.mark.parametrize("bad", [dict(cycle="F"), dict(max_levels=0), dict(presmooth=-1), dict(max_coarse=0)])
def test_options_refuse_bad_values(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        MultigridOptions(**bad)


def test_a_coarse_diagonal_below_float32_range_does_not_poison_the_cycle():
    """A row whose Galerkin diagonal is below float32's range (1e-46 on level 2 of a 4-neighbour map
    at contrast 1e8) used to be stored as 0 in the float32 smoother and divided to inf / NaN."""
    from gpucircuit.solver.smoothers import ColouredGS

    n = 8
    diag = np.full((n, n), 4.0)
    e, s = np.ones((n, n)), np.ones((n, n))
    e[:, -1] = 0
    s[-1, :] = 0
    diag[3, 4] = 1e-46  # its own links are as small
    e[3, 3:5] = 1e-47
    s[2:4, 4] = 1e-47
    st = Stencil(diag=diag, e=e, s=s)
    sm = ColouredGS(st, np.float32)
    b = np.random.default_rng(0).random((1, n, n)).astype(np.float32)
    mc, nc = sm.cshape
    B = {c: np.zeros((1, mc, nc), np.float32) for c in sm.diag}
    sm.split(b, B)
    X = sm.buffers(1, np.float32)
    sm.forward(X, B, sweeps=2, zero_init=True)
    x = sm.merge(X)
    assert np.isfinite(x).all()
    assert abs(x[0, 3, 4] - b[0, 3, 4]) <= 1e-6  # not smoothed: x = b on that row
