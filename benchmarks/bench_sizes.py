"""The size table of issue 9: one pairwise job per raster size, end to end, as a user runs it.

For each size the generator's landscape (``landscape.py``: 1-1e4 classes, roads, 10 % nodata,
8 neighbours unless ``--four``) is written once as a GeoTIFF into ``--cache`` (kept between
runs: generating 96 M cells takes minutes), then ``gpucircuit run JOB.ini --stats`` runs in a
child process with one pair of focal points, current maps on, GeoTIFF output. Reported per size:
unknowns, CG iterations, setup / solve / write / total seconds, peak RSS of the child and its
bytes per cell, maps + writing as a share of the job, and CPU seconds. ``--pyamg-max`` adds
Circuitscape's algorithm (pyamg smoothed aggregation + CG, same matrix, in this process) for
the smaller sizes, with the ratio. ``--ini`` adds a given Circuitscape INI (e.g. the shared 24 M
BigTests case) to the table. ``--landcover TIF --landcover-sides ...`` adds real land cover: a
resistance raster (e.g. the Frederick NLCD example reclassified, 694 x 725) mirrored tile by tile
up to the given sides, so the large maps keep real patch shapes and class contrasts.

    python benchmarks/bench_sizes.py --sides 1000 2000 4000 8000 9798 --cache /tmp/sizes \\
        --ini /tmp/24m/24m.ini --pyamg-max 2000
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
import scipy.ndimage as ndi

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_many_rhs import run_child as run_job  # noqa: E402
from bench_scale import run_pyamg, write_inputs  # noqa: E402
from landscape import make_landscape, pick_focal_points  # noqa: E402


def inputs(cache: Path, side: int, seed: int, contrast: float, four: bool = False) -> tuple[Path, Path]:
    """The generator's raster and its pair of points; with ``four`` the pair lies in the largest 4-connected
    component (``points4.txt``; the 8-neighbour pair may be cut apart by 4-neighbour connectivity)."""
    folder = cache / f"side{side}-seed{seed}-c{contrast:g}"
    tif, txt = folder / "resistance.tif", folder / ("points4.txt" if four else "points.txt")
    if not (tif.exists() and txt.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        res = make_landscape((side, side), seed=seed, contrast=contrast)
        largest = None
        if four:
            labels, _ = ndi.label(np.isfinite(res))  # 4-connected
            largest = labels == np.bincount(labels.ravel())[1:].argmax() + 1
        write_inputs(folder, res, pick_focal_points(res, 2, seed, component=largest))  # as points.txt
        if four:
            (folder / "points.txt").replace(txt)
    return tif, txt


def landcover_inputs(cache: Path, source: Path, side: int, seed: int) -> tuple[Path, Path]:
    """``source`` mirrored (flipped every other tile, so no seams) to side x side."""
    import rasterio

    folder = cache / f"landcover-{source.stem}-side{side}"
    tif, txt = folder / "resistance.tif", folder / "points.txt"
    if not (tif.exists() and txt.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        with rasterio.open(source) as ds:
            base = ds.read(1, masked=True).astype(np.float64).filled(np.nan)
        m, n = base.shape
        block = np.block([[base, base[:, ::-1]], [base[::-1], base[::-1, ::-1]]])
        res = np.tile(block, (side // (2 * m) + 1, side // (2 * n) + 1))[:side, :side].copy()
        del block
        write_inputs(folder, res, pick_focal_points(res, 2, seed))
    return tif, txt


def job_ini(folder: Path, tif: Path, txt: Path, four: bool) -> Path:
    ini = folder / ("job4.ini" if four else "job.ini")
    out = folder / ("out4" if four else "out")
    ini.write_text("\n".join([
        "[Circuitscape mode]", "data_type = raster", "scenario = pairwise", f"habitat_file = {tif}",
        "habitat_map_is_resistances = True", f"point_file = {txt}", f"output_file = {out / 'job.out'}",
        "write_cur_maps = True", "write_as_tif = True", f"connect_four_neighbors_only = {four}", ""]))
    return ini


def run_child(ini: Path, solver: str) -> dict:
    """``gpucircuit run INI --stats`` in a child process (bench_many_rhs's runner), with the table's fields."""
    row = run_job(ini, ini.with_suffix(".stats.json"), solver, cwd=ini.parent)
    st = row.pop("stats")
    t = st["timings"]
    return dict(row, peak_rss_bytes=st["peak_rss_bytes"], cells=st["cells"], unknowns=st["unknowns"],
                iterations=st["iterations"], max_residual=st["max_residual"], solver=st["solver"], timings=t,
                bytes_per_cell=st["peak_rss_bytes"] / st["cells"], write_share=t["write"] / t["total"])


def markdown_table(files: list[str]) -> str:
    """The README's size table from result files of this script."""
    lines = ["| case | cells | unknowns | CG its | setup / solve / write / total (s) | CPU (s) | peak RSS | B/cell "
             "| maps + writing | pyamg SA + CG (its, setup + solve) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for f in files:
        for r in json.loads(Path(f).read_text())["results"]:
            t = r["timings"]
            py = r.get("pyamg_sa")
            peer = f"{py['iterations']} its, {py['total_s']:.1f} s ({r['pyamg_ratio_setup_solve']:.1f}x)" if py else ""
            label = Path(r["label"]).name if r["label"].endswith(".ini") else r["label"]
            lines.append(f"| {label} | {r['cells'] / 1e6:.0f} M | {r['unknowns']:,} | {r['iterations']} | "
                         f"{t['setup']:.1f} / {t['solve']:.1f} / {t['write']:.1f} / {t['total']:.1f} | {r['cpu_s']:.0f} | "
                         f"{r['peak_rss_bytes'] / 2**30:.2f} GiB | {r['bytes_per_cell']:.0f} | {r['write_share']:.0%} | {peer} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sides", type=int, nargs="*", default=[1000, 2000], help="cells per side")
    ap.add_argument("--ini", nargs="*", default=[], help="Circuitscape INI files to add to the table")
    ap.add_argument("--landcover", default=None, help="resistance raster to mirror up to --landcover-sides")
    ap.add_argument("--landcover-sides", type=int, nargs="*", default=[])
    ap.add_argument("--cache", default="/tmp/gpucircuit-sizes", help="folder for the generated inputs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--contrast", type=float, default=1e4)
    ap.add_argument("--four", action="store_true", help="4 neighbours")
    ap.add_argument("--solver", default="auto")
    ap.add_argument("--pyamg-max", type=int, default=0, help="largest side also solved by pyamg SA + CG")
    ap.add_argument("--out", default=None)
    ap.add_argument("--table", nargs="*", default=None, help="print the markdown table of these result files")
    args = ap.parse_args(argv)
    if args.table is not None:
        print(markdown_table(args.table))
        return

    rows = []
    cache = Path(args.cache)
    jobs = [(f"generator {s}x{s}", s) for s in args.sides] + [(str(p), Path(p)) for p in args.ini]
    jobs += [(f"land cover {s}x{s}", ("landcover", s)) for s in args.landcover_sides]
    for label, what in jobs:
        if isinstance(what, Path):
            ini, side = what.resolve(), None
        else:
            if isinstance(what, tuple):
                side = what[1]
                tif, txt = landcover_inputs(cache, Path(args.landcover), side, args.seed)
            else:
                side = what
                tif, txt = inputs(cache, side, args.seed, args.contrast, args.four)
            ini = job_ini(tif.parent, tif, txt, args.four)
        row = dict(label=label, load_average=os.getloadavg(), **run_child(ini, args.solver))
        if side is not None and side <= args.pyamg_max and not args.four:
            import rasterio

            with rasterio.open(tif) as ds:
                res = ds.read(1, masked=True).astype(np.float64).filled(np.nan)
            pts = pick_focal_points(res, 2, args.seed)
            row["pyamg_sa"] = run_pyamg(res, pts)
            ours = row["timings"]["setup"] + row["timings"]["solve"]
            row["pyamg_ratio_setup_solve"] = row["pyamg_sa"]["total_s"] / ours
            del res
        rows.append(row)
        t = row["timings"]
        extra = f", pyamg {row['pyamg_sa']['iterations']} its {row['pyamg_ratio_setup_solve']:.1f}x" \
            if "pyamg_sa" in row else ""
        print(f"{label}: {row['cells'] / 1e6:.1f} M cells, {row['unknowns']} unknowns, {row['iterations']} its, "
              f"setup {t['setup']:.1f} s, solve {t['solve']:.1f} s, write {t['write']:.1f} s, total {t['total']:.1f} s "
              f"(wall {row['wall_s']:.1f} s, CPU {row['cpu_s']:.1f} s), peak {row['peak_rss_bytes'] / 2**30:.2f} GiB "
              f"= {row['bytes_per_cell']:.0f} B/cell, maps+writing {row['write_share']:.0%}{extra}", flush=True)
    result = dict(date=dt.datetime.now().isoformat(timespec="seconds"),
                  command="python benchmarks/bench_sizes.py " + " ".join(sys.argv[1:] if argv is None else argv),
                  machine=dict(platform=platform.platform(), python=platform.python_version(), cpus=os.cpu_count()),
                  settings=vars(args), results=rows)
    out = Path(args.out) if args.out else HERE / "results" / f"sizes-cpu-{dt.date.today().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=float))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
