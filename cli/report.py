"""``gpucircuit report``: the seed studies' tables, maps and summary from a ``gpucircuit linkage`` folder.

Reads OUT (link table, corridors, least-cost paths, the pinch-point and barrier maps: the one of
each kind, or the ones named by --pinchpoints / --barriers) and the original resistance and cores,
and writes OUT/report/ through :func:`gpucircuit.linkage.report.build_report`.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import typer

from . import options as opt
from .common import cli_command, job_progress, say


def register(app: typer.Typer) -> None:
    @app.command("report")
    @cli_command
    def report(
        resistance: Path = typer.Argument(..., help="The resistance raster given to 'gpucircuit linkage'."),
        cores: Path = typer.Argument(..., help="The cores given to 'gpucircuit linkage'."),
        out: Path = typer.Option(..., "--out", "-o", help="Folder holding the 'gpucircuit linkage' outputs."),
        core_field: str = opt.CORE_FIELD,
        pinchpoints: Optional[Path] = typer.Option(
            None, "--pinchpoints", help="Pinch-point map to classify (default: OUT's only all-to-one map, else its "
            "only adjacent-pairs map)."),
        barriers: Optional[Path] = typer.Option(None, "--barriers", help="Barrier map to classify (default: OUT's "
                                                "barriers_max.tif or barriers_max_pct.tif)."),
        classes: int = typer.Option(5, "--classes", help="Number of classes of the pinch-point (and barrier) map."),
        barrier_classes: Optional[int] = typer.Option(None, "--barrier-classes",
                                                      help="Number of classes of the barrier map (default: --classes)."),
        method: str = typer.Option("jenks", "--method", help="Class breaks: jenks, quantile or equal_interval."),
        landuse: Optional[Path] = typer.Option(None, "--landuse", help="Land-use raster (integer codes, same grid)."),
        landuse_names: Optional[Path] = typer.Option(None, "--landuse-names", help="CSV of code,name for --landuse."),
        lines: Optional[List[Path]] = typer.Option(None, "--lines",
                                                   help="Roads / railways (lines); repeatable. Breakpoints with LCPs."),
        line_field: Optional[str] = typer.Option(None, "--line-field",
                                                 help="Line attribute giving the line type (e.g. fclass)."),
        d_threshold: float = typer.Option(5000.0, "--d-threshold", help="PC: distance (map units) at --p-threshold."),
        p_threshold: float = typer.Option(0.5, "--p-threshold", help="PC: dispersal probability at --d-threshold."),
        gravity_threshold: float = typer.Option(1.0, "--gravity-threshold",
                                                help="Gravity model: G above this = important corridor."),
        sweep: Optional[str] = typer.Option(None, "--sweep",
                                            help="Corridor width sweep over CWD cutoffs, e.g. 1000:9000:2000 "
                                                 "(first, last, step); all-to-one current per cutoff."),
        report_dir: str = typer.Option("report", "--report-dir", help="Name of the report folder inside OUT."),
        method_cwd: str = typer.Option("auto", "--cwd-method", help="CWD engine for --sweep: auto, dijkstra or sweep."),
    ):
        """Report of a linkage run: pinch points, barriers, breakpoints, corridor importance, indices, summary."""
        from gpucircuit.errors import InputError
        from gpucircuit.linkage.chain import load_inputs
        from gpucircuit.linkage.report import report_files, report_options
        from gpucircuit.linkage.report_steps import build_report

        t0 = time.perf_counter()
        options = report_options(classes, method, landuse, landuse_names, lines, d_threshold, p_threshold,
                                 gravity_threshold, sweep, method_cwd, barrier_classes, line_field)
        if not report_dir or Path(report_dir).name != report_dir or report_dir in (".", ".."):
            raise InputError(f"--report-dir must be a plain folder name, got {report_dir!r}")
        files = report_files(out, pinchpoints, barriers)
        with job_progress() as shown:
            shown.stage("inputs")
            r, spec, core_set = load_inputs(resistance, cores, core_field)
            rep = build_report(r, spec, core_set, files, options, out / report_dir, shown,
                               {"resistance": str(resistance), "cores": str(cores)})
        s = rep.summary
        width = f"; corridor width {s['width']['best_cutoff']:g}" if s["width"] else ""
        bps = "" if s["breakpoints"] is None else f", {s['breakpoints']} breakpoint(s)"
        say(f"report: {s['sources']['count']} sources, {s['corridors']['count']} corridors "
            f"({s['corridors']['length_km']:.1f} km); {rep.pinch.n} pinch-point patches "
            f"({rep.pinch.area_km2:.3f} km²), {rep.barrier.n} barrier patches ({rep.barrier.area_km2:.3f} km²)"
            f"{bps}{width}")
        say(f"report: wrote {len(set(rep.outputs))} files to {out / report_dir} in {time.perf_counter() - t0:.2f} s")
