"""Time each step of the Linkage Mapper chain on a synthetic landscape.

Steps: corridors (Linkage Pathways: CWD of every core, links, corridors), pinch points
(all-to-one over the union of corridors; optionally adjacent pairs), barriers at three radii
(1, 2 and 3 cells) and centrality. The landscape is ``benchmarks/landscape.py``'s
``make_landscape`` (resistance 1..contrast, road barriers, nodata holes) with 30 m cells; the
cores are N discs centred on low-resistance cells, spread apart.

The pinch-point CWD cutoff defaults to 10 % of the median least-cost distance of the active
links (the corridors' width then scales with the landscape); ``--cutoff`` fixes it.

    python benchmarks/bench_linkage.py --size 1000            # writes results/linkage-cpu-1000.json
    python benchmarks/bench_linkage.py --size 2000 --adjacent # also time the per-link runs
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from landscape import make_landscape  # noqa: E402

CELL = 30.0


def place_cores(res: np.ndarray, n: int, seed: int = 0, radius: int | None = None) -> np.ndarray:
    """Labels 1..n: discs on low-resistance cells, centres at least ~size/(2 sqrt n) apart."""
    rng = np.random.default_rng(seed + 1)
    m, k = res.shape
    radius = radius or max(2, min(m, k) // 80)
    ok = np.isfinite(res)
    low = ok & (res <= np.quantile(res[ok], 0.2))
    low[:radius, :] = low[-radius:, :] = low[:, :radius] = low[:, -radius:] = False
    cand = np.flatnonzero(low)
    rng.shuffle(cand)
    spacing = min(m, k) / (2.0 * math.sqrt(n))
    centres = []
    for sep in (spacing, spacing / 2, spacing / 4, 0):
        for c in cand:
            i, j = divmod(int(c), k)
            if all((i - a) ** 2 + (j - b) ** 2 >= sep * sep for a, b in centres):
                centres.append((i, j))
                if len(centres) == n:
                    break
        if len(centres) == n:
            break
    labels = np.zeros(res.shape, dtype=np.int64)
    yy, xx = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    disc = yy * yy + xx * xx <= radius * radius
    for lab, (i, j) in enumerate(centres, start=1):
        win = labels[i - radius:i + radius + 1, j - radius:j + radius + 1]
        win[disc & (win == 0)] = lab
    return np.where(ok, labels, 0)


def machine_info() -> dict:
    import scipy

    from gpucircuit.backend import get_backend

    info = {
        "platform": platform.platform(), "python": platform.python_version(), "processor": platform.processor(),
        "cpu_count": os.cpu_count(), "numpy": np.__version__, "scipy": scipy.__version__,
    }
    try:
        import pyamg

        info["pyamg"] = pyamg.__version__
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as fh:
            info["memory_gb"] = round(int(fh.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    b = get_backend()
    info["backend"], info["device"] = b.name, b.device
    return info


def _stats(stats) -> list[dict]:
    return [{"method": s.method, "unknowns": int(s.unknowns), "solves": int(s.solves), "iterations": int(s.iterations),
             "max_residual": float(s.max_residual)} for s in stats]


def run(size: int, n_cores: int = 17, seed: int = 0, cutoff: float | None = None, adjacent: bool = False,
        contrast: float = 1e3, solver: str = "auto") -> dict:
    from gpucircuit.analysis.barriers import barrier_analysis
    from gpucircuit.analysis.centrality import centrality
    from gpucircuit.analysis.corridors import linkage_pathways
    from gpucircuit.analysis.pinchpoints import PinchpointOptions, pinchpoint_analysis, solve_options

    solve = solve_options(solver)

    t = time.perf_counter()
    res = make_landscape((size, size), seed=seed, contrast=contrast)
    labels = place_cores(res, n_cores, seed)
    setup = time.perf_counter() - t
    steps: dict[str, dict] = {}

    t = time.perf_counter()
    lk = linkage_pathways(res, labels, CELL)
    steps["corridors"] = {"seconds": time.perf_counter() - t, "links": len(lk.links), "active": len(lk.active_links)}
    lcds = [x.lcd for x in lk.active_links]
    if cutoff is None:
        cutoff = float(round(0.1 * float(np.median(lcds)), -1))

    if adjacent:
        t = time.perf_counter()
        pa = pinchpoint_analysis(res, labels, lk.cwd, lk.links, CELL, PinchpointOptions(cutoff, all_pairs=None, solve=solve))
        steps["pinchpoints_adjacent"] = {"seconds": time.perf_counter() - t, "solver": _stats(pa.stats)}

    t = time.perf_counter()
    pp = pinchpoint_analysis(res, labels, lk.cwd, lk.links, CELL, PinchpointOptions(cutoff, adjacent=False, solve=solve))
    cells = int(np.isfinite(pp.all_pairs_current).sum())
    steps["pinchpoints_all_to_one"] = {"seconds": time.perf_counter() - t, "circuit_cells": cells,
                                       "solver": _stats(pp.stats)}

    radii = [CELL, 2 * CELL, 3 * CELL]
    t = time.perf_counter()
    barrier_analysis(lk.cwd, lk.links, radii, CELL, valid=np.isfinite(res))
    steps["barriers_3_radii"] = {"seconds": time.perf_counter() - t, "radii": radii}

    t = time.perf_counter()
    cen = centrality(lk.links, lk.core_ids)
    steps["centrality"] = {"seconds": time.perf_counter() - t,
                           "most_central_core": max(cen.core_centrality, key=cen.core_centrality.get)}

    return {
        "benchmark": "linkage", "size": [size, size], "cells": size * size, "cellsize": CELL, "seed": seed,
        "contrast": contrast, "nodata_fraction": float(np.isnan(res).mean()), "cores": len(lk.core_ids),
        "cutoff": cutoff, "solver": solver, "median_lcd": float(np.median(lcds)), "setup_seconds": setup, "steps": steps,
        "total_seconds": sum(s["seconds"] for s in steps.values()), "machine": machine_info(),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1000, help="raster side in cells (default 1000)")
    ap.add_argument("--cores", type=int, default=17)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cutoff", type=float, default=None, help="pinch-point CWD cutoff (default: 10%% of median LCD)")
    ap.add_argument("--adjacent", action="store_true", help="also time adjacent-pair pinch points")
    ap.add_argument("--backend", default=None, help="auto, gpu or cpu")
    ap.add_argument("--solver", default="auto", help="pinch-point solver: auto, direct or amg")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    if args.backend:
        from gpucircuit.backend import set_backend

        set_backend(args.backend)
    result = run(args.size, args.cores, args.seed, args.cutoff, args.adjacent, solver=args.solver)
    print(f"linkage chain, {args.size} x {args.size} cells, {result['cores']} cores, "
          f"{result['steps']['corridors']['active']} active links, cutoff {result['cutoff']:g}, "
          f"solver {args.solver}, backend {result['machine']['backend']} ({result['machine']['device']})")
    print(f"{'step':<26}{'seconds':>10}")
    for name, s in result["steps"].items():
        print(f"{name:<26}{s['seconds']:>10.2f}")
    print(f"{'total':<26}{result['total_seconds']:>10.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    tag = "" if args.solver == "auto" else f"-{args.solver}"
    path = args.out / f"linkage-{result['machine']['backend']}-{args.size}{tag}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
