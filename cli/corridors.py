"""``gpucircuit corridors``: Linkage Pathways (cost-weighted distance, links, normalised corridors)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from . import options as opt
from .common import analysis_progress, cli_command, say

def register(app: typer.Typer) -> None:
    @app.command("corridors")
    @cli_command
    def corridors(
        resistance: Path = opt.RESISTANCE,
        cores: Path = opt.CORES,
        out: Path = opt.OUT,
        core_field: str = opt.CORE_FIELD,
        adjacency: str = opt.ADJACENCY,
        max_cwd: Optional[float] = opt.MAX_CWD,
        max_euclid: Optional[float] = opt.MAX_EUCLID,
        knn: Optional[int] = opt.KNN,
        connect_constellations: bool = opt.CONNECT,
        drop_crossing: bool = opt.DROP_CROSSING,
        cwd_threshold: Optional[float] = opt.CWD_THRESHOLD,
        write_cwd: bool = opt.WRITE_CWD,
        method: str = opt.CWD_METHOD,
    ):
        """Linkage Pathways: least-cost corridors between adjacent cores, link table and least-cost paths."""
        from gpucircuit.linkage.chain import linkage_options
        from gpucircuit.linkage.tools import corridor_tool

        options = linkage_options(adjacency, max_cwd, max_euclid, knn, connect_constellations, drop_crossing,
                                  cwd_threshold, method)
        t0 = time.perf_counter()
        with analysis_progress() as report:
            result, core_ids, outputs = corridor_tool(resistance, cores, core_field, out, options, write_cwd, report)
        n_active = len(result.active_links)
        say(f"corridors: {len(core_ids)} cores, {len(result.links)} candidate links, {n_active} active; "
            f"wrote {len(outputs)} files to {out} in {time.perf_counter() - t0:.2f} s")
