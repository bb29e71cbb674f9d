"""Time writing one current map as an ASCII grid and as a GeoTIFF (``--size 4000``: 16 M cells).

The map is a smooth positive field with 10 % nodata, like a cumulative current map.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from affine import Affine

from gpucircuit.io.raster import GridSpec
from gpucircuit.io.raster_write import write_raster


def current_like(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = np.exp(rng.standard_normal((n, n))) * 1e-3
    data[rng.random((n, n)) < 0.1] = np.nan
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=4000)
    ap.add_argument("--single", action="store_true", help="write a float32 map (precision = single)")
    args = ap.parse_args()
    data = current_like(args.size)
    if args.single:
        data = data.astype(np.float32)
    spec = GridSpec(data.shape, Affine(30.0, 0, 500000.0, 0, -30.0, 4000000.0), None)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, kw in (("map.asc", {}), ("map.tif", {}), ("map.asc", {"compress": True})):
            t0, c0 = time.perf_counter(), time.process_time()
            p = write_raster(Path(tmp) / name, data, spec, compress=kw.get("compress", False))
            key = p.name + (" (compress)" if kw else "")
            out[key] = dict(seconds=round(time.perf_counter() - t0, 2), cpu_s=round(time.process_time() - c0, 2),
                            mb=round(p.stat().st_size / 1e6, 1))
            print(key, out[key], flush=True)
    print(json.dumps(dict(cells=data.size, dtype=str(data.dtype), results=out)))


if __name__ == "__main__":
    main()
