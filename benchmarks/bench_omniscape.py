"""Omniscape benchmark: our batched moving window against Omniscape's own algorithm, same run.

Omniscape.jl solves every window on its own: one Circuitscape advanced-mode solve for the
current and a second one for the flow potential (sparse factorisation, or pyamg + CG as with
Circuitscape's default cg+amg). Ours eliminates a batch of windows together by batched nested
dissection on their common grid pattern (its symbolic part, done once per window size, is timed
apart as ``setup_s``), neighbouring windows on one frame per group sharing the subtrees inside all
their discs, and factorises the flow-potential operator once per window shape. Where windows are
grouped, the same windows each eliminated alone are timed too (``ours_alone``, same run).

Rates are wall-clock windows per second; on a shared machine wall time is inflated, so CPU ms
per window (``time.process_time``), the load average and the BLAS thread setting are recorded
too. Run with ``OPENBLAS_NUM_THREADS=1`` on a loaded machine: threaded BLAS spins on the small
dense blocks when the cores are oversubscribed (both methods run under the same setting).

Windows per landscape run into the millions (block size 1 on 1 M cells is 1 M solves of up to
7,850 unknowns at radius 50), so each method solves the same evenly spread sample of targets
(whole groups of neighbours where ours solves them in groups, as a full run meets them);
windows per second are measured on it and the end-to-end time is that rate applied to every
target (marked ``extrapolated``). Both methods' maps on the sample are compared.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_omniscape.py --side 1000 --radius 50 --block 1 5 --sample 64
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from landscape import make_landscape  # noqa: E402

from gpucircuit.modes.omniscape import (OmniscapeMaps, Targets, WindowRules, WindowSource, accumulate,  # noqa: E402
                                        block_correction, default_batch, find_targets, target_groups,
                                        uses_nested_dissection)
from gpucircuit.solver.nested_dissection import dissection, factor_stats, shared_nodes  # noqa: E402
from gpucircuit.modes.window_solves import solve_windows  # noqa: E402


def per_window(cut: WindowSource, targets: Targets, shape, method: str, correction) -> OmniscapeMaps:
    """Omniscape.jl's loop: each window solved alone, current and flow potential separately."""
    r = cut.rules
    d, size = r.half, r.size
    cum = np.zeros((shape[0] + 2 * d, shape[1] + 2 * d))
    fp = np.zeros_like(cum)
    for i in range(len(targets)):
        one = targets.take([i])
        g, src, inside, _ = cut.cut(one)
        cur = solve_windows(g, src, r.four_neighbors, method)[0]
        fcur = solve_windows(inside.astype(np.float64), src, r.four_neighbors, method)[0]
        if correction is not None:  # interior windows: the correction lines up with the window
            cur, fcur = cur * correction, fcur * correction
        y, x = int(one.rows[0]), int(one.cols[0])
        cum[y:y + size, x:x + size] += cur
        fp[y:y + size, x:x + size] += fcur
    crop = (slice(d, d + shape[0]), slice(d, d + shape[1]))
    return OmniscapeMaps(cum[crop], fp[crop], len(targets))


def interior_sample(targets: Targets, shape, rules: WindowRules, k: int) -> Targets:
    """About k interior targets, evenly spread; where neighbouring targets are solved in groups
    (``target_groups``), whole groups evenly spread, as a full run meets them."""
    d = rules.half
    inner = targets.take(np.flatnonzero((targets.rows >= d) & (targets.rows < shape[0] - d)
                                        & (targets.cols >= d) & (targets.cols < shape[1] - d)))
    grouping = target_groups(inner, rules)
    if grouping is None:
        return inner.take(np.linspace(0, len(inner) - 1, min(k, len(inner))).astype(int))
    ordered, key = grouping[0], grouping[1]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    per_group = len(ordered) / starts.size
    picked = starts[np.linspace(0, starts.size - 1, max(1, round(k / per_group))).astype(int)]
    return ordered.take(np.flatnonzero(np.isin(key, key[picked])))


