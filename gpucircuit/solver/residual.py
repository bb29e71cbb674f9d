"""The residual check every solve goes through, whichever method ran.

Circuitscape refuses a solution whose relative residual is above RESIDUAL_LIMIT. Here a failed
right-hand side is an error naming another solver to try, or, with ``keep_going``, an entry in
``SolveStats.failed`` (the job reports -777 for it and carries on).
"""
from __future__ import annotations

import numpy as np

from ..errors import SolverError
from .options import SolveStats

RESIDUAL_LIMIT = 1e-4


def relative_residuals(A, B: np.ndarray, X: np.ndarray) -> np.ndarray:
    """||b - A x|| / ||b|| for each row of B (k, n) and X (k, n)."""
    return np.linalg.norm(B - (A @ X.T).T, axis=1) / np.maximum(np.linalg.norm(B, axis=1), 1e-300)


def record(stats: SolveStats, k: int, iterations: int, residuals, keep_going: bool, start: int = 0):
    """Count ``k`` solves (right-hand sides ``start``..) in ``stats`` and check their residuals."""
    stats.solves += k
    stats.iterations = max(stats.iterations, int(iterations))
    res = np.atleast_1d(np.asarray(residuals, dtype=np.float64))
    bad = ~np.isfinite(res) | (res > RESIDUAL_LIMIT)
    stats.max_residual = max(stats.max_residual, float(np.max(res)) if res.size else 0.0)
    if not bad.any():
        return
    if keep_going:
        stats.failed.update({start + int(j): float(res[j]) for j in np.flatnonzero(bad)})
        return
    worst = float(np.max(np.where(np.isfinite(res), res, np.inf)))
    raise SolverError(
        f"the {stats.method} solver did not converge: relative residual {worst:.2e} > {RESIDUAL_LIMIT:g} "
        f"after {iterations} iterations on {stats.unknowns} unknowns (try --solver {other_solver(stats.method)} "
        "or check for extreme resistance values)"
    )


def other_solver(method: str) -> str:
    """The solver to suggest when ``method`` failed: a factorisation for the iterative ones."""
    return "mg" if method == "direct" else "direct"
