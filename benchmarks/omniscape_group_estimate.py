"""Would reusing the core of neighbouring Omniscape windows make them >= 10x cheaper? An estimate.

The idea (issue 12): the windows (discs of radius R) of a g x g group of neighbouring block centres
share a core, the intersection of their discs, where every window has the raster's conductances.
Eliminate the core's interior once per group onto its boundary ring B (the skeleton); per window,
only the annulus (disc minus core) and the ring remain: eliminate the annulus onto B, then a dense
Cholesky of B (its Schur complement is dense: the annulus joins the whole ring), then substitute back.

This script measures the geometry of such groups and counts the flops (same model as
``nested_dissection.factor_stats``), without building the solver:

* ``root``: the dense Cholesky of the ring, nb^3/3 per window: the floor of the idea, since every
  exact elimination that keeps the core's factor shared ends on a separator around the core;
* ``annulus``: the annulus eliminated onto the ring, its fronts on the group frame's bisection
  ordering (a front carries the ring cells its subtree touches);
* ``rhs``: each window's sources condensed through the shared core factor and substituted back
  (4 flops per kept entry); ``shared``: the core's own elimination, divided by the windows of a group;

against today's whole-window elimination (``factor_stats``), and times the batched root Cholesky
against today's whole-window elimination on the benchmark landscape, in the same process.

A milder form of the same reuse is counted too (``subtrees``): keep today's nested dissection but
lay it on the group's frame (raster-aligned), so that a subtree lying wholly in the core, without a
target, is the same in every window of the group and is eliminated once; the rest (the top
separators, which cross the annulus and the targets) stays per window.

    OPENBLAS_NUM_THREADS=1 python benchmarks/omniscape_group_estimate.py --radius 50 --out ...
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_omniscape import omniscape_landscape  # noqa: E402

from gpucircuit.modes.omniscape import WindowRules, WindowSource, find_targets  # noqa: E402
from gpucircuit.modes.window_solves import grounded_component, window_edges  # noqa: E402
from gpucircuit.solver.dissection import bisection_tree  # noqa: E402
from gpucircuit.solver.nested_dissection import dissection, factor_stats, solve_grid_batch  # noqa: E402

EIGHT = np.ones((3, 3), bool)


def group_geometry(radius: int, block: int, g: int):
    """Union, core, core interior, ring and annulus (bool masks on the group frame)."""
    span = (g - 1) * block
    size = 2 * radius + 1 + span
    i = np.arange(size)
    discs = [np.hypot(i[:, None] - radius - a * block, i[None, :] - radius - b * block) <= radius
             for a in range(g) for b in range(g)]
    union, core = np.any(discs, axis=0), np.all(discs, axis=0)
    interior = ndi.binary_erosion(core, EIGHT, border_value=0)
    return union, core, interior, core & ~interior, union & ~core


def tree_flops(region: np.ndarray, root: np.ndarray, leaf: int = 48) -> tuple[float, int]:
    """(flops, kept entries) of eliminating ``region`` onto ``root`` by the frame's bisection tree."""
    size = region.shape[0]
    flops, kept = 0.0, 0
    for (r0, r1, c0, c1), (q0, q1, d0, d1), _ in bisection_tree(region.shape, leaf):
        own = np.zeros_like(region)
        own[r0:r1, c0:c1] = True
        inner = np.zeros_like(region)
        inner[q0:q1, d0:d1] = True
        grown = np.zeros_like(region)
        grown[max(q0 - 1, 0):min(q1 + 1, size), max(d0 - 1, 0):min(d1 + 1, size)] = True
        p = int((own & region).sum())
        if not p:
            continue
        touched = ndi.binary_dilation(inner & region, EIGHT) & root
        r = int((grown & ~inner & region).sum() + touched.sum())
        flops += 2 * p ** 3 / 3 + 2 * p * p * (r + 1) + 2 * p * r * r + 4 * p * r + 2 * p * p
        kept += p * (p + r + 1)
    return flops, kept


def subtree_flops(union: np.ndarray, core: np.ndarray, radius: int, block: int, g: int) -> tuple[float, float]:
    """(per-window, once-per-group) flops of the frame's nested dissection when the subtrees that
    lie wholly in the core and hold no target are shared by the group's windows."""
    size = union.shape[0]
    targets = np.zeros_like(core)
    span = (g - 1) * block
    targets[radius:radius + span + 1:block, radius:radius + span + 1:block] = True
    keep, in_core, is_target = union.ravel(), core.ravel(), targets.ravel()
    per_window = shared = 0.0
    inside: list[bool] = []  # per node: its whole subtree in the core, no target in it
    for node in dissection(size, False):
        whole = (in_core[node.own].all() and in_core[node.ring].all() and not is_target[node.own].any()
                 and all(inside[c] for c, _ in node.children))
        inside.append(whole)
        p, r = int(keep[node.own].sum()), int(keep[node.ring].sum())
        flops = 2 * p ** 3 / 3 + 2 * p * p * (r + 1) + 2 * p * r * r + 4 * p * r + 2 * p * p
        if whole:
            shared += flops
        else:
            per_window += flops
    return per_window, shared


