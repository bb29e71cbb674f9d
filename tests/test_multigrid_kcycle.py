"""The K-cycle (``MultigridOptions(cycle="K")``) and the flexible PCG it needs.

At each coarse level the K-cycle replaces the W-cycle's two stationary visits by two steps of
flexible CG preconditioned by the next level's cycle (Notay & Vassilevski 2008). The preconditioner
is then nonlinear, so the outer CG uses the Polak-Ribiere beta (``pcg(..., flexible=True)``).

Independent checks: the coarse step against the explicit 2x2 Galerkin projection on span{c1, c2};
flexible PCG against a preconditioner that changes at every call; the full engine path against a
sparse LU of the same circuit, with iteration bounds that the broken components exceed.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from gpucircuit.operators import GridEdges, GridOperator
from gpucircuit.solver.cg import pcg
from gpucircuit.solver.coarsening import Stencil, galerkin, interpolation
from gpucircuit.solver.multigrid import GridMultigrid, MultigridOptions, solve

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from landscape import make_landscape, operator_from_resistance  # noqa: E402
from test_solver_iterations import largest_component_system  # noqa: E402
import test_solver_iterations  # noqa: E402

from reference import grid_direct  # noqa: E402


def direct(op, b):
    return grid_direct(op, b)


def test_coarse_step_is_the_galerkin_projection_on_two_cycle_directions():
    """x = argmin of the A-norm error over span{c1, c2}, c1 = B b, c2 = B (b - g1 A c1): solved here
    as the 2x2 system [c1 c2]^T A [c1 c2] y = [c1 c2]^T b with A from the level's sparse matrix."""
    res = make_landscape((200, 200), seed=1)
    op, _, _ = operator_from_resistance(res)
    M = GridMultigrid(op, cycle="K", max_coarse=64, dtype=np.float64)
    assert len(M.levels) >= 4
    lev = 1
    st = Stencil.from_operator(op)
    coarse = galerkin(st, interpolation(st))
    A = GridOperator(GridEdges(coarse.e, coarse.s, coarse.se, coarse.sw), coarse.diag, None).to_csr()
    m, n = M.levels[lev].shape
    b = np.random.default_rng(0).standard_normal((2, m, n))
    x = M.coarse_solve(lev, b)
    c1 = M.coarse_solve(lev, b, krylov=False)
    for i in range(2):
        bi, ci = b[i].ravel(), c1[i].ravel()
        g1 = ci @ bi / (ci @ (A @ ci))
        c2 = M.coarse_solve(lev, (bi - g1 * (A @ ci)).reshape(1, m, n), krylov=False)[0].ravel()
        C = np.stack([ci, c2], 1)
        want = C @ np.linalg.solve(C.T @ (A @ C), C.T @ bi)
        assert np.linalg.norm(x[i].ravel() - want) <= 1e-10 * np.linalg.norm(want)


def test_flexible_pcg_converges_with_a_preconditioner_that_changes_every_call():
    """M_k = S_k M S_k with a fresh random diagonal S_k (within 2 %) at every call: measured 29
    iterations with the Polak-Ribiere beta; the standard beta stalls (residual 2e-3 after 3000)."""
    res = make_landscape((100, 100), seed=2, contrast=10)
    op, _, _ = operator_from_resistance(res)
    b = np.random.default_rng(0).standard_normal((1,) + op.shape) * op.active
    mg = GridMultigrid(op, max_coarse=64, cycle="V")

    def varying():
        rng = np.random.default_rng(1)

        def M(r):
            s = rng.uniform(0.98, 1.02, size=r.shape)
            return mg(r * s) * s
        return M

    x, info = pcg(op.apply, b, varying(), rtol=1e-6, maxiter=40, flexible=True)
    assert info.converged and info.iterations <= 40
    ref = direct(op, b[0])
    assert np.linalg.norm(x[0] - ref) <= 1e-5 * np.linalg.norm(ref)
    _, plain = pcg(op.apply, b, varying(), rtol=1e-6, maxiter=200, flexible=False)
    assert not plain.converged  # the test needs the flexible beta


