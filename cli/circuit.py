"""Native circuit commands on GeoTIFF / ASCII rasters: pairwise, one-to-all, all-to-one, advanced.

They run the same engine as ``gpucircuit run`` and write GeoTIFFs with the input's CRS and
transform, the resistances as CSV and a PNG quick-look of the cumulative current.
"""
from __future__ import annotations

from pathlib import Path

import typer

from gpucircuit.errors import InputError

from .common import GPUS_HELP, SCHEDULER_HELP, WORKERS_HELP, exit_if_solves_failed, progress_counter, user_errors

RES_OPT = typer.Argument(..., help="Resistance raster (GeoTIFF or ASCII grid); nodata cells are not habitat.")
OUT_OPT = typer.Option(..., "--out", "-o", help="Output folder (created).")


PRECISION_HELP = ("double, or single: conductances stored in fp32 (half the operator's memory; CG still "
                  "accumulates in fp64). Single fits about 230 M cells in 24 GiB, double about 200 M.")


def _config(resistance, outdir, scenario, conductance, four, avg_res, mask, polygons, solver, voltages, pair_maps,
            precision="double"):
    from gpucircuit.io.config import CircuitscapeConfig

    return CircuitscapeConfig(
        scenario=scenario, habitat_file=resistance, habitat_map_is_resistances=not conductance,
        connect_four_neighbors_only=four, connect_using_avg_resistances=avg_res,
        use_mask=mask is not None, mask_file=mask, use_polygons=polygons is not None, polygon_file=polygons,
        output_file=outdir / f"{scenario.replace('-', '_')}.out", write_as_tif=True, write_cur_maps=pair_maps,
        write_cum_cur_map_only=not pair_maps, write_volt_maps=voltages, solver=solver,
        precision=_precision(precision),
    )


def _precision(value: str) -> str:
    if value not in ("single", "double"):
        raise InputError(f"--precision must be single or double, not {value!r}")
    return value


def _finish(cfg, report):
    from gpucircuit.io.quicklook import save_png
    from gpucircuit.io.raster import read_raster, write_text_atomic

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
    typer.echo(f"{cfg.scenario}: wrote {len(report.outputs)} files to {prefix.parent} in {report.seconds:.2f} s")
    exit_if_solves_failed(report)


def register(app: typer.Typer) -> None:
    def focal_command(scenario: str, doc: str):
        @user_errors
        def command(
            resistance: Path = RES_OPT,
            points: Path = typer.Argument(..., help="Focal points: raster of ids (cells > 0) or text 'id x y'."),
            out: Path = OUT_OPT,
            conductance: bool = typer.Option(False, help="The raster holds conductances, not resistances."),
            four: bool = typer.Option(False, "--four-neighbors", help="Connect 4 neighbours instead of 8."),
            avg_resistances: bool = typer.Option(False, help="Average resistances (not conductances) on edges."),
            mask: Path = typer.Option(None, help="Mask raster: only cells > 0 are kept."),
            polygons: Path = typer.Option(None, help="Short-circuit region raster (ids; 0/nodata = none)."),
            include: Path = typer.Option(None, help="Include/exclude pairs file (pairwise only)."),
            strengths: Path = typer.Option(None, help="Variable source strengths 'id strength' (one-to-all, all-to-one)."),
            voltages: bool = typer.Option(False, help="Also write per-pair/per-point voltage maps."),
            pair_maps: bool = typer.Option(False, help="Also write per-pair/per-point current maps."),
            solver: str = typer.Option("auto", help="auto, direct, mg (grid multigrid) or amg (pyamg)."),
            precision: str = typer.Option("double", help=PRECISION_HELP),
            workers: int = typer.Option(0, help=WORKERS_HELP),
            scheduler: str = typer.Option(None, help=SCHEDULER_HELP),
            gpus: bool = typer.Option(False, help=GPUS_HELP),
        ):
            from gpucircuit.distribute import cluster
            from gpucircuit.pipeline import run_config

            cfg = _config(resistance, out, scenario, conductance, four, avg_resistances, mask, polygons,
                          solver, voltages, pair_maps, precision)
            cfg.point_file = points
            if include is not None:
                cfg.use_included_pairs, cfg.included_pairs_file = True, include
            if strengths is not None:
                cfg.use_variable_source_strengths, cfg.variable_source_file = True, strengths
            with cluster(workers, scheduler, gpus) as client, progress_counter(scenario) as advance:
                report = run_config(cfg, method=None if solver == "auto" else solver, progress=advance,
                                    strict_points=True, client=client)
            _finish(cfg, report)

        command.__doc__ = doc
        app.command(scenario)(command)

    focal_command("pairwise", "Effective resistance and current between every pair of focal points.")
    focal_command("one-to-all", "Inject at each focal point in turn with all others grounded.")
    focal_command("all-to-one", "Ground each focal point in turn with current injected at all others.")

    @app.command("advanced")
    @user_errors
    def advanced(
        resistance: Path = RES_OPT,
        sources: Path = typer.Argument(..., help="Source raster: current (A) injected per cell."),
        grounds: Path = typer.Argument(..., help="Ground raster: resistance to ground per cell (0 = direct)."),
        out: Path = OUT_OPT,
        conductance: bool = typer.Option(False, help="The raster holds conductances, not resistances."),
        grounds_are_conductances: bool = typer.Option(False, help="Ground raster values are conductances."),
        direct_grounds: bool = typer.Option(False, help="Every ground cell is tied directly to 0 V."),
        four: bool = typer.Option(False, "--four-neighbors", help="Connect 4 neighbours instead of 8."),
        avg_resistances: bool = typer.Option(False, help="Average resistances (not conductances) on edges."),
        remove: str = typer.Option("keepall", help="Source/ground conflicts: keepall, rmvsrc, rmvgnd, rmvall."),
        solver: str = typer.Option("auto", help="auto, direct, mg or amg."),
        precision: str = typer.Option("double", help=PRECISION_HELP),
    ):
        """Sources and grounds given as rasters, solved in one pass (Circuitscape's advanced mode)."""
        from gpucircuit.pipeline import run_config

        cfg = _config(resistance, out, "advanced", conductance, four, avg_resistances, None, None, solver, True, True,
                      precision)
        cfg.source_file, cfg.ground_file = sources, grounds
        cfg.ground_file_is_resistances = not grounds_are_conductances
        cfg.use_direct_grounds, cfg.remove_src_or_gnd = direct_grounds, remove
        cfg.write_cum_cur_map_only = False
        report = run_config(cfg, method=None if solver == "auto" else solver)
        _finish(cfg, report)
