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
        from gpucircuit.linkage.chain import linkage_options, load_inputs, run_linkage
        from gpucircuit.linkage.files import write_linkage_outputs

        options = linkage_options(adjacency, max_cwd, max_euclid, knn, connect_constellations, drop_crossing,
                                  cwd_threshold, method)
        t0 = time.perf_counter()
        r, spec, core_set = load_inputs(resistance, cores, core_field)
        with analysis_progress() as report:
            result = run_linkage(r, spec, core_set, options, report)
        out.mkdir(parents=True, exist_ok=True)
        outputs = write_linkage_outputs(out, result, spec, write_cwd)
        n_active = len(result.active_links)
        say(f"corridors: {len(core_set.ids)} cores, {len(result.links)} candidate links, {n_active} active; "
            f"wrote {len(outputs)} files to {out} in {time.perf_counter() - t0:.2f} s")
