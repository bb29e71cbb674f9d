"""``gpucircuit run CONFIG.ini``: run a Circuitscape INI unchanged."""
from __future__ import annotations

from pathlib import Path

import typer

from .common import GPUS_HELP, SCHEDULER_HELP, WORKERS_HELP, exit_if_solves_failed, progress_counter, user_errors


def register(app: typer.Typer) -> None:
    @app.command("run")
    @user_errors
    def run(
        config: Path = typer.Argument(..., help="Circuitscape .ini file."),
        solver: str = typer.Option(None, help="auto, direct, mg (grid multigrid) or amg (pyamg); default from the INI."),
        workers: int = typer.Option(0, help=WORKERS_HELP),
        scheduler: str = typer.Option(None, help=SCHEDULER_HELP),
        gpus: bool = typer.Option(False, help=GPUS_HELP),
    ):
        """Run a Circuitscape job (raster or network, any scenario) from its INI file."""
        from gpucircuit.distribute import cluster
        from gpucircuit.io.config import load_config
        from gpucircuit.pipeline import run_config

        cfg = load_config(config)
        with cluster(workers, scheduler, gpus) as client, progress_counter(f"{cfg.scenario}") as advance:
            report = run_config(cfg, method=solver, progress=advance, client=client)
        typer.echo(f"{cfg.scenario}: wrote {len(report.outputs)} files with prefix {cfg.output_prefix} "
                   f"in {report.seconds:.2f} s")
        exit_if_solves_failed(report)
