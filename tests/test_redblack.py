"""Red-black elimination for 4-neighbour grids (``solver/redblack``), against independent checks.

The Schur complement stencil is compared with S = A_rr - A_rb A_bb^-1 A_br formed from the sparse
matrix; the preconditioner with an exact inner solve must be A^-1 itself (compared with a sparse
LU); the rotated layout must keep every red cell exactly once.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from gpucircuit.grid import edges_from_conductance
from gpucircuit.operators import GridOperator
from gpucircuit.solver.redblack import RedBlackMultigrid, grid_preconditioner, rotate, rotated_shape, schur_stencil, unrotate
from gpucircuit.solver.multigrid import GridMultigrid, MultigridOptions


def random_op(shape, seed=0, contrast=1e4):
    """A 5-point operator with holes, an inactive (grounded) cell and a finite ground."""
    rng = np.random.default_rng(seed)
    g = 10.0 ** rng.uniform(-np.log10(contrast), 0, shape)
    g[rng.random(shape) < 0.1] = 0  # holes: no node
    active = g > 0
    active[shape[0] // 2, shape[1] // 2] = False  # a node held at 0 V
    extra = np.zeros(shape)
    extra[1, 1] = 0.3 * active[1, 1]
    return GridOperator.build(edges_from_conductance(g, True, False), active, extra_diag=extra)


@pytest.mark.parametrize("shape", [(5, 7), (6, 4), (1, 3), (2, 5), (7, 7)])
def test_rotation_keeps_each_red_cell_once(shape):
    m, n = shape
    x = np.arange(1, m * n + 1, dtype=float).reshape(1, m, n)
    R = rotate(x, shape)
    assert R.shape[1:] == rotated_shape(shape)[0]
    red = (np.add.outer(np.arange(m), np.arange(n)) % 2 == 0)
    assert sorted(R[R != 0].tolist()) == sorted(x[0][red].tolist())
    back = np.zeros_like(x)
    unrotate(R, back, shape)
    assert np.array_equal(back[0], np.where(red, x[0], 0))
    # grid offset (1, 1) is the rotated (1, 0) neighbour, (1, -1) the (0, 1) one
    i, j = np.argwhere(R[0] == x[0, 0, 0])[0]
    if m > 1 and n > 1:
        assert R[0, i + 1, j] == x[0, 1, 1]
    if m > 2:
        assert R[0, i + 1, j + 1] == x[0, 2, 0]


@pytest.mark.parametrize("shape", [(9, 12), (10, 7)])
def test_schur_stencil_equals_sparse_schur_complement(shape):
    op = random_op(shape, seed=1)
    A = op.to_csr()
    m, n = shape
    red = (np.add.outer(np.arange(m), np.arange(n)) % 2 == 0).ravel()
    act = op.active.ravel()
    r, b = np.flatnonzero(red & act), np.flatnonzero(~red & act)
    Abb = A[b][:, b].tocsc()
    assert abs(Abb - sp.diags(Abb.diagonal())).sum() == 0  # black cells are linked to red ones only
    want = (A[r][:, r] - A[r][:, b] @ sp.diags(1 / Abb.diagonal()) @ A[b][:, r]).toarray()
    rb = RedBlackMultigrid(op, max_levels=1)
    S = schur_stencil(op, rb.inv_black)
    pos = rotate(np.arange(1, m * n + 1, dtype=float).reshape(m, n), shape).ravel()
    where = {int(v) - 1: k for k, v in enumerate(pos) if v}
    rows = [where[c] for c in r]
    got = S.to_csr()[rows][:, rows].toarray()
    assert np.allclose(got, want, rtol=1e-12, atol=1e-14 * np.abs(want).max())
    inactive = np.ones(pos.size, bool)
    inactive[rows] = False
    assert np.all(S.diag.ravel()[inactive] == 1) and not S.active.ravel()[inactive].any()


def test_exact_inner_solve_gives_the_inverse():
    """With a one-level hierarchy (direct solve of S) the preconditioner is A^-1 exactly."""
    op = random_op((14, 11), seed=2)
    M = RedBlackMultigrid(op, max_levels=1, dtype=np.float64)
    rng = np.random.default_rng(0)
    r = rng.standard_normal((2,) + op.shape) * op.active
    A = op.to_csr().tocsc()
    want = np.stack([sla.spsolve(A, v.ravel()).reshape(op.shape) for v in r])
    got = M(r)
    assert np.allclose(got, want, rtol=1e-9, atol=1e-9 * np.abs(want).max())
    assert np.allclose(M(r[0]), want[0], rtol=1e-9, atol=1e-9 * np.abs(want).max())


def test_preconditioner_is_symmetric_positive_definite():
    op = random_op((40, 37), seed=3)
    M = RedBlackMultigrid(op, max_coarse=16, dtype=np.float64)
    assert len(M.levels) >= 4
    rng = np.random.default_rng(1)
    u, v = (rng.standard_normal(op.shape) * op.active for _ in range(2))
    assert np.isclose(np.vdot(u, M(v)), np.vdot(v, M(u)), rtol=1e-10)
    assert np.vdot(u, M(u)) > 0 and np.vdot(v, M(v)) > 0


def test_grid_preconditioner_picks_by_stencil():
    op4 = random_op((8, 8))
    assert isinstance(grid_preconditioner(op4), RedBlackMultigrid)
    assert isinstance(grid_preconditioner(op4, MultigridOptions(eliminate_black=False)), GridMultigrid)
    g = np.ones((8, 8))
    op8 = GridOperator.build(edges_from_conductance(g, False, False), g > 0, extra_diag=np.full((8, 8), 0.1))
    assert isinstance(grid_preconditioner(op8), GridMultigrid)
    with pytest.raises(ValueError):
        RedBlackMultigrid(op8)
