"""The solver classes share one interface (setup once, ``solve(B) -> (X, info)``), checked against a
direct SciPy solve; the method choice and the residual check each live in one function."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from gpucircuit.errors import InputError, SolverError
from gpucircuit.solver.choice import pick_method
from gpucircuit.solver.options import SolveOptions, SolveStats
from gpucircuit.solver.residual import RESIDUAL_LIMIT, record
from gpucircuit.solver.sparse import AmgSolver, DirectSolver
from gpucircuit.solver.system import GroundedSystem
from gpucircuit.solver.unknowns import reduced_laplacian, to_grid, to_unknowns
from reference import grounded_component


@pytest.fixture(scope="module")
def system():
    s, _, _ = grounded_component((24, 24), seed=3, method="direct")
    return s


@pytest.mark.parametrize("cls", [DirectSolver, AmgSolver])
def test_sparse_solvers_match_scipy(system, cls):
    A = reduced_laplacian(system.graph, system.uid, system.n, None)
    B = np.random.default_rng(0).standard_normal((3, system.n))
    X, info = cls(A, SolveOptions(rtol=1e-10)).solve(B)
    want = spla.spsolve(A.tocsc(), B.T).T
    np.testing.assert_allclose(X, want, rtol=1e-7, atol=1e-9)
    own = np.linalg.norm(B - (A @ X.T).T, axis=1) / np.linalg.norm(B, axis=1)
    np.testing.assert_allclose(info.residuals, own, rtol=1e-6, atol=1e-16)
    assert (cls is DirectSolver) == (info.iterations == 0)


def test_grid_multigrid_solver_matches_the_direct_one(system):
    s_mg, _, cells = grounded_component((24, 24), seed=3, method="mg")
    rhs = np.zeros((2,) + system.graph.shape)
    rhs[0].flat[cells[5]], rhs[1].flat[cells[-3]] = 1.0, 2.0
    got, info = s_mg.solver.solve(rhs.copy())
    A = reduced_laplacian(system.graph, system.uid, system.n, None)
    want = to_grid(system.uid, spla.spsolve(A.tocsc(), to_unknowns(system.uid, system.n, rhs).T).T)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9)
    assert info.iterations > 0 and np.all(np.asarray(info.residuals) < 1e-6)


@pytest.mark.parametrize("method, n, rhs, on_grid, gpu, want", [
    ("auto", 100, 1, True, False, "direct"),
    ("auto", 60_000, 1, True, False, "mg"),
    ("auto", 60_000, 8, True, False, "direct"),  # many right-hand sides on a CPU: one factorisation
    ("auto", 60_000, 8, True, True, "mg"),
    ("auto", 60_000, 1, False, False, "amg"),  # a network has no grid for the grid multigrid
    ("mg", 10, 1, False, False, "amg"),
    ("mg", 10, 1, True, False, "mg"),
    ("amg", 10, 1, True, False, "amg"),
    ("direct", 10**7, 1, True, True, "direct"),
])
def test_method_choice(method, n, rhs, on_grid, gpu, want):
    assert pick_method(SolveOptions(method=method), n, rhs, on_grid=on_grid, gpu=gpu) == want


def test_unknown_method_is_one_error():
    with pytest.raises(InputError, match="solver method must be one of auto, direct, mg, amg, not 'lu'"):
        SolveOptions(method="lu")


def test_residual_check_keeps_going_with_global_indices_or_names_another_solver():
    stats = SolveStats("mg", 50)
    record(stats, 3, 7, [1e-9, 10 * RESIDUAL_LIMIT, np.nan], keep_going=True, start=4)
    assert stats.solves == 3 and stats.iterations == 7 and sorted(stats.failed) == [5, 6]
    with pytest.raises(SolverError, match=r"the direct solver did not converge.*try --solver mg"):
        record(SolveStats("direct", 50), 1, 0, [1.0], keep_going=False)


def test_a_grounded_system_refuses_a_cluster():
    """Spreading over a cluster is the distribution layer's job: a silent local solve would hide it."""
    s, graph, _ = grounded_component((10, 10), seed=1, method="direct")
    with pytest.raises(SolverError, match="gpucircuit.distribute.grounded_system"):
        GroundedSystem(graph, fixed=s.fixed, options=SolveOptions(client=object()))
