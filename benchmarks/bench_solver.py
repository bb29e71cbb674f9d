"""Grid multigrid + PCG against pyamg smoothed aggregation + CG on the same problem.

    python benchmarks/bench_solver.py --sizes 1000 2000 --seed 0
    python benchmarks/bench_solver.py --sizes 1000 --seed 0 1 2 3     # spread over landscapes
    python benchmarks/bench_solver.py --sizes 1000 2000 --cycle W K --no-pyamg   # cycles side by side
    python benchmarks/bench_solver.py --sizes 4000 --regions off on --no-pyamg   # pockets alone, then with regions

For each size n the landscape is ``make_landscape((n, n), seed)`` (1e4 contrast, roads,
10 % holes), 8 neighbours, average conductance; 1 A is injected at one low-resistance
focal point and a second one is grounded (every other component is grounded at one
cell). Both solvers get rtol 1e-6 and the same matrix; pyamg runs Circuitscape's
algorithm: ``smoothed_aggregation_solver(A)``, ``ml.aspreconditioner()``, scipy ``cg``.
Times are wall clock on this machine, with the process's CPU seconds beside them. With several
``--cycle`` values each problem is solved by each cycle back to back in one process (same operator,
same pockets), one row per cycle. Writes ``benchmarks/results/cpu-<date>.json``.
"""
from __future__ import annotations

import argparse
import itertools
import datetime as _dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from landscape import make_landscape, operator_from_resistance, pick_focal_points  # noqa: E402

from gpucircuit.solver.cg import pcg  # noqa: E402
from gpucircuit.solver.deflation import PocketDeflation  # noqa: E402
from gpucircuit.solver.redblack import grid_preconditioner  # noqa: E402
from gpucircuit.solver.multigrid import MultigridOptions  # noqa: E402


def problem(n, seed, four=False, contrast=1e4):
    res = make_landscape((n, n), seed=seed, contrast=contrast)
    pts = pick_focal_points(res, 2, seed)
    op, _, ncomp = operator_from_resistance(res, four_neighbors=four, grounds=pts[1:2])
    b = np.zeros(res.shape)
    b[pts[0, 0], pts[0, 1]] = 1.0
    return op, b, ncomp


def run_ours(op, b, rtol, options, regions=True, split_necks=False):
    t0, c0 = time.perf_counter(), time.process_time()
    # as the engine's CPU path does (pockets first, then the hierarchy); regions=False: pockets alone
    pockets = PocketDeflation(op, regions=None if regions else dict(max_cells=0), split_necks=split_necks)
    mg = grid_preconditioner(op, MultigridOptions(**options))
    M = pockets.balance(mg)
    t1, c1 = time.perf_counter(), time.process_time()
    x, info = pcg(op.apply, b[None], M, rtol=rtol, maxiter=500, flexible=mg.flexible)
    t2, c2 = time.perf_counter(), time.process_time()
    return x[0], dict(setup_s=t1 - t0, solve_s=t2 - t1, total_s=t2 - t0, setup_cpu_s=c1 - c0, solve_cpu_s=c2 - c1,
                      iterations=info.iterations, true_rel_residual=float(info.residuals[0]),
                      deflated_parts=pockets.count, weak_regions=pockets.regions,
                      levels=[list(l.shape) for l in mg.levels], loadavg=os.getloadavg()[0])


def run_pyamg(op, b, rtol):
    import pyamg
    import scipy.sparse.linalg as sla

    act = op.active.ravel()
    A = op.to_csr()[act][:, act].tocsr()
    bb = b.ravel()[act]
    t0 = time.perf_counter()
    ml = pyamg.smoothed_aggregation_solver(A)
    t1 = time.perf_counter()
    its = [0]

    def count(_):
        its[0] += 1

    x, _ = sla.cg(A, bb, rtol=rtol, M=ml.aspreconditioner(), callback=count, maxiter=2000)
    t2 = time.perf_counter()
    rel = float(np.linalg.norm(bb - A @ x) / np.linalg.norm(bb))
    full = np.zeros(b.size)
    full[act] = x
    return full.reshape(b.shape), dict(setup_s=t1 - t0, solve_s=t2 - t1, total_s=t2 - t0, iterations=its[0],
                                       true_rel_residual=rel, levels=len(ml.levels))


