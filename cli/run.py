"""``gpucircuit run CONFIG.ini``: run a Circuitscape INI unchanged."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import options as opt
from .common import cli_command, job_progress, say


def report_stats(report, stats_file: Optional[Path], print_timings: bool, extra_write_s: float = 0.0) -> None:
    """--stats FILE.json and the INI's print_timings (a short table on stdout, as Circuitscape prints)."""
    if stats_file is None and not print_timings:
        return
    from .stats import job_stats, timings_table, write_stats

    stats = job_stats(report, extra_write_s)
    if stats_file is not None:
        write_stats(stats_file, stats)
    if print_timings:
        typer.echo(timings_table(stats))


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

        from .stats import check_stats_path

        check_stats_path(stats)
        cfg = load_config(config)
        with cluster(workers, scheduler, gpus) as client, job_progress():
            report = run_config(cfg, method=solver, client=client)
        report_stats(report, stats, cfg.print_timings)
        say(f"{cfg.scenario}: wrote {len(report.outputs)} files with prefix {cfg.output_prefix} "
            f"in {report.seconds:.2f} s")
