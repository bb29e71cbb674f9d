"""``gpucircuit barriers``: Barrier Mapper (restoration improvement scores over a radius sweep)."""
from __future__ import annotations

import time
from pathlib import Path

import typer

from . import options as opt
from .common import analysis_progress, cli_command, say


def register(app: typer.Typer) -> None:
    @app.command("barriers")
    @cli_command
    def barriers(
        resistance: Path = opt.RESISTANCE,
        cores: Path = opt.CORES,
        out: Path = opt.OUT,
        radius_start: float = typer.Option(..., "--radius-start", help="Smallest search radius (map units)."),
        radius_end: float = typer.Option(..., "--radius-end", help="Largest search radius (map units)."),
        radius_step: float = typer.Option(..., "--radius-step", help="Radius increment (map units)."),
        core_field: str = opt.CORE_FIELD,
        want_sum: bool = opt.WANT_SUM,
        percent: bool = opt.PERCENT,
        raw_scores: bool = opt.RAW_SCORES,
        method: str = opt.CWD_METHOD,
    ):
        """Barrier Mapper: improvement score of restoring a disc of radius r, max over links and radii."""
        from gpucircuit.analysis.barriers import radii_list
        from gpucircuit.linkage.files import number_tag
        from gpucircuit.linkage.tools import barrier_tool

        t0 = time.perf_counter()
        radii = radii_list(radius_start, radius_end, radius_step)
        with analysis_progress() as report:
            _, links, outputs = barrier_tool(resistance, cores, core_field, out, radii, method, percent, want_sum,
                                             report, raw_scores)
        n_active = sum(lk.active for lk in links)
        say(f"barriers: {n_active} active links, radii {', '.join(number_tag(x) for x in radii)}; "
            f"wrote {len(outputs)} files to {out} in {time.perf_counter() - t0:.2f} s")
