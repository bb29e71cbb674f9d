"""Resistance-surface benchmark: ``gpucircuit resistance`` on synthetic factor rasters, per size.

For each size (cells per side) it writes (not timed) a land-cover raster (8 classes cut from a
1/f^2 spectral field, 5 % nodata), a continuous "slope" raster, a night-light raster and a road
layer (GeoPackage, 20 random lines), and a TOML with five factors: land use (reclass), slope
(fixed breaks), elevation-like field (Jenks, 5 classes), distance to roads (vector, breaks) and
distance to water (raster class, breaks), AHP weights and a relative night-light correction.
Then it times the whole job (read, reproject where needed, grade, sum, correct, write), with
per-stage times from a second, instrumented pass over the same grading functions.

    python benchmarks/bench_resistance.py --sizes 1024 4096           # 1 M and 16.8 M cells
    python benchmarks/bench_resistance.py --sizes 4096 --backend gpu
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from landscape import spectral_field  # noqa: E402

CS = 30.0
X0, Y0 = 500000.0, 4000000.0


def write_inputs(folder: Path, n: int, seed: int) -> Path:
    import rasterio
    from affine import Affine

    from gpucircuit.io.vector import write_lines

    rng = np.random.default_rng(seed)
    t = Affine(CS, 0, X0, 0, -CS, Y0)
    field = spectral_field((n, n), 2.0, rng)
    lc = np.digitize(field, np.quantile(field, np.linspace(0, 1, 9)[1:-1])).astype(np.uint8) + 1  # 1..8
    lc[spectral_field((n, n), 2.5, rng) > 1.65] = 0  # ~5 % nodata blobs
    slope = np.abs(spectral_field((n, n), 2.0, rng)) * 12.0
    elev = spectral_field((n, n), 2.5, rng) * 200 + 800
    nl = np.exp(spectral_field((n, n), 2.0, rng) * 0.5)
    prof = dict(driver="GTiff", height=n, width=n, count=1, crs="EPSG:32633", transform=t, tiled=True,
                blockxsize=512, blockysize=512, compress="deflate", BIGTIFF="IF_SAFER")
    for name, data, dtype, nodata in (("landcover", lc, "uint8", 0), ("slope", slope, "float32", None),
                                      ("elevation", elev, "float32", None), ("nightlights", nl, "float32", None)):
        with rasterio.open(folder / f"{name}.tif", "w", dtype=dtype, nodata=nodata, **prof) as ds:
            ds.write(data.astype(dtype), 1)
    ext = n * CS
    lines = [np.column_stack([X0 + rng.uniform(0, ext, 2), Y0 - rng.uniform(0, ext, 2)]) for _ in range(20)]
    write_lines(folder / "roads.gpkg", lines, {"id": list(range(20))}, crs=rasterio.crs.CRS.from_epsg(32633))
    toml = folder / "study.toml"
    toml.write_text("""
[grid]
like = "landcover.tif"

[[factors]]
name = "landuse"
path = "landcover.tif"
kind = "reclass"
table = { 1 = 1, 2 = 1, 3 = 2, 4 = 2, 5 = 3, 6 = 4, 7 = 5, 8 = 5 }

[[factors]]
name = "slope"
path = "slope.tif"
kind = "breaks"
breaks = [2, 6, 15, 25]
grade_range = [1, 5]

[[factors]]
name = "elevation"
path = "elevation.tif"
kind = "jenks"
classes = 5
grade_range = [1, 5]

[[factors]]
name = "roads"
path = "roads.gpkg"
kind = "distance"
breaks = [100, 300, 600, 1200]
grades = [5, 4, 3, 2, 1]

[[factors]]
name = "water"
path = "landcover.tif"
kind = "distance"
features = [1]
breaks = [200, 500, 1000, 2000]
grade_range = [1, 5]

[ahp]
matrix = [
  [1,     2,     3,     3,     5],
  ["1/2", 1,     2,     2,     3],
  ["1/3", "1/2", 1,     1,     2],
  ["1/3", "1/2", 1,     1,     2],
  ["1/5", "1/3", "1/2", "1/2", 1],
]

[correction]
path = "nightlights.tif"
relative = true
""")
    return toml


def run(n: int, seed: int) -> dict:
    from gpucircuit.analysis.resistance_surface import build_resistance, grade_factor, write_resistance
    from gpucircuit.backend import get_backend
    from gpucircuit.io.factors import read_resistance_config
    from gpucircuit.io.factor_grid import template_grid

    be = get_backend()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        toml = write_inputs(folder, n, seed)
        t0 = time.perf_counter()
        result = build_resistance(read_resistance_config(toml))
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_resistance(result, folder / "out")
        t_write = time.perf_counter() - t0
        cfg = read_resistance_config(toml)
        spec = template_grid(cfg)
        stages = {}
        for f in cfg.factors:
            t0 = time.perf_counter()
            g, _ = grade_factor(f, spec, be.xp)
            if be.is_gpu:
                be.xp.cuda.Device().synchronize()
            stages[f"{f.name} ({f.kind})"] = round(time.perf_counter() - t0, 3)
            del g
    return {"cells": n * n, "side": n, "seed": seed, "build_s": round(t_build, 3), "write_s": round(t_write, 3),
            "total_s": round(t_build + t_write, 3), "per_factor_s": stages,
            "valid_cells": int(np.isfinite(result.surface).sum()), "cr": result.cr}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    from gpucircuit.backend import set_backend

    be = set_backend(args.backend)
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    load = os.getloadavg()  # the machine is shared: a busy one slows every stage
    rows = []
    for n in args.sizes:
        row = run(n, args.seed)
        print(json.dumps(row), flush=True)
        rows.append(row)
    info = {"date": started, "backend": be.name, "device": be.device, "machine": platform.platform(),
            "cpus": os.cpu_count(), "load_avg_at_start": load, "load_avg_at_end": os.getloadavg(), "results": rows}
    out = args.out or HERE / "results" / f"resistance-{be.name}-{dt.date.today().isoformat()}.json"
    out.write_text(json.dumps(info, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
