"""Time ``gpucircuit sources`` on a synthetic MSPA map (the generator of ``bench_mspa.py``).

The map: ``bench_mspa.habitat_map`` classified by MSPA (edge width 1, 8 neighbours), written as a
GeoTIFF with 30 m cells in a metric CRS (EPSG:32610), so ``--min-area`` and ``--distance`` are in
km² and metres. The command runs as a child process: ``seconds`` is its wall time, ``cpu_seconds``
its CPU time (user + system, steadier on a shared machine).

    python benchmarks/bench_sources.py --size 4000 [--min-area 0.5] [--distance 5000] [--backend cpu]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from affine import Affine

from bench_mspa import habitat_map


def mspa_map(size: int, seed: int, path: Path) -> None:
    from gpucircuit.analysis.mspa import mspa
    from gpucircuit.io.raster import GridSpec, write_raster

    fg, missing = habitat_map(size, seed)
    classes = mspa(fg, missing, 1, 8, xp=np)
    spec = GridSpec(classes.shape, Affine(30.0, 0, 500000.0, 0, -30.0, 4000000.0), "EPSG:32610")
    write_raster(path, classes.astype(np.float32), spec, dtype="uint8", nodata=255)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-area", type=float, default=0.5, help="km² (30 m cells: 0.5 km² = 556 cells)")
    ap.add_argument("--distance", type=float, default=5000.0)
    ap.add_argument("--top-percent", type=float, default=20.0)
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "mspa.tif"
        t0 = time.perf_counter()
        mspa_map(args.size, args.seed, src)
        prep = time.perf_counter() - t0
        cmd = [str(Path(sys.executable).with_name("gpucircuit")), "sources", str(src), "-o", str(Path(tmp) / "out"),
               "--min-area", str(args.min_area), "--distance", str(args.distance),
               "--top-percent", str(args.top_percent), "--backend", args.backend]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        run = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if run.returncode:
            sys.exit(f"gpucircuit sources failed: {run.stderr.strip()}")
        rows = (Path(tmp) / "out" / "patches.csv").read_text().splitlines()
    result = {"cells": args.size * args.size, "seed": args.seed, "min_area_km2": args.min_area,
              "distance": args.distance, "top_percent": args.top_percent, "backend": args.backend,
              "patches": len(rows) - 1, "seconds": round(seconds, 2),
              "cpu_seconds": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
              "peak_rss_gib": round(after.ru_maxrss / 2 ** 20, 2), "map_seconds": round(prep, 2),
              "summary": run.stdout.strip().splitlines()[-1:] , "machine": platform.processor() or platform.machine(),
              "cpus": os.cpu_count(), "load_average": os.getloadavg()}
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
