"""Time ESRI ASCII grid formatting: the compiled loop (``gpucircuit.io.ascii_compiled``, what the
writers use) and the vectorised NumPy passes (``gpucircuit.io.ascii_text``, without numba) against
their peer, Python's ``%`` per row (the writer they replaced), on the same values in the same
process, block by block as ``raster_write.ascii_grid_blocks`` feeds them; then whole files through
``write_raster`` (plain and gzipped).

    python benchmarks/bench_ascii.py                       # 16 M values, current-map-like
    python benchmarks/bench_ascii.py --kind wide --json benchmarks/results/x.json

``map``: exp of a Gaussian (like a current map) with 10 % nodata; ``wide``: log-uniform over
1e-300..1e300, both signs (every exponent, scientific notation, 3-digit exponents). Both
formatters must give the same bytes (checked here too). CPU seconds are the comparable figure on
a shared machine; the load average is recorded with them.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from affine import Affine

from gpucircuit.io import ascii_compiled, raster_write
from gpucircuit.io.raster import GridSpec


def values(kind: str, cells: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(round(cells ** 0.5))
    if kind == "map":
        data = np.exp(rng.standard_normal((n, n))) * 1e-3
        data[rng.random((n, n)) < 0.1] = np.nan
        return data
    return np.exp(rng.uniform(np.log(1e-300), np.log(1e300), (n, n))) * rng.choice([-1.0, 1.0], (n, n))


def python_blocks(data: np.ndarray, nodata: float = -9999.0):
    """The replaced writer: ``"%.10g " * n % tuple(row)`` on Python floats, same blocks."""
    m, n = data.shape
    row_fmt = "%.10g " * n + "\n"
    step = max(1, (1 << 16) // max(n, 1))
    for i in range(0, m, step):
        block = np.where(np.isnan(data[i:i + step]), nodata, data[i:i + step]).tolist()
        yield "".join(row_fmt % tuple(row) for row in block)


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=1 << 24)
    ap.add_argument("--kind", choices=("map", "wide"), default="map")
    ap.add_argument("--json", type=Path, help="write the results here too")
    ap.add_argument("--repeat", type=int, default=3, help="alternate the two formatters this often; the fastest counts")
    ap.add_argument("--no-files", action="store_true", help="formatting only")
    args = ap.parse_args()
    data = values(args.kind, args.cells)
    load = os.getloadavg()
    runs = {"compiled": [], "vectorised": [], "python": []}
    _, warm_wall, _ = timed(lambda: ascii_compiled.grid_rows(data[:1]))  # numba import + compile or cache load
    numba_there = ascii_compiled.available

    def numpy_passes():
        ascii_compiled.available = lambda: False
        try:
            return b"".join(raster_write.ascii_grid_blocks(data))
        finally:
            ascii_compiled.available = numba_there

    for _ in range(args.repeat):  # alternated, so a busy spell of the shared machine hits all three
        new, new_wall, new_cpu = timed(lambda: b"".join(raster_write.ascii_grid_blocks(data)))
        vec, vec_wall, vec_cpu = timed(numpy_passes)
        old, old_wall, old_cpu = timed(lambda: "".join(python_blocks(data)))
        if not new == vec == old.encode("ascii"):
            sys.exit("the formatters differ")
        del old, vec
        runs["compiled"].append((round(new_wall, 2), round(new_cpu, 2)))
        runs["vectorised"].append((round(vec_wall, 2), round(vec_cpu, 2)))
        runs["python"].append((round(old_wall, 2), round(old_cpu, 2)))
    best = {k: min(v, key=lambda r: r[1]) for k, v in runs.items()}
    res = dict(
        command="python " + " ".join(sys.argv), cells=data.size, kind=args.kind, mb=round(len(new) / 1e6, 1),
        load_average_start=[round(v, 2) for v in load], compiled_warm_up_s=round(warm_wall, 2),
        **{("python_percent" if k == "python" else k): dict(wall_s=w, cpu_s=c, us_per_value_cpu=round(c / data.size * 1e6, 3))
           for k, (w, c) in best.items()},
        speedup_cpu=round(best["python"][1] / best["compiled"][1], 1),
        compiled_over_vectorised_cpu=round(best["vectorised"][1] / best["compiled"][1], 2), runs_wall_cpu_s=runs)
    del new
    print(f"{data.size / 1e6:.1f} M values ({args.kind}), us/value CPU: Python % "
          f"{res['python_percent']['us_per_value_cpu']}, NumPy passes {res['vectorised']['us_per_value_cpu']}, "
          f"compiled {res['compiled']['us_per_value_cpu']}: x{res['speedup_cpu']} over Python, "
          f"x{res['compiled_over_vectorised_cpu']} over the NumPy passes", flush=True)
    if not args.no_files:
        spec = GridSpec(data.shape, Affine(30.0, 0, 500000.0, 0, -30.0, 4000000.0), None)
        with tempfile.TemporaryDirectory() as tmp:
            for name, compress in (("map.asc", False), ("map.asc", True)):
                path, wall, cpu = timed(lambda: raster_write.write_raster(Path(tmp) / name, data, spec,
                                                                          compress=compress))
                res[path.name] = dict(wall_s=round(wall, 2), cpu_s=round(cpu, 2),
                                      mb=round(path.stat().st_size / 1e6, 1))
                print(path.name, res[path.name], flush=True)
    res["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
