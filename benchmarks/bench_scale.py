"""End-to-end scale benchmark of a pairwise job, per raster size, on the selected backend.

For each size (cells per side): generate the landscape (not timed), write it as a GeoTIFF, then
time ``gpucircuit``'s whole job: read, graph, hierarchy, solve, current maps, write. Reports
setup and solve time, CG iterations, time per iteration, the achieved memory bandwidth as a share
of the device's peak (from a bytes-per-cell model of one CG iteration), peak device memory, and
the same single solve by pyamg smoothed aggregation + CG on the CPU (Circuitscape's algorithm)
up to ``--pyamg-max`` cells per side, with the ratio.

    python benchmarks/bench_scale.py --sizes 1000 4000 --points 2
    python benchmarks/bench_scale.py --sizes 3464 14318 --points 20 --backend gpu   # 12 M and 205 M cells
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from landscape import make_landscape, pick_focal_points  # noqa: E402

# peak memory bandwidth (bytes/s) by device name fragment, from the vendors' data sheets
PEAK_BANDWIDTH = {"H200": 4.8e12, "H100 SXM": 3.35e12, "H100 PCIe": 2.0e12, "H100": 3.35e12, "A100": 2.0e12,
                  "L4": 3.0e11, "A10G": 6.0e11}


def bytes_per_cell_iteration(eight: bool = True, single: bool = False) -> int:
    """DRAM bytes per grid cell that one PCG iteration must move at the least (every array read or
    written once per pass, neighbours served from cache): the yardstick for the achieved share of
    the device's bandwidth. Layout as in gpucircuit.solver (fp64 CG vectors, fp32 cycle, forward
    weights only)."""
    dirs = 4 if eight else 2
    weights = dirs * (4 if single else 8)
    apply = 8 + weights + 8 + 8  # diagonal, weights, x, y
    cg = 160  # two dots, two axpys with their scalings, the norm, the p update (20 fp64 passes)
    sweep = 4 + 2 * dirs * 4 + 4 + 4 + 4  # b, each weight twice (own + neighbour's), diag, x read, x write
    fine = 12 + sweep + (sweep + 4) + 14 + 17 + sweep + 12  # split, pre, residual, restrict, prolong, post, merge
    coarse_visit = 8 + 2 * sweep + (sweep + 4) + 14 + 17 + 2 * sweep + 8 + (sweep + 4)  # 2x sweeps, W's residual
    coarse = coarse_visit  # W-cycle: level l has 2^l visits of 4^-l cells, sum_l 2^-l = 1
    return apply + cg + fine + coarse


def peak_bandwidth(device: str) -> float | None:
    for key, bw in PEAK_BANDWIDTH.items():
        if key in device:
            return bw
    return None


def device_memory():
    try:
        import cupy as cp

        return int(cp.get_default_memory_pool().total_bytes())
    except Exception:  # noqa: BLE001 - no CuPy
        return None


def write_inputs(folder: Path, res: np.ndarray, pts: np.ndarray) -> tuple[Path, Path]:
    import rasterio
    from rasterio.transform import from_origin

    tif = folder / "resistance.tif"
    with rasterio.open(tif, "w", driver="GTiff", height=res.shape[0], width=res.shape[1], count=1, dtype="float32",
                       transform=from_origin(0, 30.0 * res.shape[0], 30.0, 30.0), nodata=-9999.0,
                       crs="EPSG:32648", tiled=True, blockxsize=512, blockysize=512, BIGTIFF="IF_SAFER") as ds:
        ds.write(np.where(np.isnan(res), -9999.0, res).astype(np.float32), 1)
    txt = folder / "points.txt"
    m = res.shape[0]
    txt.write_text("".join(f"{i + 1} {30.0 * (c + 0.5)} {30.0 * (m - r - 0.5)}\n" for i, (r, c) in enumerate(pts)))
    return tif, txt


def run_ours(tif: Path, txt: Path, out: Path, precision: str = "double"):
    from gpucircuit.io.config import CircuitscapeConfig
    from gpucircuit.pipeline import run_config

    cfg = CircuitscapeConfig(scenario="pairwise", habitat_file=tif, point_file=txt, output_file=out / "job.out",
                             write_cum_cur_map_only=True, write_as_tif=True, precision=precision)
    t0 = time.perf_counter()
    report = run_config(cfg, method="mg")
    total = time.perf_counter() - t0
    return total, report


def run_pyamg(res: np.ndarray, pts: np.ndarray):
    """One solve between the first two points, as Circuitscape does it: CSR, SA hierarchy, CG."""
    import pyamg
    import scipy.sparse.linalg as sla

    from gpucircuit.grid import build_raster_graph, conductance_from_habitat
    from gpucircuit.solver.unknowns import reduced_laplacian, unknown_index

    graph = build_raster_graph(conductance_from_habitat(res, True))
    comp = graph.components
    a, b = (tuple(p) for p in pts[:2])
    active = graph.node & (comp == comp[a])
    active[a] = False
    uid, n = unknown_index(active, graph.merge)
    A = reduced_laplacian(graph, uid, n, None)
    rhs = np.zeros(n)
    rhs[uid[b]] = 1.0
    t0 = time.perf_counter()
    ml = pyamg.smoothed_aggregation_solver(A, symmetry="symmetric")
    t1 = time.perf_counter()
    its = []
    sla.cg(A, rhs, rtol=1e-6, M=ml.aspreconditioner(), callback=lambda _: its.append(1), maxiter=2000)
    t2 = time.perf_counter()
    return dict(setup_s=t1 - t0, solve_s=t2 - t1, total_s=t2 - t0, iterations=len(its))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000], help="cells per side")
    ap.add_argument("--points", type=int, default=2, help="focal points (pairwise among them)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--contrast", type=float, default=1e4)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--precision", choices=["single", "double"], default="double",
                    help="single: fp32 conductances (the 24 GiB setting), fp64 CG either way")
    ap.add_argument("--pyamg-max", type=int, default=2000, help="largest side solved by pyamg too")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    from gpucircuit.backend import set_backend

    backend = set_backend(args.backend)
    rows = []
    for n in args.sizes:
        res = make_landscape((n, n), seed=args.seed, contrast=args.contrast)
        pts = pick_focal_points(res, args.points, args.seed)
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            tif, txt = write_inputs(tmp, res, pts)
            total, report = run_ours(tif, txt, tmp / "out", args.precision)
        st = report.stats[0]
        cells = n * n
        per_it = st.solve_s / max(st.iterations, 1)
        bpc = bytes_per_cell_iteration(True, args.precision == "single")
        bw = bpc * cells * max(1, st.solves) / per_it  # per pass over all right-hand sides
        peak = peak_bandwidth(backend.device)
        row = dict(side=n, cells=cells, points=args.points, total_s=total, stages=report.timings,
                   setup_s=st.setup_s, solve_s=st.solve_s, iterations=st.iterations, solves=st.solves,
                   seconds_per_iteration=per_it, achieved_bandwidth=bw,
                   bandwidth_share=None if peak is None else bw / peak, unknowns=st.unknowns,
                   max_residual=st.max_residual, peak_device_bytes=device_memory())
        if n <= args.pyamg_max and args.points == 2:
            row["pyamg_sa"] = run_pyamg(res, pts)
            row["speedup_total"] = row["pyamg_sa"]["total_s"] / total
        rows.append(row)
        ratio = f", pyamg {row['pyamg_sa']['total_s']:.2f} s ({row['speedup_total']:.1f}x)" if "pyamg_sa" in row else ""
        share = "" if peak is None else f" ({bw / peak:.0%} of peak)"
        print(f"{n}x{n} ({cells / 1e6:.1f} M cells), {args.points} points: {total:.2f} s end to end "
              f"(setup {st.setup_s:.2f} s, solve {st.solve_s:.2f} s), {st.iterations} CG iterations x "
              f"{st.solves} right-hand sides, {per_it * 1e3:.1f} ms/iteration, ~{bw / 1e9:.0f} GB/s{share}{ratio}",
              flush=True)
    result = dict(date=dt.datetime.now().isoformat(timespec="seconds"), device=backend.device,
                  backend=backend.name, peak_bandwidth=peak_bandwidth(backend.device),
                  bytes_per_cell_iteration=bytes_per_cell_iteration(True, args.precision == "single"),
                  machine=dict(platform=platform.platform(), python=platform.python_version()),
                  settings=vars(args), results=rows)
    out = Path(args.out) if args.out else HERE / "results" / (
        f"scale-{backend.device.replace(' ', '_')}-{dt.date.today().isoformat()}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=float))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
