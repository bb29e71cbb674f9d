"""``gpucircuit network CONFIG.toml -o OUT``: the whole study in one command (resistance → report)."""
from __future__ import annotations

import time
from pathlib import Path

import typer

from .common import cli_command, job_progress, say


def register(app: typer.Typer) -> None:
    @app.command("network")
    @cli_command
    def network(
        config: Path = typer.Argument(..., help="TOML file with one table per step: resistance, mspa, sources, "
                                                 "linkage, report (keys: gpucircuit/linkage/study_config.py)."),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder (created): one sub-folder per step."),
    ):
        """Ecological network study: resistance → MSPA → sources → corridors, pinch points, barriers,
        centrality → report; every intermediate kept, run.json and summary.md of what ran."""
        from gpucircuit.linkage.study import run_study

        t0 = time.perf_counter()
        with job_progress() as shown:
            done = run_study(config, out, shown)
        s = done["summary"]
        say(f"network: {s['sources']['count']} sources ({s['sources']['area_km2']:.2f} km²), "
            f"{s['corridors']['count']} corridors ({s['corridors']['length_km']:.1f} km), "
            f"{s['pinchpoints']['count']} pinch-point and {s['barriers']['count']} barrier patches")
        say(f"network: wrote {out} (run.json, summary.md, report/summary.md) in {time.perf_counter() - t0:.2f} s")
