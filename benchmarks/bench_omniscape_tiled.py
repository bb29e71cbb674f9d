"""Omniscape on a large GeoTIFF, whole layers in memory against tiles read from the files.

Both runs are the same job (``gpucircuit omniscape`` through :func:`run_omniscape_config`), each
in its own child process so that each one's peak RSS (``VmHWM``) is its own; the tiled run is
given a memory budget (``memory=``, as ``--memory`` on the command line) that forces tiles. Wall
and CPU seconds, peak RSS and the load average are recorded, and the two runs' maps compared.

The windows are limited, and we say so: sources are a few square patches rather than a whole
source layer, so the run costs the I/O, the tiling and a few thousand windows rather than the
hour a whole 16 M-cell source layer would take at radius 10 on this machine (the solve rate per
window is bench_omniscape.py's business and the same in both runs).

    python benchmarks/bench_omniscape_tiled.py --side 4000 --radius 10 --block 5 --memory 600MB
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from landscape import make_landscape  # noqa: E402


def child(ini: str, memory: int | None) -> None:
    """One run; prints its measurements as JSON on the last line."""
    from gpucircuit.io.omniscape_config import load_omniscape_config
    from gpucircuit.omniscape_job import run_omniscape_config

    said = []
    t0, c0 = time.perf_counter(), time.process_time()
    report = run_omniscape_config(load_omniscape_config(ini), base=Path(ini).parent,
                                  memory=memory if memory else 1 << 40, tell=said.append)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so a child would report its parent's peak
    rss = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM"))
    print(json.dumps({"plan": said[0], "windows": report.windows, "wall_s": wall, "cpu_s": cpu,
                      "peak_rss_bytes": rss, "project": str(report.project)}))


def make_inputs(folder: Path, side: int, radius: int, block: int, patches: int) -> Path:
    from affine import Affine

    from gpucircuit.io.raster import GridSpec
    from gpucircuit.io.raster_write import write_raster

    spec = GridSpec((side, side), Affine(30.0, 0, 500000.0, 0, -30.0, 4200000.0))
    res = make_landscape((side, side), seed=7, contrast=1e3)
    write_raster(folder / "resistance.tif", res, spec)
    rng = np.random.default_rng(11)
    source = np.zeros((side, side))
    for r, c in zip(rng.integers(0, side - 20, patches), rng.integers(0, side - 20, patches)):
        source[r:r + 20, c:c + 20] = 1.0
    source[np.isnan(res)] = 0.0
    write_raster(folder / "source.tif", source, spec)
    del res, source
    ini = folder / "job.ini"
    ini.write_text(f"resistance_file = {folder}/resistance.tif\nsource_file = {folder}/source.tif\n"
                   f"source_from_resistance = false\nradius = {radius}\nblock_size = {block}\nproject_name = out\n"
                   "calc_normalized_current = true\ncalc_flow_potential = true\nwrite_as_tif = true\n")
    return ini


def run_child(ini: Path, memory: int | None) -> dict:
    cmd = [sys.executable, __file__, "--child", str(ini), "--child-memory", str(memory or 0)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    from dask.utils import parse_bytes

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--side", type=int, default=4000)
    ap.add_argument("--radius", type=int, default=10)
    ap.add_argument("--block", type=int, default=5)
    ap.add_argument("--patches", type=int, default=40, help="20 x 20-cell source patches (limits the windows)")
    ap.add_argument("--memory", default="600MB", help="budget given to the tiled run")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-memory", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args.child, args.child_memory)
    from gpucircuit.io.raster import read_raster

    with tempfile.TemporaryDirectory(dir=HERE / "results") as work:
        ini = make_inputs(Path(work), args.side, args.radius, args.block, args.patches)
        runs = {}
        for name, memory in (("whole", None), ("tiled", int(parse_bytes(args.memory)))):
            load = os.getloadavg()
            runs[name] = {**run_child(ini, memory), "load_average_before": load}
            r = runs[name]
            print(f"{name:6} {r['plan']}\n       wall {r['wall_s']:.1f} s  CPU {r['cpu_s']:.1f} s  "
                  f"peak RSS {r['peak_rss_bytes'] / 2**20:.0f} MiB  load {load[0]:.1f}", flush=True)
        diffs = {}
        for name in ("cum_currmap", "flow_potential", "normalized_cum_currmap"):
            a = read_raster(Path(runs["tiled"]["project"]) / f"{name}.tif")[0]
            b = read_raster(Path(runs["whole"]["project"]) / f"{name}.tif")[0]
            same_nodata = bool(np.array_equal(np.isnan(a), np.isnan(b)))
            diffs[name] = {"same_nodata": same_nodata,
                           "max_rel_diff": float(np.nanmax(np.abs(a - b)) / np.nanmax(np.abs(b)))}
    record = {"date": dt.date.today().isoformat(), "machine": platform.processor() or platform.machine(),
              "cpus": os.cpu_count(), "python": platform.python_version(),
              "command": "python benchmarks/bench_omniscape_tiled.py " + " ".join(map(shlex.quote, argv or sys.argv[1:])),
              "cells": args.side ** 2, "radius": args.radius, "block_size": args.block,
              "limited": f"sources are {args.patches} patches of 20 x 20 cells, so {runs['whole']['windows']} windows",
              "runs": runs, "peak_rss_ratio_tiled_over_whole":
                  runs["tiled"]["peak_rss_bytes"] / runs["whole"]["peak_rss_bytes"],
              "maps_tiled_vs_whole": diffs}
    for r in runs.values():
        r.pop("project")
    out = args.out or HERE / "results" / f"omniscape-tiled-cpu-{args.side}-{record['date']}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(diffs), f"\nwrote {out}")


if __name__ == "__main__":
    main()
