"""Which method solves a system: the one place ``auto`` is decided (names are checked by SolveOptions)."""
from __future__ import annotations

from .options import SolveOptions

def pick_method(options: SolveOptions, unknowns: int, rhs: int = 1, on_grid: bool = True,
                gpu: bool = False) -> str:
    """``direct``, ``mg`` or ``amg`` for ``unknowns`` and ``rhs`` right-hand sides.

    ``auto`` takes the direct solver up to ``direct_limit`` unknowns, and on a CPU up to
    ``many_rhs_limit`` when at least ``many_rhs`` right-hand sides share the factorisation;
    larger grids get the grid multigrid. Systems without a grid (networks) cannot use the grid
    multigrid: there ``mg`` and a large ``auto`` mean pyamg smoothed aggregation.
    """
    m = options.method  # a known one: SolveOptions refuses others
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
