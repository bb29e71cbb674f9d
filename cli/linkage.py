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
from .common import analysis_progress, cli_command, say
from .barriers import write_barrier_outputs
from .corridors import cellsize_of, linkage_options, load_inputs, run_linkage, write_linkage_outputs


def register(app: typer.Typer) -> None:
    @app.command("linkage")
    @cli_command
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
        cutoff: float = opt.CUTOFF,
        adjacent: bool = opt.ADJACENT,
        all_pairs: bool = opt.ALL_PAIRS,
        all_to_one: bool = opt.ALL_TO_ONE,
        squared: bool = opt.SQUARED,
        solver: str = opt.SOLVER,
        # barriers
        radius_start: Optional[float] = typer.Option(None, "--radius-start",
                                                     help="Barriers: smallest search radius (no radii: no barriers)."),
        radius_end: Optional[float] = typer.Option(None, "--radius-end", help="Barriers: largest search radius."),
        radius_step: Optional[float] = typer.Option(None, "--radius-step", help="Barriers: radius increment."),
        want_sum: bool = opt.WANT_SUM,
        percent: bool = opt.PERCENT,
        # centrality
        weight: str = opt.WEIGHT,
    ):
        """Linkage Mapper chain: corridors, pinch points, barriers (with radii) and centrality."""
        import numpy as np

        from gpucircuit.analysis.barriers import barrier_analysis, radii_list
        from gpucircuit.analysis.centrality import centrality
        from gpucircuit.analysis.pinchpoints import pinchpoint_analysis
        from gpucircuit.errors import InputError

        from .centrality import check_weight, write_centrality_outputs
        from .pinchpoints import cutoff_tag, pinchpoint_options, summary, write_pinchpoint_outputs

        t0 = time.perf_counter()
        # check every option before the long computations start
        link_opts = linkage_options(adjacency, max_cwd, max_euclid, knn, connect_constellations, drop_crossing,
                                    cwd_threshold, method)
        pp_opts = pinchpoint_options(cutoff, adjacent, all_pairs, all_to_one, squared, solver)
        w = check_weight(weight)
        if w == "eff_resist" and not adjacent:
            raise InputError("--weight eff-resist needs the adjacent-pairs pinch points (drop --no-adjacent)")
        given = [x is not None for x in (radius_start, radius_end, radius_step)]
        if any(given) and not all(given):
            raise InputError("barriers need all of --radius-start, --radius-end and --radius-step (or none)")
        radii = radii_list(radius_start, radius_end, radius_step) if all(given) else []

        timings, outputs = {}, []
        with analysis_progress() as report:
            report("load", 0, None)
            r, spec, core_set = load_inputs(resistance, cores, core_field)
            out.mkdir(parents=True, exist_ok=True)
            cellsize = cellsize_of(spec)
            t = time.perf_counter()
            result = run_linkage(r, spec, core_set, link_opts, report)
            report("write: corridors", 0, None)
            outputs += write_linkage_outputs(out, result, spec, write_cwd)
            timings["corridors"] = time.perf_counter() - t
            if not result.active_links:
                raise InputError("no active links after Linkage Pathways: nothing for the other tools to map "
                                 f"(corridor outputs are in {out})")

            t = time.perf_counter()
            pp = pinchpoint_analysis(r, core_set.labels, result.cwd, result.links, cellsize, pp_opts, progress=report)
            report("write: pinch points", 0, None)
            outputs += write_pinchpoint_outputs(out, pp, spec, result.links, core_set.labels)
            timings["pinchpoints"] = time.perf_counter() - t

            if radii:
                t = time.perf_counter()
                bar = barrier_analysis(result.cwd, result.links, radii, cellsize, valid=np.isfinite(r),
                                       percent=percent, want_sum=want_sum, progress=report)
                report("write: barriers", 0, None)
                outputs += write_barrier_outputs(out, bar, spec, want_sum)
                timings["barriers"] = time.perf_counter() - t

            t = time.perf_counter()
            report("centrality", 0, None)
            cen = centrality(result.links, core_set.ids, w, pp.eff_resist if w == "eff_resist" else None)
            outputs += write_centrality_outputs(out, cen, result.links, spec, core_set.labels)
            timings["centrality"] = time.perf_counter() - t

        steps = ", ".join(f"{k} {v:.2f} s" for k, v in timings.items())
        say(f"linkage: {len(core_set.ids)} cores, {len(result.active_links)} active links; "
            f"pinch points (cutoff {cutoff_tag(cutoff)}): {summary(pp)}; "
            f"barriers: {'radii ' + ', '.join(f'{x:g}' for x in radii) if radii else 'skipped (no radii)'}")
        say(f"linkage: wrote {len(set(outputs))} files to {out} in {time.perf_counter() - t0:.2f} s ({steps})")
