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
        raw_scores: bool = opt.RAW_SCORES,
        # centrality
        weight: str = opt.WEIGHT,
    ):
        """Linkage Mapper chain: corridors, pinch points, barriers (with radii) and centrality."""
        from gpucircuit.linkage.chain import chain_options, linkage_options, load_inputs, pinchpoint_options, run_chain
        from gpucircuit.linkage.files import number_tag, pinchpoint_summary

        t0 = time.perf_counter()
        # check every option before the long computations start
        options = chain_options(
            linkage_options(adjacency, max_cwd, max_euclid, knn, connect_constellations, drop_crossing,
                            cwd_threshold, method),
            pinchpoint_options(cutoff, adjacent, all_pairs, all_to_one, squared, solver),
            radius_start, radius_end, radius_step, weight, write_cwd, percent, want_sum, raw_scores)
        with analysis_progress() as report:
            report("load", 0, None)
            r, spec, core_set = load_inputs(resistance, cores, core_field)
            res = run_chain(r, spec, core_set, options, out, report)

        radii = options.radii
        steps = ", ".join(f"{k} {v:.2f} s" for k, v in res.timings.items())
        say(f"linkage: {len(core_set.ids)} cores, {len(res.linkage.active_links)} active links; "
            f"pinch points (cutoff {number_tag(cutoff)}): {pinchpoint_summary(res.pinchpoints)}; "
            f"barriers: {'radii ' + ', '.join(f'{x:g}' for x in radii) if radii else 'skipped (no radii)'}")
        say(f"linkage: wrote {len(set(res.outputs))} files to {out} in {time.perf_counter() - t0:.2f} s ({steps})")
