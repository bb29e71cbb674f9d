"""``gpucircuit pinchpoints``: Pinchpoint Mapper (Circuitscape current through least-cost corridors)."""
from __future__ import annotations

import time
from pathlib import Path

import typer

from . import options as opt
from .common import analysis_progress, cli_command, say


def register(app: typer.Typer) -> None:
    @app.command("pinchpoints")
    @cli_command
    def pinchpoints(
        resistance: Path = opt.RESISTANCE,
        cores: Path = opt.CORES,
        out: Path = opt.OUT,
        cutoff: float = opt.CUTOFF,
        core_field: str = opt.CORE_FIELD,
        adjacent: bool = opt.ADJACENT,
        all_pairs: bool = opt.ALL_PAIRS,
        all_to_one: bool = opt.ALL_TO_ONE,
        squared: bool = opt.SQUARED,
        solver: str = opt.SOLVER,
        method: str = opt.CWD_METHOD,
    ):
        """Pinchpoint Mapper: Circuitscape current through least-cost corridors (cores as focal regions)."""
        from gpucircuit.linkage.chain import pinchpoint_options
        from gpucircuit.linkage.files import number_tag, pinchpoint_summary
        from gpucircuit.linkage.tools import pinchpoint_tool

        t0 = time.perf_counter()
        opts = pinchpoint_options(cutoff, adjacent, all_pairs, all_to_one, squared, solver)
        with analysis_progress() as report:
            result, _, outputs = pinchpoint_tool(resistance, cores, core_field, out, opts, method, report)
        say(f"pinchpoints: CWD cutoff {number_tag(cutoff)}, {pinchpoint_summary(result)}; "
            f"wrote {len(set(outputs))} files to {out} in {time.perf_counter() - t0:.2f} s")
