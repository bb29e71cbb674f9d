"""``gpucircuit omniscape CONFIG.ini``: run an Omniscape.jl INI unchanged (moving-window connectivity)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import options as opt
from .common import cli_command, job_progress, say


def memory_bytes(text: str) -> int:
    """``8GB``, ``512MiB``, ``2e9``... as bytes (dask's reading of sizes)."""
    from dask.utils import parse_bytes

    from gpucircuit.errors import InputError

    try:
        value = parse_bytes(text)
    except (ValueError, TypeError):
        value = 0
    if value <= 0:
        raise InputError(f"--memory must be a size such as 8GB or 512MiB, not {text!r}")
    return int(value)


def register(app: typer.Typer) -> None:
    @app.command("omniscape")
    @cli_command
    def omniscape(
        config: Path = typer.Argument(..., help="Omniscape .ini file (as Omniscape.jl reads it)."),
        solver: str = typer.Option("direct", "--solver", show_default=True,
                                   help="direct (stacked windows, sparse LU: fastest measured on a CPU) or mg "
                                        "(grid multigrid + CG)."),
        tiles: Optional[str] = typer.Option(None, "--tiles", help="Process in ROWSxCOLS tiles with a halo of "
                                                                  "radius + buffer (e.g. 4x4)."),
        checkpoint: Optional[Path] = typer.Option(None, "--checkpoint",
                                                  help="Keep finished tiles in this folder; rerun the same command "
                                                       "after a stop to solve only the missing tiles "
                                                       "(implies --tiles 2x2)."),
        memory: Optional[str] = typer.Option(None, "--memory", help="Host memory the run may use, e.g. 8GB "
                                                                  "(default: what is free); layers that do not "
                                                                  "fit are read tile by tile."),
        workers: int = opt.WORKERS,
        gpus: int = typer.Option(0, "--gpus", show_default=True,
                                 help="Spread the tiles over this many GPUs (dask-cuda, one worker per GPU)."),
        scheduler: Optional[str] = opt.SCHEDULER,
    ):
        """Omniscape: a circuit around every target block, currents added into one map.

        Writes PROJECT/cum_currmap, flow_potential, normalized_cum_currmap, classified_resistance
        (as the INI asks) and a copy of the INI; an existing PROJECT folder is kept and the
        outputs go to PROJECT_1, PROJECT_2...
        """
        from gpucircuit.distribute import check_gpus, cluster
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
        budget = memory_bytes(memory) if memory else None
        if gpus:
            check_gpus(gpus)
        cfg = load_omniscape_config(config)
        with cluster(gpus or workers, scheduler, bool(gpus)) as client, job_progress():
            report = run_omniscape_config(cfg, method=solver, tiles=grid, client=client, checkpoint=checkpoint,
                                          memory=budget, tell=say)
        say(f"omniscape: {report.windows} windows; wrote {len(report.outputs)} files to {report.project} "
            f"in {report.seconds:.2f} s")
