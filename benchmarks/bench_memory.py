"""Device memory per cell of one raster solve, measured on the CPU path (the same arrays).

The matrix-free path allocates the same arrays through the array namespace on NumPy and CuPy,
so tracing NumPy allocations (``tracemalloc``) while ``GroundedSystem`` builds its device
side and solves measures what a GPU would hold, without a GPU. Host-only work is kept out:
the graph, the unknown numbering and the pocket search (which runs on the host on a GPU too)
are excluded by resetting the trace around them. Not counted: the active mask's device copy
(1 B/cell; on NumPy it is a view) and the CuPy pool's rounding (``memory.HEADROOM`` covers it).

Reports per case: device setup peak, bytes kept for the solves, extra peak of one solve and per
further right-hand side, the peak of one solve, and the largest grid that fits 24 GiB; apart, what
the deflation keeps (its index arrays and A Z, which move to the device; bounded by what the plan
leaves free, ``PocketDeflation(max_bytes=...)``).

    python benchmarks/bench_memory.py --sizes 500 1000 2000
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import tracemalloc
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from landscape import make_landscape, pick_focal_points  # noqa: E402

from gpucircuit.grid import build_raster_graph  # noqa: E402
from gpucircuit.solver import deflation, grid_solver, system  # noqa: E402

GIB24 = 24 * 2**30


def _problem(n, four, seed=0):
    res = make_landscape((n, n), seed=seed)
    g = build_raster_graph(np.where(np.isfinite(res), 1 / res, 0), four_neighbors=four)
    p0 = tuple(pick_focal_points(res, 1, seed=1)[0])
    comp = g.components == g.components[p0]
    pts = pick_focal_points(res, 2, seed=1, component=comp)
    fixed = np.zeros(res.shape, bool)
    fixed[tuple(pts[1])] = True
    return g, fixed, comp, int(np.ravel_multi_index(tuple(pts[0]), res.shape))


def measure(n: int, four: bool = False, precision: str = "single", nrhs: int = 1, seed: int = 0) -> dict:
    """Device bytes per cell for an n x n landscape (see the module docstring)."""
    g, fixed, comp, src = _problem(n, four, seed)
    cells = n * n
    marks = {}
    orig_setup, orig_pockets = grid_solver.GridMultigridSolver.__init__, deflation.PocketDeflation.__init__

    def setup_grid(self, *a, **k):
        marks["base"] = tracemalloc.get_traced_memory()[0]  # host arrays alive before the device side
        tracemalloc.reset_peak()
        orig_setup(self, *a, **k)
        marks["peak_after"] = tracemalloc.get_traced_memory()[1]

    def pockets(self, op, *a, **k):  # host work on a GPU too: out of the device trace
        marks["peak_before"] = tracemalloc.get_traced_memory()[1]
        cur = tracemalloc.get_traced_memory()[0]
        orig_pockets(self, op, *a, **k)
        marks["pocket_kept"] = tracemalloc.get_traced_memory()[0] - cur
        tracemalloc.reset_peak()

    grid_solver.GridMultigridSolver.__init__, deflation.PocketDeflation.__init__ = setup_grid, pockets
    tracemalloc.start()
    try:
        s = system.GroundedSystem(g, fixed=fixed, solve_mask=comp,
                                  options=system.SolveOptions(method="mg", precision=precision))
        kept = tracemalloc.get_traced_memory()[0] - marks["base"]
        setup_peak = max(marks.get("peak_before", 0), marks["peak_after"]) - marks["base"]
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        s.solve_units([src] * nrhs)
        solve_peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
        grid_solver.GridMultigridSolver.__init__, deflation.PocketDeflation.__init__ = orig_setup, orig_pockets
    out = dict(n=n, cells=cells, neighbours=4 if four else 8, precision=precision, nrhs=nrhs,
               iterations=s.stats.iterations,
               setup_peak_B_per_cell=setup_peak / cells, kept_B_per_cell=kept / cells,
               solve_extra_B_per_cell=solve_peak / cells,
               deflation_kept_B_per_cell=marks.get("pocket_kept", 0) / cells)
    out["peak_B_per_cell"] = max(out["setup_peak_B_per_cell"], out["kept_B_per_cell"] + out["solve_extra_B_per_cell"])
    out["cells_fitting_24GiB"] = int(GIB24 / out["peak_B_per_cell"])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000])
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    rows = []
    for n in a.sizes:
        for four in (False, True):
            for precision in ("single", "double"):
                for nrhs in (1, 4):
                    r = measure(n, four, precision, nrhs)
                    rows.append(r)
                    print(f"{n}^2 {r['neighbours']}-nbr {precision:6s} k={nrhs}: setup peak "
                          f"{r['setup_peak_B_per_cell']:5.1f}  kept {r['kept_B_per_cell']:5.1f}  solve +"
                          f"{r['solve_extra_B_per_cell']:5.1f}  peak {r['peak_B_per_cell']:5.1f} B/cell  "
                          f"-> {r['cells_fitting_24GiB'] / 1e6:5.0f} M cells in 24 GiB ({r['iterations']} its)",
                          flush=True)
    out = a.out or HERE / "results" / f"memory-cpu-path-{dt.date.today()}.json"
    out.write_text(json.dumps(dict(machine=platform.platform(), method=__doc__.split("\n")[0], rows=rows), indent=1))
    print("wrote", out)


if __name__ == "__main__":
    main()