class Clock:
    """Wall and CPU seconds of the calls it times (the shared machine inflates wall time, so
    both are kept, with the load average)."""

    def __init__(self):
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def __call__(self, name, fn):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        self.wall[name] = time.perf_counter() - t0
        self.cpu[name] = time.process_time() - c0
        return out


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run_case(res, radius: int, block: int, sample: int, amg_sample: int) -> dict:
    g = 1.0 / res
    source = np.where(res <= np.nanpercentile(res, 40), g, 0.0)  # sources from resistance, r_cutoff at 40 %
    rules = WindowRules(radius, 0, block, False, block > 1, True)
    targets = find_targets(source, block)
    picked = interior_sample(targets, res.shape, rules, sample)
    cut = WindowSource(g, source, rules)
    correction, t_corr = timed(lambda: block_correction(rules) if block > 1 else None)
    nested = uses_nested_dissection(rules, "direct")
    grouping = target_groups(picked, rules) if nested else None
    span = grouping[3] if grouping is not None else 0

    def symbolic():  # the trees of a window and of a group's frame, built once per window size
        dissection(rules.size, rules.four_neighbors, radius=rules.half)
        if span:
            shared_nodes(rules.size + span, rules.four_neighbors, rules.half, span)

    _, t_setup = timed(lambda: symbolic() if nested else None)
    stats = factor_stats(rules.size, rules.four_neighbors, radius=rules.half) if nested else {}
    clock = Clock()
    ours = clock("ours", lambda: accumulate(cut, picked, res.shape, "direct", None, correction))
    grouped = grouping is not None
    if grouped:  # the same windows, each eliminated alone (before neighbours were solved in groups)
        alone = clock("ours_alone", lambda: accumulate(cut, picked, res.shape, "direct", None, correction,
                                                       grouped=False))
        assert np.allclose(alone.cum_currmap, ours.cum_currmap, rtol=1e-10, atol=1e-12 * ours.cum_currmap.max())
    base = clock("omniscape_direct", lambda: per_window(cut, picked, res.shape, "direct", correction))
    t_ours, t_base = clock.wall["ours"], clock.wall["omniscape_direct"]
    diff = float(np.abs(ours.cum_currmap - base.cum_currmap).max() / np.abs(base.cum_currmap).max())
    fdiff = float(np.abs(ours.flow_potential - base.flow_potential).max() / np.abs(base.flow_potential).max())
    amg_picked = picked.take(slice(0, amg_sample))
    clock("omniscape_amg", lambda: per_window(cut, amg_picked, res.shape, "amg", correction))
    t_amg = clock.wall["omniscape_amg"]
    counts = {"ours": len(picked), "omniscape_direct": len(picked), "omniscape_amg": len(amg_picked)}
    if grouped:
        counts["ours_alone"] = len(picked)
    cpu_ms = {k: 1e3 * clock.cpu[k] / counts[k] for k in counts}
    rate = {"ours": len(picked) / t_ours, "omniscape_direct": len(picked) / t_base,
            "omniscape_amg": len(amg_picked) / t_amg}
    return {
        "cells": int(res.size), "radius": radius, "block_size": block, "window_cells": rules.size ** 2,
        "targets": len(targets), "sample_windows": len(picked), "amg_sample_windows": len(amg_picked),
        "batch": default_batch(rules), "correction_s": t_corr,
        "nested_dissection": nested, "setup_s": t_setup,
        "flops_per_window": stats.get("flops"), "kept_bytes_per_window": stats.get("kept_bytes"),
        "windows_per_s": rate,
        "end_to_end_s_extrapolated": {k: len(targets) / v + (t_setup if k == "ours" else 0.0)
                                      for k, v in rate.items()},
        "ratio_vs_direct": rate["ours"] / rate["omniscape_direct"],
        "ratio_vs_amg": rate["ours"] / rate["omniscape_amg"],
        "cpu_ms_per_window": cpu_ms,
        "cpu_ratio_vs_direct": cpu_ms["omniscape_direct"] / cpu_ms["ours"],
        "cpu_ratio_vs_amg": cpu_ms["omniscape_amg"] / cpu_ms["ours"],
        "groups": grouped, "cpu_ratio_vs_alone": cpu_ms["ours_alone"] / cpu_ms["ours"] if grouped else None,
        "load_average": os.getloadavg(),
        "max_rel_diff_cum": diff, "max_rel_diff_flow_potential": fdiff,
    }


def omniscape_landscape(side: int) -> np.ndarray:
    """The resistance raster of the Omniscape benchmarks (this one and omniscape_group_estimate.py)."""
    return make_landscape((side, side), seed=7, contrast=1e3)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--side", type=int, default=1000, help="cells per side (1000 = 1 M cells)")
    ap.add_argument("--radius", type=int, nargs="+", default=[50])
    ap.add_argument("--block", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--sample", type=int, default=24, help="windows timed per method")
    ap.add_argument("--amg-sample", type=int, default=6, help="windows timed with pyamg + CG (slow)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    res = omniscape_landscape(args.side)
    cases = []
    for radius in args.radius:
        for block in args.block:
            case = run_case(res, radius, block, args.sample, args.amg_sample)
            cases.append(case)
            w = case["windows_per_s"]
            print(f"{case['cells']:>9} cells  R={radius:<3} block={block}  ours {w['ours']:7.2f} w/s  "
                  f"per-window direct {w['omniscape_direct']:7.2f} w/s  per-window amg {w['omniscape_amg']:7.2f} w/s  "
                  f"x{case['ratio_vs_direct']:.1f} / x{case['ratio_vs_amg']:.1f}  cpu ms/window "
                  f"{case['cpu_ms_per_window']['ours']:.1f} vs {case['cpu_ms_per_window']['omniscape_direct']:.1f} "
                  f"(x{case['cpu_ratio_vs_direct']:.1f})  diff {case['max_rel_diff_cum']:.1e}"
                  + (f"  groups vs alone x{case['cpu_ratio_vs_alone']:.2f}" if case["groups"] else ""),
                  flush=True)
    record = {"date": dt.date.today().isoformat(), "machine": platform.processor() or platform.machine(),
              "python": platform.python_version(), "backend": "cpu", "cpu_count": os.cpu_count(),
              "command": " ".join(["python", *sys.argv]),
              "blas_threads": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")},
              "cases": cases}
    out = args.out or HERE / "results" / f"omniscape-cpu-{record['date']}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
