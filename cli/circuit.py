"""Native circuit commands on GeoTIFF / ASCII rasters: pairwise, one-to-all, all-to-one, advanced.

They run the same engine as ``gpucircuit run`` and write GeoTIFFs with the input's CRS and
transform, the resistances as CSV and a PNG quick-look of the cumulative current.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer


from . import options as opt
from .common import cli_command, exit_if_solves_failed, job_progress, say
from .stats import check_stats_path, report_stats

# the options of these commands, defined once
RES_OPT = typer.Argument(..., help="Resistance raster (GeoTIFF or ASCII grid); nodata cells are not habitat.")
POINTS = typer.Argument(..., help="Focal points: raster of ids (cells > 0) or text 'id x y'.")
OUT_OPT = typer.Option(..., "--out", "-o", help="Output folder (created).")
CONDUCTANCE = typer.Option(False, "--conductance/--resistance", show_default=True,
                           help="The raster holds conductances, or resistances.")
FOUR = typer.Option(False, "--four-neighbors/--eight-neighbors", show_default=True,
                    help="Connect 4 or 8 neighbours.")
AVG_RES = typer.Option(False, "--avg-resistances/--avg-conductances", show_default=True,
                       help="Edge weight from the average of the two cells' resistances, or conductances.")
MASK = typer.Option(None, "--mask", help="Mask raster: only cells > 0 are kept.")
POLYGONS = typer.Option(None, "--polygons", help="Short-circuit region raster (ids; 0/nodata = none).")
VOLTAGES = typer.Option(False, "--voltages/--no-voltages", show_default=True,
                        help="Also write per-pair/per-point voltage maps.")
PAIR_MAPS = typer.Option(False, "--pair-maps/--no-pair-maps", show_default=True,
                         help="Also write per-pair/per-point current maps.")
PRECISION = typer.Option("double", "--precision", show_default=True,
                         help="double, or single: conductances stored in fp32 (half the operator's memory; CG "
                              "still accumulates in fp64). Single fits about 230 M cells in 24 GiB, "
                              "double about 200 M.")


def _config(resistance, outdir, scenario, conductance, four, avg_res, mask, polygons, solver, voltages, pair_maps,
            precision="double"):
    from gpucircuit.io.config import CircuitscapeConfig

    return CircuitscapeConfig(
        scenario=scenario, habitat_file=resistance, habitat_map_is_resistances=not conductance,
        connect_four_neighbors_only=four, connect_using_avg_resistances=avg_res,
        use_mask=mask is not None, mask_file=mask, use_polygons=polygons is not None, polygon_file=polygons,
        output_file=outdir / f"{scenario.replace('-', '_')}.out", write_as_tif=True, write_cur_maps=pair_maps,
        write_cum_cur_map_only=not pair_maps, write_volt_maps=voltages, solver=solver,
        precision=precision,
    )


def _finish(cfg, report):
    from gpucircuit.io.quicklook import save_png
    from gpucircuit.io.raster import read_raster
    from gpucircuit.io.raster_write import write_text_atomic

    prefix = cfg.output_prefix
    if report.resistances is not None:
        ids, R = report.ids, report.resistances
        if R.ndim == 2:
            rows = ["from,to,resistance"] + [f"{ids[a]},{ids[b]},{R[a, b]:.10g}"
                                             for a in range(len(ids)) for b in range(a + 1, len(ids))]
        else:
            rows = ["id,resistance"] + [f"{i},{r:.10g}" for i, r in zip(ids, R)]
        csv = Path(f"{prefix}_resistances.csv")
        write_text_atomic(csv, "\n".join(rows) + "\n")
        report.outputs.append(csv)
    cum = Path(f"{prefix}_cum_curmap.tif")
    if not cum.exists():
        cum = Path(f"{prefix}_curmap.tif")
    if cum.exists():
        data, _ = read_raster(cum)
        report.outputs.append(save_png(cum.with_suffix(".png"), data, f"{cfg.scenario} current", log=True))


def _run(cfg, solver: str, stats_file: Optional[Path], workers: int = 0, scheduler=None, gpus: bool = False,
         strict_points: bool = False) -> None:
    """Run the job with progress, then the CSV / PNG extras, --stats and the summary line."""
    from gpucircuit.distribute import cluster
    from gpucircuit.pipeline import run_config

    check_stats_path(stats_file)
    with cluster(workers, scheduler, gpus) as client, job_progress():
        report = run_config(cfg, method=None if solver == "auto" else solver, strict_points=strict_points,
                            client=client)
    t0 = time.perf_counter()
    _finish(cfg, report)
    report_stats(report, stats_file, print_timings=False, extra_write_s=time.perf_counter() - t0)
    say(f"{cfg.scenario}: wrote {len(report.outputs)} files to {cfg.output_prefix.parent} in "
        f"{report.seconds:.2f} s")
    exit_if_solves_failed(report)


def _focal_config(scenario, resistance, points, out, conductance, four, avg_resistances, mask, polygons, voltages,
                  pair_maps, solver, precision):
    cfg = _config(resistance, out, scenario, conductance, four, avg_resistances, mask, polygons, solver, voltages,
                  pair_maps, precision)
    cfg.point_file = points
    return cfg


def register(app: typer.Typer) -> None:
    @app.command("pairwise")
    @cli_command
    def pairwise(
        resistance: Path = RES_OPT,
        points: Path = POINTS,
        out: Path = OUT_OPT,
        conductance: bool = CONDUCTANCE,
        four: bool = FOUR,
        avg_resistances: bool = AVG_RES,
        mask: Optional[Path] = MASK,
        polygons: Optional[Path] = POLYGONS,
        include: Optional[Path] = typer.Option(None, "--include", help="Include/exclude pairs file."),
        voltages: bool = VOLTAGES,
        pair_maps: bool = PAIR_MAPS,
        solver: str = opt.SOLVER,
        precision: str = PRECISION,
        stats: Optional[Path] = opt.STATS,
        workers: int = opt.WORKERS,
        scheduler: Optional[str] = opt.SCHEDULER,
        gpus: bool = opt.GPUS,
    ):
        """Effective resistance and current between every pair of focal points."""
        cfg = _focal_config("pairwise", resistance, points, out, conductance, four, avg_resistances, mask, polygons,
                            voltages, pair_maps, solver, precision)
        if include is not None:
            cfg.use_included_pairs, cfg.included_pairs_file = True, include
        _run(cfg, solver, stats, workers, scheduler, gpus, strict_points=True)

    def point_command(scenario: str, doc: str):
        def command(
            resistance: Path = RES_OPT,
            points: Path = POINTS,
            out: Path = OUT_OPT,
            conductance: bool = CONDUCTANCE,
            four: bool = FOUR,
            avg_resistances: bool = AVG_RES,
            mask: Optional[Path] = MASK,
            polygons: Optional[Path] = POLYGONS,
            strengths: Optional[Path] = typer.Option(None, "--strengths",
                                                     help="Variable source strengths: lines 'id strength'."),
            voltages: bool = VOLTAGES,
            pair_maps: bool = PAIR_MAPS,
            solver: str = opt.SOLVER,
            precision: str = PRECISION,
            stats: Optional[Path] = opt.STATS,
            workers: int = opt.WORKERS,
            scheduler: Optional[str] = opt.SCHEDULER,
            gpus: bool = opt.GPUS,
        ):
            cfg = _focal_config(scenario, resistance, points, out, conductance, four, avg_resistances, mask,
                                polygons, voltages, pair_maps, solver, precision)
            if strengths is not None:
                cfg.use_variable_source_strengths, cfg.variable_source_file = True, strengths
            _run(cfg, solver, stats, workers, scheduler, gpus, strict_points=True)

        command.__doc__ = doc
        app.command(scenario)(cli_command(command))

    point_command("one-to-all", "Inject at each focal point in turn with all others grounded.")
    point_command("all-to-one", "Ground each focal point in turn with current injected at all others.")

    @app.command("advanced")
    @cli_command
    def advanced(
        resistance: Path = RES_OPT,
        sources: Path = typer.Argument(..., help="Source raster: current (A) injected per cell."),
        grounds: Path = typer.Argument(..., help="Ground raster: resistance to ground per cell (0 = direct)."),
        out: Path = OUT_OPT,
        conductance: bool = CONDUCTANCE,
        grounds_are_conductances: bool = typer.Option(False, "--grounds-are-conductances/--grounds-are-resistances",
                                                      show_default=True,
                                                      help="Ground raster values are conductances, or resistances."),
        direct_grounds: bool = typer.Option(False, "--direct-grounds/--no-direct-grounds", show_default=True,
                                            help="Tie every ground cell directly to 0 V."),
        four: bool = FOUR,
        avg_resistances: bool = AVG_RES,
        remove: str = typer.Option("keepall", "--remove", show_default=True,
                                   help="Source/ground conflicts: keepall, rmvsrc, rmvgnd, rmvall."),
        solver: str = opt.SOLVER,
        precision: str = PRECISION,
        stats: Optional[Path] = opt.STATS,
    ):
        """Sources and grounds given as rasters, solved in one pass (Circuitscape's advanced mode)."""
        cfg = _config(resistance, out, "advanced", conductance, four, avg_resistances, None, None, solver, True, True,
                      precision)
        cfg.source_file, cfg.ground_file = sources, grounds
        cfg.ground_file_is_resistances = not grounds_are_conductances
        cfg.use_direct_grounds, cfg.remove_src_or_gnd = direct_grounds, remove
        cfg.write_cum_cur_map_only = False
        _run(cfg, solver, stats)
