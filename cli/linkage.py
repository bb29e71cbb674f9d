"""``gpucircuit linkage``: the whole Linkage Mapper chain in one run.

corridors (Linkage Pathways) -> pinch points (Pinchpoint Mapper) -> barriers (Barrier Mapper,
when a radius range is given) -> centrality (Centrality Mapper). The cost-weighted distances are
computed once and shared; each step calls the same library functions and writes the same
files as its own command.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from . import options as opt
from .common import user_errors
from .barriers import write_barrier_outputs
from .corridors import cellsize_of, load_inputs, run_linkage, stage_progress, write_linkage_outputs


def register(app: typer.Typer) -> None:
    @app.command("linkage")
    @user_errors
    def linkage(
        resistance: Path = opt.RESISTANCE,
        cores: Path = opt.CORES,
        out: Path = opt.OUT,
        core_field: str = opt.CORE_FIELD,
        # corridors
        adjacency: str = opt.ADJACENCY,
        max_cwd: Optional[float] = opt.MAX_CWD,
        max_euclid: Optional[float] = opt.MAX_EUCLID,
        knn: Optional[int] = opt.KNN,
        connect_constellations: bool = opt.CONNECT,
        drop_crossing: bool = opt.DROP_CROSSING,
        cwd_threshold: Optional[float] = opt.CWD_THRESHOLD,
        write_cwd: bool = opt.WRITE_CWD,
        method: str = opt.CWD_METHOD,
        # pinch points
        cutoff: float = typer.Option(..., "--cutoff", help="Pinch points: CWD cutoff of the corridors."),
        adjacent: bool = typer.Option(True, "--adjacent/--no-adjacent", help="Pinch points: per-link pairwise runs."),
        all_to_one: Optional[bool] = typer.Option(None, "--all-to-one/--no-all-pairs",
                                                  help="Pinch points: all-pairs run in all-to-one mode (default), or none."),
        pairwise_all: bool = typer.Option(False, "--pairwise-all", help="Pinch points: all-pairs run in pairwise mode."),
        squared: bool = typer.Option(False, "--squared", help="Pinch points: square resistances."),
        solver: str = opt.SOLVER,
        # barriers
        radius_start: Optional[float] = typer.Option(None, "--radius-start",
                                                     help="Barriers: smallest search radius (no radii: no barriers)."),
        radius_end: Optional[float] = typer.Option(None, "--radius-end", help="Barriers: largest search radius."),
        radius_step: Optional[float] = typer.Option(None, "--radius-step", help="Barriers: radius increment."),
        want_sum: bool = typer.Option(False, "--sum", help="Barriers: also the sum of positive scores over links."),
        percent: bool = typer.Option(False, "--percent", help="Barriers: scores as percent of each link's CWD."),
        # centrality
        weight: str = typer.Option("cwd", "--weight", help="Centrality: link resistance, cwd or eff-resist."),
    ):
        """Linkage Mapper chain: corridors, pinch points, barriers (with radii) and centrality."""
        import numpy as np

        from gpucircuit.analysis.barriers import barrier_analysis, radii_list
        from gpucircuit.analysis.centrality import centrality
        from gpucircuit.analysis.corridors import LinkageOptions
        from gpucircuit.analysis.pinchpoints import PinchpointOptions, check_cutoff, pinchpoint_analysis, solve_options
        from gpucircuit.errors import InputError

        from .centrality import check_weight, write_centrality_outputs
        from .pinchpoints import all_pairs_choice, check_solver, cutoff_tag, summary, write_pinchpoint_outputs

        t0 = time.perf_counter()
        # check every option before the long computations start
        adjacency = adjacency.lower()
        if adjacency not in ("cwd", "euclidean", "both"):
            raise InputError(f"--adjacency must be cwd, euclidean or both, not {adjacency!r}")
        for name, v in (("--max-cwd", max_cwd), ("--max-euclid", max_euclid), ("--cwd-threshold", cwd_threshold)):
            if v is not None and not v > 0:
                raise InputError(f"{name} must be positive, got {v}")
        link_opts = LinkageOptions(
            cwd_adjacency=adjacency in ("cwd", "both"), euclidean_adjacency=adjacency in ("euclidean", "both"),
            max_cwd=max_cwd, max_euclidean=max_euclid, drop_crossing=drop_crossing, knn=knn,
            connect_constellations=connect_constellations, cwd_threshold=cwd_threshold, method=method,
        )
        pp_opts = PinchpointOptions(cutoff=check_cutoff(cutoff), adjacent=adjacent,
                                    all_pairs=all_pairs_choice(all_to_one, pairwise_all), squared=squared,
                                    solve=solve_options(check_solver(solver)))
        if not (pp_opts.adjacent or pp_opts.all_pairs):
            raise InputError("nothing for pinch points: --no-adjacent together with --no-all-pairs")
        w = check_weight(weight)
        if w == "eff_resist" and not adjacent:
            raise InputError("--weight eff-resist needs the adjacent-pairs pinch points (drop --no-adjacent)")
        given = [x is not None for x in (radius_start, radius_end, radius_step)]
        if any(given) and not all(given):
            raise InputError("barriers need all of --radius-start, --radius-end and --radius-step (or none)")
        radii = radii_list(radius_start, radius_end, radius_step) if all(given) else []

        r, spec, core_set = load_inputs(resistance, cores, core_field)
        out.mkdir(parents=True, exist_ok=True)
        cellsize = cellsize_of(spec)
        timings, outputs = {}, []
        with stage_progress() as report:
            t = time.perf_counter()
            result = run_linkage(r, spec, core_set, link_opts, report)
            outputs += write_linkage_outputs(out, result, spec, write_cwd)
            timings["corridors"] = time.perf_counter() - t
            if not result.active_links:
                raise InputError("no active links after Linkage Pathways: nothing for the other tools to map "
                                 f"(corridor outputs are in {out})")

            t = time.perf_counter()
            pp = pinchpoint_analysis(r, core_set.labels, result.cwd, result.links, cellsize, pp_opts, progress=report)
            outputs += write_pinchpoint_outputs(out, pp, spec, result.links, core_set.labels)
            timings["pinchpoints"] = time.perf_counter() - t

            if radii:
                t = time.perf_counter()
                bar = barrier_analysis(result.cwd, result.links, radii, cellsize, valid=np.isfinite(r),
                                       percent=percent, want_sum=want_sum, progress=report)
                outputs += write_barrier_outputs(out, bar, spec, want_sum)
                timings["barriers"] = time.perf_counter() - t

            t = time.perf_counter()
            cen = centrality(result.links, core_set.ids, w, pp.eff_resist if w == "eff_resist" else None)
            outputs += write_centrality_outputs(out, cen, result.links, spec, core_set.labels)
            timings["centrality"] = time.perf_counter() - t

        steps = ", ".join(f"{k} {v:.2f} s" for k, v in timings.items())
        typer.echo(f"linkage: {len(core_set.ids)} cores, {len(result.active_links)} active links; "
                   f"pinch points (cutoff {cutoff_tag(cutoff)}): {summary(pp)}; "
                   f"barriers: {'radii ' + ', '.join(f'{x:g}' for x in radii) if radii else 'skipped (no radii)'}")
        typer.echo(f"linkage: wrote {len(set(outputs))} files to {out} in {time.perf_counter() - t0:.2f} s ({steps})")
