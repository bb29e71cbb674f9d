"""Iteration bounds that a broken multigrid cannot meet.

On a 200 x 200 high-contrast landscape (resistance 1-1e4, roads, 10 % holes; ~36,000 unknowns)
the full method (W-cycle of a five-level hierarchy, pocket deflation, merged-region
preconditioner) needs 8-22 CG iterations to rtol 1e-6. Each bound is that count plus a margin;
CG is stopped at the bound, so a solver that needs more fails here with "did not converge" in
seconds instead of iterating for minutes. Measured when the tests were written (CG iterations,
one right-hand side, capped at 1000; "> 1000" with the relative residual left at the cap):

    case                    full [bound]  identity preconditioner  no post-smoothing  no coarse correction
    8 neighbours             8   [14]     > 1000 (7.6e-2)          > 1000 (1.6e-3)    806
    4 neighbours            22   [34]     > 1000 (2.7e-1)          > 1000 (8.6e-2)    > 1000 (2.9e-2)
    (4 neighbours is 14 since the red-black elimination; 320 x 320 cases below)
    8 neighbours + regions  13   [20]     > 1000 (9.6e-2)          > 1000 (1.7e-3)    1000

Each of the three mutations was made by hand in the code and made these tests fail (the
identity only here: the other solver tests converge on their small grids even without a
preconditioner). "Identity" for the regions case is the merged-region preconditioner replaced.
The solution is checked against the sparse LU of the same circuit (an independent code path:
CSR matrix of the unknowns, no grid operator, no multigrid).
"""
import sys
from pathlib import Path

import numpy as np
import pytest

from gpucircuit.grid import build_raster_graph
from gpucircuit.solver.multigrid import MultigridOptions
from gpucircuit.solver.system import GroundedSystem, SolveOptions

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from landscape import make_landscape, pick_focal_points  # noqa: E402

N = 200
MULTIGRID = MultigridOptions(max_coarse=256)  # 200 -> 100 -> 50 -> 25 -> 13: five levels


def disc_regions(shape, seed, count=8):
    """``count`` short-circuit discs (radius 3-8 cells) at random places; overlaps merge."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    labels = np.zeros(shape, np.int64)
    for lab in range(1, count + 1):
        ci, cj = rng.integers(10, shape[0] - 10, size=2)
        rad = rng.integers(3, 9)
        labels[(yy - ci) ** 2 + (xx - cj) ** 2 <= rad * rad] = lab
    return labels


def largest_component_system(four, regions, method, maxiter=1000, seed=0, n=N, contrast=1e4):
    """The landscape's largest component grounded at one point, and 1 A injections at 2 others."""
    res = make_landscape((n, n), seed=seed, contrast=contrast)
    g = np.where(np.isfinite(res), 1 / res, 0.0)
    merge = np.where(g > 0, disc_regions(res.shape, seed), 0) if regions else None
    graph = build_raster_graph(g, four, merge=merge)
    comp = graph.components
    keep = comp == np.bincount(comp[graph.node]).argmax()
    pts = pick_focal_points(np.where(keep, res, np.nan), 3, seed)
    fixed = np.zeros(res.shape, bool)
    fixed[pts[0, 0], pts[0, 1]] = True
    options = SolveOptions(method=method, maxiter=maxiter, multigrid=MULTIGRID)
    system = GroundedSystem(graph, fixed=fixed, solve_mask=keep, options=options)
    if regions:
        inside = np.isin(graph.merge, np.unique(graph.merge[keep & (graph.merge > 0)]))
        assert (inside & keep).sum() > 100, "the regions should matter to the solve"
    return system, pts[1:, 0] * n + pts[1:, 1]


@pytest.mark.parametrize("four, regions, bound", [(False, False, 14), (True, False, 34), (False, True, 20)],
                         ids=["8-neighbours", "4-neighbours", "8-neighbours-regions"])
def test_full_method_meets_iteration_bound(four, regions, bound):
    system, cells = largest_component_system(four, regions, "mg", maxiter=bound)
    assert system.stats.levels >= 4, system.stats.levels  # a real hierarchy, not a direct solve
    volts = system.solve_units(cells)  # raises SolverError if CG needed more than ``bound``
    assert system.stats.iterations <= bound
    ref_system, _ = largest_component_system(four, regions, "direct")
    ref = ref_system.solve_units(cells)
    for v, r in zip(volts, ref):
        assert np.linalg.norm(v - r) <= 1e-5 * np.linalg.norm(r)


@pytest.mark.parametrize("seed", [0, 1])
def test_four_neighbours_at_320_meets_bound(seed):
    """4 neighbours on a 320 x 320 map: the red-black elimination (``solver/redblack``) needs 20 / 18
    iterations (seeds 0 / 1) on a seven-level hierarchy; multigrid on the 5-point grid itself took
    40 / 33, and before faint hole cells handed their weights over (``hole_weights``) the
    eliminated system's coarsest level was singular (436 on seed 1)."""
    system, cells = largest_component_system(True, False, "mg", maxiter=24, seed=seed, n=320)
    assert system.stats.levels >= 4, system.stats.levels
    volts = system.solve_units(cells)
    # CG stops at the bound and only a residual above 1e-4 is refused: check it reached rtol
    assert system.stats.iterations <= 24 and system.stats.max_residual <= 1e-6 * 10
    ref_system, _ = largest_component_system(True, False, "direct", seed=seed, n=320)
    for v, r in zip(volts, ref_system.solve_units(cells)):
        assert np.linalg.norm(v - r) <= 1e-5 * np.linalg.norm(r)


def test_four_neighbours_at_contrast_1e8_meets_bound():
    """Resistance 1-1e8, 4 neighbours, 256 x 256: 14 iterations with weakly linked regions of up to a
    quarter of the map deflated and the dead ends hanging on them absorbed (``weak_regions.absorb``;
    22 without the dead ends, 31 with regions capped at 1 % of the map, 77 in an earlier red-black
    solver, 195 with multigrid on the 5-point grid). The bound (18) guards those gains; at 1 M cells
    the target (20) is not met at this contrast (benchmarks/README.md, issue 9)."""
    system, cells = largest_component_system(True, False, "mg", maxiter=18, n=256, contrast=1e8)
    assert system.stats.levels >= 4, system.stats.levels
    volts = system.solve_units(cells)
    assert system.stats.max_residual <= 1e-6 * 10  # rtol reached within the bound
    ref_system, _ = largest_component_system(True, False, "direct", n=256, contrast=1e8)
    for v, r in zip(volts, ref_system.solve_units(cells)):
        assert np.linalg.norm(v - r) <= 1e-5 * np.linalg.norm(r)
