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
        from gpucircuit.analysis.pinchpoints import pinchpoint_analysis
        from gpucircuit.linkage.chain import cellsize_of, links_and_cwds, load_inputs, pinchpoint_options
        from gpucircuit.linkage.files import (number_tag, pinchpoint_summary, write_linkage_outputs,
                                              write_pinchpoint_outputs)

        t0 = time.perf_counter()
        opts = pinchpoint_options(cutoff, adjacent, all_pairs, all_to_one, squared, solver)
        r, spec, core_set = load_inputs(resistance, cores, core_field)
        out.mkdir(parents=True, exist_ok=True)
        outputs = []
        with analysis_progress() as report:
            links, cwds, fresh = links_and_cwds(out, r, spec, core_set, method, report)
            if fresh:  # no link table yet: leave the corridors' outputs too
                outputs += write_linkage_outputs(out, fresh, spec, write_cwd=False)
            result = pinchpoint_analysis(r, core_set.labels, cwds, links, cellsize_of(spec), opts, progress=report)
        outputs += write_pinchpoint_outputs(out, result, spec, links, core_set.labels)
        say(f"pinchpoints: CWD cutoff {number_tag(cutoff)}, {pinchpoint_summary(result)}; "
            f"wrote {len(set(outputs))} files to {out} in {time.perf_counter() - t0:.2f} s")
