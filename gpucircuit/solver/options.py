"""What a solve is asked to do (SolveOptions) and what it did (SolveStats)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from ..errors import InputError
from .multigrid import MultigridOptions

Method = Literal["auto", "direct", "mg", "amg"]
Precision = Literal["double", "single"]


@dataclass
class SolveOptions:
    method: Method = "auto"
    rtol: float = 1e-6
    maxiter: int = 1000
    direct_limit: int = 50_000  # unknowns; auto uses a direct solver up to here
    # on the CPU a factorisation pays off when it serves many right-hand sides: auto also picks
    # the direct solver up to many_rhs_limit unknowns when at least many_rhs are to be solved
    # (measured, 2 cores: all-to-one over 17 cores on a 0.36 M-unknown corridor circuit took 4.4 s
    # direct against 103 s multigrid at 44 iterations x 16 right-hand sides)
    many_rhs: int = 8
    # (and 2 cores, all-to-one over 43 points, 1.89 M unknowns, 42 right-hand sides: multigrid
    # 11 iterations, about 250 s CPU; the factorisation with a symmetric ordering, about 2.5x less)
    many_rhs_limit: int = 2_500_000
    precision: Precision = "double"  # single: fp32 edge conductances (CG keeps fp64 vectors either way)
    multigrid: MultigridOptions = field(default_factory=MultigridOptions)  # the mg method's hierarchy and cycle
    # a dask.distributed Client: right-hand sides are spread over its workers. Only the distribution
    # layer above the solver (gpucircuit.distribute) reads it; nothing under solver/ does.
    client: object = None
    # a right-hand side that fails the residual check is listed in SolveStats.failed instead of
    # stopping the job (Circuitscape reports -777 for that pair and carries on)
    keep_going: bool = False

    def __post_init__(self):
        # the library's edge: the API and every caller get the same one-line error for a bad choice
        for name, kind in (("method", Method), ("precision", Precision)):
            if getattr(self, name) not in get_args(kind):
                raise InputError(f"solver {name} must be one of {', '.join(get_args(kind))}, "
                                 f"not {getattr(self, name)!r}")


@dataclass
class SolveStats:
    method: str
    unknowns: int
    solves: int = 0
    iterations: int = 0
    max_residual: float = 0.0
    setup_s: float = 0.0  # hierarchy / factorisation
    solve_s: float = 0.0  # all solves, transfers included
    failed: dict = field(default_factory=dict)  # right-hand side index -> relative residual (keep_going)
    levels: int = 0  # multigrid levels, finest included (0: no multigrid)
