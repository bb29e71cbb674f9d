"""``gpucircuit omniscape CONFIG.ini``: run an Omniscape.jl INI unchanged (moving-window connectivity)."""
from __future__ import annotations

import sys
from pathlib import Path

import typer

from .common import SCHEDULER_HELP, WORKERS_HELP, user_errors


def _window_progress():
    """A rich bar on stderr counting windows done of total, with an ETA (quiet off a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    prog = Progress(TextColumn("windows"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), transient=True, disable=not sys.stderr.isatty())
    task = None

    def update(done: int, total: int):
        nonlocal task
        if task is None:
            task = prog.add_task("windows", total=total)
        prog.update(task, completed=done)

    return prog, update


def register(app: typer.Typer) -> None:
    @app.command("omniscape")
    @user_errors
    def omniscape(
        config: Path = typer.Argument(..., help="Omniscape .ini file (as Omniscape.jl reads it)."),
        solver: str = typer.Option("direct", help="direct (stacked windows, sparse LU: fastest measured on a CPU) or mg (grid multigrid + CG)."),
        tiles: str = typer.Option(None, help="Process in ROWSxCOLS tiles with a halo of radius + buffer (e.g. 4x4)."),
        checkpoint: Path = typer.Option(None, help="Keep finished tiles in this folder; rerun the same command "
                                         "after a stop to solve only the missing tiles (implies --tiles 2x2)."),
        workers: int = typer.Option(0, help=WORKERS_HELP),
        scheduler: str = typer.Option(None, help=SCHEDULER_HELP),
    ):
        """Omniscape: a circuit around every target block, currents added into one map.

        Writes PROJECT/cum_currmap, flow_potential, normalized_cum_currmap, classified_resistance
        (as the INI asks) and a copy of the INI; an existing PROJECT folder is kept and the
        outputs go to PROJECT_1, PROJECT_2...
        """
        from gpucircuit.distribute import cluster
        from gpucircuit.errors import InputError
        from gpucircuit.io.omniscape_config import load_omniscape_config
        from gpucircuit.omniscape_job import run_omniscape_config

        if solver not in ("direct", "mg"):
            raise InputError(f"--solver must be direct or mg, not {solver!r}")
        grid = None
        if tiles:
            try:
                grid = tuple(int(v) for v in tiles.lower().split("x"))
                if len(grid) != 2 or min(grid) < 1:
                    raise ValueError
            except ValueError:
                raise InputError(f"--tiles must look like 4x4 (rows x columns of tiles), not {tiles!r}") from None
        cfg = load_omniscape_config(config)
        prog, update = _window_progress()
        with cluster(workers, scheduler, False) as client, prog:
            if client is not None and grid is None:
                grid = (2, 2)
            report = run_omniscape_config(cfg, method=solver, tiles=grid, client=client, checkpoint=checkpoint,
                                          progress=update)
        typer.echo(f"omniscape: {report.windows} windows; wrote {len(report.outputs)} files to {report.project} "
                   f"in {report.seconds:.2f} s")