def windows_per_group(targets, block: int, g: int) -> float:
    keys = np.stack([targets.rows // (g * block), targets.cols // (g * block)], axis=1)
    return float(np.unique(keys, axis=0, return_counts=True)[1].mean())


def cpu_ms(fn, repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        c0 = time.process_time()
        fn()
        best = min(best, time.process_time() - c0)
    return 1e3 * best


def today_ms(res, radius: int, windows: int) -> float:
    """CPU ms per window of today's batched whole-window elimination (interior windows)."""
    g = 1.0 / res
    source = np.where(res <= np.nanpercentile(res, 40), g, 0.0)
    rules = WindowRules(radius, 0, 1, False, False, False)
    targets = find_targets(source, 1)
    inner = np.flatnonzero((targets.rows > radius) & (targets.rows < res.shape[0] - radius)
                           & (targets.cols > radius) & (targets.cols < res.shape[1] - radius))
    part = targets.take(inner[:: max(1, inner.size // windows)][:windows])
    gg, src, _, _ = WindowSource(g, source, rules).cut(part)
    edges, active = window_edges(gg, False), grounded_component(gg, False)
    solve_grid_batch(edges, active, src[:, None], radius)  # the symbolic tree, once
    return cpu_ms(lambda: solve_grid_batch(edges, active, src[:, None], radius), 2) / len(part)


def estimate(res, radius: int, block: int, g: int, batch: int) -> dict:
    union, core, interior, ring, annulus = group_geometry(radius, block, g)
    nb = int(ring.sum())
    root = nb ** 3 / 3
    ann, _ = tree_flops(annulus, ring)
    shared, kept = tree_flops(interior, ring)
    source = np.where(res <= np.nanpercentile(res, 40), 1.0, 0.0)
    per_group = windows_per_group(find_targets(source, block), block, g)
    rhs = 4.0 * kept
    window = root + ann + rhs + shared / per_group
    today = factor_stats(2 * radius + 1, False, radius=radius)["flops"]
    sub_window, sub_shared = subtree_flops(union, core, radius, block, g)
    subtrees = sub_window + sub_shared / per_group
    rng = np.random.default_rng(0)
    a = rng.random((min(batch, 32), nb, nb))
    spd = a @ a.transpose(0, 2, 1) + nb * np.eye(nb)
    root_ms = cpu_ms(lambda: np.linalg.cholesky(spd)) / len(spd)
    return {"radius": radius, "block_size": block, "group": g, "frame": int(union.shape[0]),
            "core_cells": int(core.sum()), "ring_cells": nb, "annulus_cells": int(annulus.sum()),
            "windows_per_group": per_group,
            "mflop_per_window": {"root": root / 1e6, "annulus": ann / 1e6, "rhs": rhs / 1e6,
                                 "shared": shared / per_group / 1e6, "total": window / 1e6},
            "mflop_per_window_today": today / 1e6, "flop_ratio": today / window,
            "root_cholesky_cpu_ms_per_window": root_ms,
            "subtrees_mflop_per_window": {"per_window": sub_window / 1e6, "shared": sub_shared / per_group / 1e6,
                                          "total": subtrees / 1e6},
            "subtrees_flop_ratio": today / subtrees}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--side", type=int, default=1000)
    ap.add_argument("--radius", type=int, nargs="+", default=[50])
    ap.add_argument("--groups", type=str, nargs="+", default=["1:8", "1:12", "1:16", "5:2", "5:3", "5:4"],
                    help="block:g pairs")
    ap.add_argument("--windows", type=int, default=64, help="windows timed for today's elimination")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    res = omniscape_landscape(args.side)  # the benchmark's own landscape
    cases = []
    for radius in args.radius:
        ms_today = today_ms(res, radius, args.windows)
        for pair in args.groups:
            block, g = (int(v) for v in pair.split(":"))
            case = estimate(res, radius, block, g, args.windows)
            case["today_cpu_ms_per_window"] = ms_today
            cases.append(case)
            f = case["mflop_per_window"]
            print(f"R={radius} block={block} g={g}: ring {case['ring_cells']}, annulus {case['annulus_cells']}, "
                  f"{case['windows_per_group']:.1f} windows/group; MFlop/window root {f['root']:.1f} + annulus "
                  f"{f['annulus']:.1f} + rhs {f['rhs']:.1f} + shared {f['shared']:.1f} = {f['total']:.1f} vs today "
                  f"{case['mflop_per_window_today']:.1f} (x{case['flop_ratio']:.2f}); root Cholesky "
                  f"{case['root_cholesky_cpu_ms_per_window']:.2f} ms vs today's whole elimination {ms_today:.2f} ms; "
                  f"shared subtrees {case['subtrees_mflop_per_window']['total']:.1f} MFlop/window "
                  f"(x{case['subtrees_flop_ratio']:.2f})",
                  flush=True)
    record = {"date": dt.date.today().isoformat(), "command": " ".join(["python", *sys.argv]),
              "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
              "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"), "cases": cases}
    out = args.out or HERE / "results" / f"omniscape-cpu-{record['date']}-core-estimate.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
