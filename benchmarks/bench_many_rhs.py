"""Many right-hand sides: an all-to-one / one-to-all Circuitscape job with per-point current maps.

Generates a landscape (``landscape.make_landscape``) and ``--points`` focal points, writes the
habitat GeoTIFF, the point list and a Circuitscape INI (``write_cur_maps = True``; ASCII maps as
Circuitscape's default, or GeoTIFFs with ``--tif``), then runs ``gpucircuit run job.ini --stats``
in a child process and records its stages, wall and CPU seconds and peak RSS. ``--profile`` runs
the same job in this process under cProfile and prints the top functions instead; ``--stages``
first runs it in this process recording wall and CPU seconds per stage, then in the child.

    python benchmarks/bench_many_rhs.py --side 1450 --points 43 --scenario all-to-one
    python benchmarks/bench_many_rhs.py --side 1450 --points 43 --scenario one-to-all --tif --solver mg
    python benchmarks/bench_many_rhs.py --side 4000 --points 2 --scenario pairwise --no-maps   # one pair, RSS
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_scale import write_inputs  # noqa: E402
from landscape import make_landscape, pick_focal_points  # noqa: E402


def write_job(folder: Path, args) -> Path:
    res = make_landscape((args.side, args.side), seed=args.seed, contrast=args.contrast)
    pts = pick_focal_points(res, args.points, args.seed)
    tif, txt = write_inputs(folder, res, pts)
    maps = "False" if args.no_maps else "True"
    ini = folder / "job.ini"
    ini.write_text("\n".join([
        "[Circuitscape mode]", "data_type = raster", f"scenario = {args.scenario}",
        f"habitat_file = {tif}", "habitat_map_is_resistances = True", f"point_file = {txt}",
        f"output_file = {folder / 'out' / 'job.out'}", f"write_cur_maps = {maps}",
        f"write_as_tif = {args.tif}", f"precision = {args.precision}", ""]))
    return ini


def run_child(ini: Path, stats: Path, solver: str, cwd: Path | None = None) -> dict:
    cmd = [str(Path(sys.executable).with_name("gpucircuit")), "--quiet", "run", str(ini), "--stats", str(stats),
           "--solver", solver]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"gpucircuit failed ({proc.returncode}): {proc.stderr.strip()}")
    return dict(command=" ".join(cmd), wall_s=wall,
                cpu_s=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
                max_rss_bytes=after.ru_maxrss * 1024, stats=json.loads(stats.read_text()))


def run_profiled(ini: Path, solver: str, top: int) -> None:
    import cProfile
    import pstats

    from gpucircuit.io.config import load_config
    from gpucircuit.pipeline import run_config

    cfg = load_config(ini)
    prof = cProfile.Profile(time.process_time)  # CPU seconds: the machine may be shared
    t0, c0 = time.perf_counter(), time.process_time()
    prof.runcall(run_config, cfg, solver)
    print(f"wall {time.perf_counter() - t0:.1f} s, CPU {time.process_time() - c0:.1f} s")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(top)


def run_stages(ini: Path, solver: str) -> dict:
    """The job in this process, with wall and CPU seconds per stage (``graph``, ``setup``, ``solve``,
    ``maps``, ``write``); CPU counts this process's threads and its finished children (the map
    writer processes), so the stages' CPU adds up to the job's."""
    from gpucircuit.io.config import load_config
    from gpucircuit.pipeline import run_config
    from gpucircuit.progress import Progress, reporting

    def cpu():
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    marks = [("start", time.perf_counter(), cpu())]

    class Marks(Progress):
        def stage(self, name, total=None):
            marks.append((name, time.perf_counter(), cpu()))

    with reporting(Marks()):
        run_config(load_config(ini), solver)
    marks.append(("end", time.perf_counter(), cpu()))
    stages = {a[0]: dict(wall_s=round(b[1] - a[1], 2), cpu_s=round(b[2] - a[2], 2)) for a, b in zip(marks, marks[1:])}
    print(json.dumps(stages))
    return stages


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=1450, help="cells per side (1450: about 1.9 M unknowns)")
    ap.add_argument("--points", type=int, default=43)
    ap.add_argument("--scenario", default="all-to-one", choices=["all-to-one", "one-to-all", "pairwise"])
    ap.add_argument("--solver", default="auto", choices=["auto", "direct", "mg", "amg"])
    ap.add_argument("--tif", action="store_true", help="write_as_tif = True (default: ASCII grids)")
    ap.add_argument("--no-maps", action="store_true", help="write_cur_maps = False (resistances only)")
    ap.add_argument("--precision", default="double", choices=["double", "single"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--contrast", type=float, default=1e4)
    ap.add_argument("--profile", action="store_true", help="run in this process under cProfile")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--stages", action="store_true", help="run in this process: wall and CPU seconds per stage")
    ap.add_argument("--label", default="", help="tag stored with the result (e.g. before / after)")
    ap.add_argument("--out", default=None, help="JSON result file (default: benchmarks/results/...)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        ini = write_job(Path(tmp), args)
        if args.profile:
            run_profiled(ini, args.solver, args.top)
            return
        if args.stages:
            stages = run_stages(ini, args.solver)
        row = run_child(ini, Path(tmp) / "stats.json", args.solver)
        if args.stages:
            row["stages_in_process"] = stages
    st = row["stats"]
    cells = args.side * args.side
    row.update(label=args.label, cells=cells, rss_bytes_per_cell=row["max_rss_bytes"] / cells)
    print(f"{args.scenario}, {args.points} points, {cells / 1e6:.2f} M cells ({st.get('unknowns')} unknowns), "
          f"solver {st.get('solver')}: {row['wall_s']:.1f} s wall, {row['cpu_s']:.1f} s CPU, "
          f"peak RSS {row['max_rss_bytes'] / 2**30:.2f} GiB ({row['rss_bytes_per_cell']:.0f} B/cell); "
          f"stages {json.dumps({k: round(v, 1) for k, v in st.get('timings', {}).items()})}", flush=True)
    result = dict(bench_command=" ".join(["python benchmarks/bench_many_rhs.py", *(sys.argv[1:] if argv is None else argv)]),
                  date=dt.datetime.now().isoformat(timespec="seconds"),
                  machine=dict(platform=platform.platform(), python=platform.python_version(),
                               cpus=os.cpu_count(), load_average=os.getloadavg()),
                  settings=vars(args), result=row)
    out = Path(args.out) if args.out else HERE / "results" / (
        f"many-rhs-{args.scenario}-{args.side}-{args.points}-{dt.date.today().isoformat()}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=float))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
