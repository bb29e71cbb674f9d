"""``gpucircuit run CONFIG.ini``: run a Circuitscape INI unchanged."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import options as opt
from .common import cli_command, exit_if_solves_failed, job_progress, say
from .stats import check_stats_path, report_stats


def register(app: typer.Typer) -> None:
    @app.command("run")
    @cli_command
    def run(
        config: Path = typer.Argument(..., help="Circuitscape .ini file."),
        solver: Optional[str] = typer.Option(None, "--solver",
                                             help="auto, direct, mg (grid multigrid) or amg (pyamg) "
                                                  "(default: from the INI)."),
        stats: Optional[Path] = opt.STATS,
        workers: int = opt.WORKERS,
        scheduler: Optional[str] = opt.SCHEDULER,
        gpus: bool = opt.GPUS,
    ):
        """Run a Circuitscape job (raster or network, any scenario) from its INI file."""
        from gpucircuit.distribute import cluster
        from gpucircuit.io.config import load_config
        from gpucircuit.pipeline import run_config

        check_stats_path(stats)
        cfg = load_config(config)
        with cluster(workers, scheduler, gpus) as client, job_progress():
            report = run_config(cfg, method=solver, client=client)
        report_stats(report, stats, cfg.print_timings)
        say(f"{cfg.scenario}: wrote {len(report.outputs)} files with prefix {cfg.output_prefix} "
            f"in {report.seconds:.2f} s")
        exit_if_solves_failed(report)
