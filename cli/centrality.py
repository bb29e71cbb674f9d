"""``gpucircuit centrality``: Centrality Mapper (current-flow centrality of cores and links)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from . import options as opt
from .common import analysis_progress, cli_command, say

def register(app: typer.Typer) -> None:
    @app.command("centrality")
    @cli_command
    def centrality_cmd(
        resistance: Optional[Path] = typer.Argument(None, help="Resistance raster (needed without a link table)."),
        cores: Optional[Path] = typer.Argument(None, help="Core areas (needed without a link table)."),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder; its link_table.csv is used if present."),
        core_field: str = opt.CORE_FIELD,
        weight: str = opt.WEIGHT,
        method: str = typer.Option("auto", "--cwd-method", help="CWD engine when corridors must be computed."),
    ):
        """Centrality Mapper: cores as nodes, active links as resistors; cumulative pairwise current."""
        from gpucircuit.linkage.chain import check_weight
        from gpucircuit.linkage.tools import centrality_tool

        t0 = time.perf_counter()
        w = check_weight(weight)
        with analysis_progress() as report:
            res, links, outputs = centrality_tool(resistance, cores, core_field, out, w, method, report)
        top = max(res.core_centrality, key=res.core_centrality.get)
        say(f"centrality: {len(res.core_ids)} cores, {sum(lk.active for lk in links)} active links "
            f"(weight {w}); most central core {top}; wrote {len(set(outputs))} files to {out} "
            f"in {time.perf_counter() - t0:.2f} s")