def machine():
    info = dict(platform=platform.platform(), processor=platform.processor(), python=platform.python_version(),
                cpu_count=os.cpu_count(), numpy=np.__version__)
    try:
        import pyamg
        import scipy

        info.update(scipy=scipy.__version__, pyamg=pyamg.__version__)
    except ImportError:
        pass
    try:
        info["loadavg_at_start"] = os.getloadavg()
    except OSError:
        pass
    return info


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000])
    ap.add_argument("--seed", type=int, nargs="+", default=[0], help="one or more landscape seeds")
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--four", action="store_true", help="4 neighbours instead of 8")
    ap.add_argument("--contrast", type=float, default=1e4, help="largest resistance (smallest is 1)")
    ap.add_argument("--no-pyamg", action="store_true")
    ap.add_argument("--cycle", nargs="+", default=["W"], choices=["V", "W", "K"],
                    help="multigrid cycle(s); several are run back to back on each problem")
    ap.add_argument("--regions", nargs="+", default=["on"], choices=["on", "off"],
                    help="deflate weakly linked regions with the pockets (off: pockets alone); several run back to back")
    ap.add_argument("--split-necks", action="store_true",
                    help="pocket search splits strong clusters at one-cell necks (PocketDeflation(split_necks=True))")
    ap.add_argument("--no-eliminate", action="store_true",
                    help="4 neighbours: multigrid on the 5-point grid itself, not on the red-black Schur complement")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--max-levels", type=int, default=None,
                    help="diagnosis: levels at most (the coarsest is then solved exactly, by SuperLU on the CPU)")
    ap.add_argument("--max-coarse", type=int, default=None, help="largest grid (cells) solved directly")
    ap.add_argument("--coarse-sweeps", type=int, default=None, help="sweep multiplier on the coarse levels")
    ap.add_argument("--tile-levels", type=int, nargs="*", default=None,
                    help="levels with exact tile solves (MultigridOptions.tile_levels; given empty: none; default 1-4, "
                         "and 0 on the 4-neighbour Schur complement)")
    ap.add_argument("--tile-sizes", type=int, nargs="*", default=None,
                    help="tile side on each of --tile-levels (MultigridOptions.tile_sizes; default 4 on level 0, "
                         "8 on 1-2, 16 below)")
    ap.add_argument("--tile-contrast", type=float, default=None,
                    help="tiles whose diagonal varies by this much (default tile_rule: 1e3, 30 on a Schur complement)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    hierarchy = {k: v for k, v in (("max_levels", args.max_levels), ("max_coarse", args.max_coarse),
                                   ("coarse_sweeps", args.coarse_sweeps),
                                   ("tile_contrast", args.tile_contrast)) if v is not None}
    if args.tile_levels is not None:
        hierarchy["tile_levels"] = tuple(args.tile_levels)
    if args.tile_sizes:
        hierarchy["tile_sizes"] = tuple(args.tile_sizes)
    rows = []
    for n, seed in itertools.product(args.sizes, args.seed):
        op, b, ncomp = problem(n, seed, args.four, args.contrast)
        xa = amg = None
        if not args.no_pyamg:
            xa, amg = run_pyamg(op, b, args.rtol)
        for cycle, regions in itertools.product(args.cycle, args.regions):
            options = dict(cycle=cycle, dtype=np.dtype(args.dtype), eliminate_black=not args.no_eliminate,
                           **hierarchy)
            x, ours = run_ours(op, b, args.rtol, options, regions == "on", args.split_necks)
            ours["s_per_iteration"] = ours["solve_s"] / max(ours["iterations"], 1)
            ours["cpu_s_per_iteration"] = ours["solve_cpu_s"] / max(ours["iterations"], 1)
            row = dict(n=n, seed=seed, cycle=cycle, regions=regions, cells=n * n, active=int(op.active.sum()), components=ncomp,
                       ours=ours)
            if amg is not None:
                row["pyamg_sa"] = amg
                row["speedup_total"] = amg["total_s"] / ours["total_s"]
                row["rel_diff_solutions"] = float(np.linalg.norm(x - xa) / np.linalg.norm(xa))
            rows.append(row)
            print(f"n={n} seed={seed} cycle={cycle} regions={regions}: ours {ours['setup_s']:.2f}+{ours['solve_s']:.2f} s "
                  f"(cpu {ours['setup_cpu_s']:.2f}+{ours['solve_cpu_s']:.2f}, load {ours['loadavg']:.1f}), "
                  f"{ours['iterations']} its; "
                  + (f"pyamg {amg['setup_s']:.2f}+{amg['solve_s']:.2f} s, {amg['iterations']} its; "
                     f"ratio {row['speedup_total']:.1f}x" if amg is not None else ""), flush=True)
    print()
    hdr = (f"{'cells':>10} {'seed':>4} {'cycle':>5} {'ours setup':>10} {'solve':>7} {'cpu':>7} {'its':>4} "
           f"{'pyamg setup':>11} {'solve':>7} {'its':>4} {'ratio':>6}")
    print(hdr)
    for r in rows:
        o, a = r["ours"], r.get("pyamg_sa")
        line = (f"{r['cells']:>10} {r['seed']:>4} {r['cycle']:>5} {o['setup_s']:>10.2f} {o['solve_s']:>7.2f} "
                f"{o['solve_cpu_s']:>7.2f} {o['iterations']:>4}")
        if a:
            line += f" {a['setup_s']:>11.2f} {a['solve_s']:>7.2f} {a['iterations']:>4} {r['speedup_total']:>5.1f}x"
        print(line)
    out = Path(args.out) if args.out else HERE / "results" / f"cpu-{_dt.date.today().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    record = dict(date=_dt.datetime.now().isoformat(timespec="seconds"), machine=machine(),
                  command="python benchmarks/bench_solver.py " + " ".join(sys.argv[1:] if argv is None else argv),
                  settings=dict(seed=args.seed, rtol=args.rtol, four_neighbors=args.four, cycle=args.cycle, regions=args.regions,
                                split_necks=args.split_necks,
                                eliminate_black=not args.no_eliminate, hierarchy=hierarchy,
                                dtype=args.dtype,
                                landscape=f"make_landscape(contrast={args.contrast:g}, nodata_frac=0.1, roads=True)"),
                  results=rows)
    out.write_text(json.dumps(record, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