def test_flexible_pcg_equals_pcg_for_a_fixed_preconditioner():
    """With a linear preconditioner r_new.z_old is 0 and the Polak-Ribiere beta is CG's."""
    res = make_landscape((90, 70), seed=3)
    op, _, _ = operator_from_resistance(res)
    b = np.random.default_rng(2).standard_normal((2,) + op.shape) * op.active
    mg = GridMultigrid(op, max_coarse=64, dtype=np.float64)
    x1, i1 = pcg(op.apply, b, mg, rtol=1e-8, flexible=False)
    x2, i2 = pcg(op.apply, b, mg, rtol=1e-8, flexible=True)
    assert abs(i1.iterations - i2.iterations) <= 1
    assert np.linalg.norm(x1 - x2) <= 1e-6 * np.linalg.norm(x1)


def test_k_cycle_matches_direct_solve_and_is_flexible():
    res = make_landscape((150, 130), seed=4)
    op, _, _ = operator_from_resistance(res)
    b = np.random.default_rng(4).standard_normal((2,) + op.shape) * op.active
    x, info = solve(op, b, cycle="K", max_coarse=64)
    assert GridMultigrid(op, cycle="K", max_coarse=64).flexible
    assert not GridMultigrid(op, cycle="W", max_coarse=64).flexible
    assert info.converged and info.iterations <= 14  # measured 10
    for i in range(2):
        ref = direct(op, b[i])
        assert np.linalg.norm(x[i] - ref) <= 1e-5 * np.linalg.norm(ref)


# Engine path (GroundedSystem: pocket deflation, then the hierarchy; 320 x 320, 1e4 contrast, roads,
# holes, 8 neighbours, max_coarse 64: seven levels). Measured CG iterations, one injection:
#   seed   K-cycle   W-cycle   K, standard beta   K, second coarse step skipped
#     2       11        12            15                     22
#     4        7         9             7                     17
# Each bound fails on the broken K-cycle (each mutation was made by hand in multigrid.py / cg.py);
# seed 4's also on today's W-cycle.
@pytest.mark.parametrize("seed, bound", [(2, 13), (4, 8)])
def test_k_cycle_iteration_bound_on_a_deep_hierarchy(seed, bound, monkeypatch):
    monkeypatch.setattr(test_solver_iterations, "MULTIGRID", MultigridOptions(max_coarse=64, cycle="K"))
    # CG may run past the bound: a count is only compared once it has reached rtol
    system, cells = largest_component_system(False, False, "mg", maxiter=bound + 30, seed=seed, n=320)
    volts = system.solve_units(cells[:1])
    assert system.stats.levels >= 4, system.stats.levels
    assert system.stats.iterations <= bound, system.stats.iterations
    ref_system, _ = largest_component_system(False, False, "direct", seed=seed, n=320)
    ref = ref_system.solve_units(cells[:1])
    assert np.linalg.norm(volts[0] - ref[0]) <= 1e-5 * np.linalg.norm(ref[0])


def test_k_cycle_with_four_neighbours_matches_direct(monkeypatch):
    """The red-black path hands the K-cycle's nonlinearity on to CG (``RedBlackMultigrid.flexible``)."""
    monkeypatch.setattr(test_solver_iterations, "MULTIGRID", MultigridOptions(max_coarse=256, cycle="K"))
    system, cells = largest_component_system(True, False, "mg", maxiter=40, seed=0, n=200)
    volts = system.solve_units(cells[:1])
    assert system.stats.levels >= 4 and system.solver.multigrid.flexible
    ref_system, _ = largest_component_system(True, False, "direct", seed=0, n=200)
    ref = ref_system.solve_units(cells[:1])
    assert np.linalg.norm(volts[0] - ref[0]) <= 1e-5 * np.linalg.norm(ref[0])
