"""``gpucircuit sources``: candidate habitat patches ranked by Conefor's dPC, selected as ecological sources."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from .common import analysis_progress, cli_command, say


def register(app: typer.Typer) -> None:
    @app.command("sources")
    @cli_command
    def sources(
        input_path: Path = typer.Argument(..., metavar="INPUT", help="MSPA map (core = 17/117), a class raster (--classes) or a "
                                     "habitat mask (--binary); nodata (and MSPA missing 129) is outside the study area."),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder (created)."),
        classes: Optional[str] = typer.Option(None, "--classes", help="Habitat class codes of INPUT, e.g. 41-43."),
        binary: bool = typer.Option(False, "--binary/--no-binary", show_default=True, help="INPUT is a habitat mask: non-zero cells are habitat."),
        min_area: float = typer.Option(0.0, "--min-area", help="Drop patches smaller than this (km²)."),
        connectivity: int = typer.Option(8, "--connectivity", help="Patch connectivity: 8 or 4."),
        distance: float = typer.Option(5000.0, "--distance",
                                       help="Conefor distance threshold (map units; cost units with --resistance)."),
        probability: float = typer.Option(0.5, "--probability", help="Dispersal probability at --distance (PC)."),
        resistance: Optional[Path] = typer.Option(None, "--resistance",
                                                  help="Cost-weighted edge-to-edge distances over this raster."),
        dpc_min: Optional[float] = typer.Option(None, "--dpc-min", help="Select patches with dPC at least this (%)."),
        top: Optional[int] = typer.Option(None, "--top", help="Select the N patches of largest dPC."),
        top_percent: Optional[float] = typer.Option(
            None, "--top-percent", help="Select the top P % of patches by dPC; with --score, the top P % of cells."),
        score: Optional[Path] = typer.Option(
            None, "--score", help="Ecosystem-service raster: sources are patches of its top --top-percent % cells "
            "(INPUT then only sets the grid and the study area)."),
        sweep: Optional[str] = typer.Option(None, "--sweep", help="NC and PC per threshold START:STOP:STEP "
                                            "(sweep.csv, sweep.png)."),
    ):
        """Ecological sources: patches ranked by Conefor's PC/dPC and IIC/dIIC, selected, written for 'linkage'.

        Writes sources.tif (ids of the selected patches, usable as cores), sources.gpkg, patches.csv
        (all candidates) and, with --sweep, sweep.csv and sweep.png.
        """
        from gpucircuit.sources_job import SourceOptions, run_sources

        t0 = time.perf_counter()
        opt = SourceOptions(classes=classes, binary=binary, min_area=min_area, connectivity=connectivity,
                            distance=distance, probability=probability, resistance=resistance, dpc_min=dpc_min,
                            top=top, top_percent=top_percent, score=score, sweep=sweep)
        with analysis_progress() as report:
            run = run_sources(input_path, out, opt, progress=lambda i, n: report("edge-to-edge distances", i, n))
        found = run.found
        p, ix = found.patches, found.indices
        say(f"sources: {p.n} candidate patches ({found.found - p.n} below --min-area), PC {ix.pc.pc:.4g}, "
            f"IIC {ix.iic:.4g}, NC {ix.nc} at {distance:g}; {int(found.selected.sum())} selected; "
            f"wrote {run.written} files to {out} in {time.perf_counter() - t0:.2f} s")
