"""Which method solves a system: the one place ``auto`` is decided and method names are checked."""
from __future__ import annotations

from ..errors import SolverError
from .options import SolveOptions

METHODS = ("auto", "direct", "mg", "amg")


def pick_method(options: SolveOptions, unknowns: int, rhs: int = 1, on_grid: bool = True,
                gpu: bool = False) -> str:
    """``direct``, ``mg`` or ``amg`` for ``unknowns`` and ``rhs`` right-hand sides.

    ``auto`` takes the direct solver up to ``direct_limit`` unknowns, and on a CPU up to
    ``many_rhs_limit`` when at least ``many_rhs`` right-hand sides share the factorisation;
    larger grids get the grid multigrid. Systems without a grid (networks) cannot use the grid
    multigrid: there ``mg`` and a large ``auto`` mean pyamg smoothed aggregation.
    """
    m = options.method
    if m not in METHODS:
        raise SolverError(f"unknown solver method {m!r}: use auto, direct, mg or amg")
    if m == "auto":
        if unknowns <= options.direct_limit:
            return "direct"
        if not on_grid:
            return "amg"
        many = not gpu and rhs >= options.many_rhs and unknowns <= options.many_rhs_limit
        return "direct" if many else "mg"
    if m == "mg" and not on_grid:
        return "amg"
    return m
