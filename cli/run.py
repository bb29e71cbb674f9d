"""``gpucircuit run CONFIG.ini``: run a Circuitscape INI unchanged."""
from __future__ import annotations

from pathlib import Path

import typer

from .common import progress_counter, user_errors


def register(app: typer.Typer) -> None:
    @app.command("run")
    @user_errors
    def run(
        config: Path = typer.Argument(..., help="Circuitscape .ini file."),
        solver: str = typer.Option(None, help="auto, direct, mg (grid multigrid) or amg (pyamg); default from the INI."),
    ):
        """Run a Circuitscape job (raster or network, any scenario) from its INI file."""
        from gpucircuit.io.config import load_config
        from gpucircuit.pipeline import run_config

        cfg = load_config(config)
        with progress_counter(f"{cfg.scenario}") as advance:
            report = run_config(cfg, method=solver, progress=advance)
        typer.echo(f"{cfg.scenario}: wrote {len(report.outputs)} files with prefix {cfg.output_prefix} "
                   f"in {report.seconds:.2f} s")
