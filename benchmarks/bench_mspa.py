"""Time MSPA (``gpucircuit.analysis.mspa``) on a synthetic habitat map.

The map: a 1/f^beta random field cut at its 60th percentile (40 % habitat), 5 % of the cells
flipped at random (so islets, branches and bridges abound) and 2 % missing in blobs.

    python benchmarks/bench_mspa.py --size 4000 [--edge-width 1] [--connectivity 8] [--backend cpu]

``seconds`` is wall time, ``cpu_seconds`` the process's CPU time (steadier on a shared machine).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from landscape import spectral_field


def habitat_map(size: int, seed: int):
    rng = np.random.default_rng(seed)
    field = spectral_field((size, size), 2.5, rng)
    fg = field > np.quantile(field, 0.6)
    fg ^= rng.random(fg.shape) < 0.05
    holes = spectral_field((size, size), 3.5, rng)
    missing = holes > np.quantile(holes, 0.98)
    return fg, missing


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4000)
    ap.add_argument("--edge-width", type=int, default=1)
    ap.add_argument("--connectivity", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from gpucircuit.analysis.mspa import CLASSES, mspa
    from gpucircuit.backend import set_backend

    backend = set_backend(args.backend)
    fg, missing = habitat_map(args.size, args.seed)
    if backend.is_gpu:  # compile kernels and warm the memory pool on a small map first
        mspa(fg[:256, :256], missing[:256, :256], args.edge_width, args.connectivity, xp=backend.xp)
    t0, c0 = time.perf_counter(), time.process_time()
    classes = mspa(fg, missing, args.edge_width, args.connectivity, xp=backend.xp)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    counts = {name: int(np.count_nonzero(classes == code)) for name, code in CLASSES}
    result = {"cells": args.size * args.size, "edge_width": args.edge_width, "connectivity": args.connectivity,
              "seed": args.seed, "backend": backend.name, "device": backend.device, "seconds": round(seconds, 2),
              "cpu_seconds": round(cpu_seconds, 2),
              "class_pixels": counts, "machine": platform.processor() or platform.machine(),
              "cpus": os.cpu_count()}
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
