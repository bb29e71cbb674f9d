"""Iteration counts that must not grow with the structure of the problem (issue 9).

A large region held at 0 V by one weak link (a single grounded cell on the 24 M-cell BigTests
map, a focal point on a resistive cell, a finite ground of high resistance) makes the operator
nearly singular: its slowest mode is almost constant over the region. The float32 cycle must
still give a positive definite preconditioner there; iteration bounds are the counts measured
with a float64 cycle (5) plus a margin, and every solution is checked against a direct solve.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from gpucircuit.grid import edges_from_conductance
from gpucircuit.operators import GridEdges, GridOperator
from gpucircuit.solver.coarsening import Stencil, galerkin, interpolation
from gpucircuit.solver.multigrid import solve
from gpucircuit.solver.smoothers import ColouredGS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from landscape import spectral_field  # noqa: E402

from reference import grid_direct  # noqa: E402


def direct(op, b):
    return grid_direct(op, b)


def held_by_one_weak_link(n=256, ground=1e-7, dirichlet=False, seed=0):
    """Resistances 1-100 (smooth random field, average resistances, 8 neighbours, as on the
    BigTests maps); the whole map is held by one cell: either a finite ground of conductance
    ``ground`` at a corner, or a grounded corner cell reached through resistance 1/``ground``."""
    rng = np.random.default_rng(seed)
    f = spectral_field((n, n), 2.0, rng)
    res = 1 + 99 * (f - f.min()) / (f.max() - f.min())
    active = np.ones((n, n), bool)
    extra = np.zeros((n, n))
    if dirichlet:
        res[0, 0] = 1 / ground
        active[0, 0] = False
    else:
        extra[0, 0] = ground
    op = GridOperator.build(edges_from_conductance(1 / res, False, True), active, extra_diag=extra)
    b = np.zeros((n, n))
    b[n // 2, n // 3] = 1.0
    return op, b


@pytest.mark.parametrize("dirichlet", [False, True])
@pytest.mark.parametrize("cycle", ["W", "V"])
def test_region_held_by_one_weak_link_float32_cycle(dirichlet, cycle):
    # measured before the exact coarse residual (float32 W-cycle): 45 (finite ground), 15 (grounded
    # cell); after: 7 and 6; a float64 cycle: 5
    op, b = held_by_one_weak_link(dirichlet=dirichlet)
    x, info = solve(op, b, rtol=1e-6, maxiter=60, dtype=np.float32, cycle=cycle, max_coarse=64)
    assert info.converged and info.iterations <= 8, info
    ref = direct(op, b)
    assert np.linalg.norm(x - ref) / np.linalg.norm(ref) < 1e-5


def test_exact_residual_equals_sparse_product_on_coarse_level():
    """The difference form gives b - A x of the coarse Galerkin operator (checked against its
    sparse matrix), also for a near-constant x whose residual float32 arithmetic would lose."""
    op, _ = held_by_one_weak_link(n=64, ground=1e-3)
    st = Stencil.from_operator(op)
    coarse = galerkin(st, interpolation(st))
    sm = ColouredGS(coarse, np.float32, grounded=True)
    A = GridOperator(GridEdges(coarse.e, coarse.s, coarse.se, coarse.sw), coarse.diag, None).to_csr()
    rng = np.random.default_rng(3)
    m, n = coarse.shape
    x = (1e4 + rng.random((2, m, n))).astype(np.float32)  # a large constant part
    b = rng.random((2, m, n))
    want = b.reshape(2, -1) - (A @ x.reshape(2, -1).astype(np.float64).T).T
    got = sm.exact_residual(b, x).reshape(2, -1)
    # float32 weights and ground: relative precision of each term of the difference form, not
    # of diag * x (1e4 times larger)
    xs = x.reshape(2, -1).T.astype(np.float64)
    scale = np.abs(A) @ np.abs(xs - 1e4) + np.abs(A @ np.ones(m * n))[:, None] * np.abs(xs)
    assert np.all(np.abs(got - want) <= 1e-6 * (scale.T + np.abs(b.reshape(2, -1))) + 1e-9)
