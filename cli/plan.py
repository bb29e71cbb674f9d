"""``gpucircuit plan``: host and GPU memory of a raster circuit job from its size alone."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import cli_command


def register(app: typer.Typer) -> None:
    @app.command("plan")
    @cli_command
    def plan_cmd(
        raster: Optional[Path] = typer.Argument(None, help="Habitat raster or Circuitscape INI (header read only)."),
        cells: Optional[int] = typer.Option(None, "--cells", help="Plan for this many cells instead of a file."),
        host_memory: Optional[str] = typer.Option(None, "--host-memory", help="Host memory to check, e.g. 64G."),
        device_memory: Optional[str] = typer.Option(None, "--device-memory", help="GPU memory to check, e.g. 24G."),
        four: bool = typer.Option(False, "--four/--eight", help="4 or 8 neighbours (an INI says which)."),
    ):
        """Memory a raster job needs on the CPU and on a GPU, in double and single precision, before any reading."""
        from gpucircuit.errors import InputError
        from gpucircuit.io.raster import raster_shape
        from gpucircuit.plan import parse_bytes, plan_rows

        if (raster is None) == (cells is None):
            raise InputError("give a raster (or INI) or --cells, not both and not neither")
        if raster is None:
            what = f"{cells:,} cells"
        else:
            path = raster
            if raster.suffix.lower() == ".ini":
                from gpucircuit.io.config import load_config

                cfg = load_config(raster)
                path, four = Path(cfg.habitat_file), cfg.connect_four_neighbors_only
            shape = raster_shape(path)
            if shape is None:
                raise InputError(f"cannot read the header of {path}")
            cells = shape[0] * shape[1]
            what = f"{path}: {shape[0]:,} x {shape[1]:,} = {cells:,} cells"
        host = None if host_memory is None else parse_bytes(host_memory, "--host-memory")
        device = None if device_memory is None else parse_bytes(device_memory, "--device-memory")
        typer.echo(f"{what}, {4 if four else 8} neighbours, one right-hand side at a time")
        typer.echo(f"{'solver on':<10}{'precision':<11}{'host GiB':>10}{'GPU GiB':>10}  {'fits':<6}{'largest that fits':>20}")
        for row in plan_rows(cells, not four, host, device):
            gpu = "-" if row.device_bytes is None else f"{row.device_bytes / 2**30:.1f}"
            fits = {None: "?", True: "yes", False: "no"}[row.fits]
            largest = "-" if row.largest_cells is None else f"{row.largest_cells / 1e6:,.0f} M cells"
            typer.echo(f"{row.where:<10}{row.precision:<11}{row.host_bytes / 2**30:>10.1f}{gpu:>10}  {fits:<6}{largest:>20}")
