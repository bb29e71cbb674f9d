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
        method: str = opt.CWD_METHOD,
    ):
        """Barrier Mapper: improvement score of restoring a disc of radius r, max over links and radii."""
        import numpy as np

        from gpucircuit.analysis.barriers import barrier_analysis, radii_list
        from gpucircuit.linkage.chain import cellsize_of, check_radii, links_and_cwds, load_inputs
        from gpucircuit.linkage.files import number_tag, write_barrier_outputs, write_linkage_outputs

        t0 = time.perf_counter()
        radii = radii_list(radius_start, radius_end, radius_step)
        r, spec, core_set = load_inputs(resistance, cores, core_field)
        check_radii(radii, cellsize_of(spec))
        out.mkdir(parents=True, exist_ok=True)
        outputs = []
        with analysis_progress() as report:
            links, cwds, fresh = links_and_cwds(out, r, spec, core_set, method, report)
            if fresh:  # no link table yet: leave the corridors' outputs too
                outputs += write_linkage_outputs(out, fresh, spec, write_cwd=False)
            res = barrier_analysis(cwds, links, radii, cellsize_of(spec), valid=np.isfinite(r), percent=percent,
                                   want_sum=want_sum, progress=report)
        outputs += write_barrier_outputs(out, res, spec, want_sum)
        n_active = sum(lk.active for lk in links)
        say(f"barriers: {n_active} active links, radii {', '.join(number_tag(x) for x in radii)}; "
            f"wrote {len(outputs)} files to {out} in {time.perf_counter() - t0:.2f} s")
