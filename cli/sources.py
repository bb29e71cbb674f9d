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
        from gpucircuit.analysis.sources import parse_sweep, screen_sources, top_score_cells
        from gpucircuit.linkage.habitat import cell_area_m2, habitat, write_source_outputs
        from gpucircuit.errors import InputError
        from gpucircuit.io.notice import warn_user
        from gpucircuit.io.raster import check_same_grid, read_raster

        t0 = time.perf_counter()
        thresholds = parse_sweep(sweep) if sweep is not None else None
        if sum(x is not None for x in (dpc_min, top, None if score is not None else top_percent)) > 1:
            raise InputError("choose one selection rule: --dpc-min, --top or --top-percent")
        values, spec = read_raster(input_path, name="input raster")
        area = cell_area_m2(spec, input_path, strict=True)
        cells, study = habitat(values, classes, binary, input_path)
        if score is not None:
            if top_percent is None:
                raise InputError("--score needs --top-percent (the share of cells taken as sources)")
            s, sspec = read_raster(score, name="score raster")
            check_same_grid(spec, sspec, "input raster", "score raster", score)
            cells, top_percent = top_score_cells(s, study, top_percent), None
        r = None
        if resistance is not None:
            r, rspec = read_raster(resistance, name="resistance raster")
            check_same_grid(spec, rspec, "input raster", "resistance raster", resistance)
        with analysis_progress() as report:
            try:
                found = screen_sources(cells, study, area, (abs(spec.transform.a), abs(spec.transform.e)),
                                       min_area_km2=min_area, connectivity=connectivity, distance=distance,
                                       probability=probability, resistance=r, dpc_min=dpc_min, top=top,
                                       top_percent=top_percent, progress=lambda i, n: report("edge-to-edge distances", i, n),
                                       notice=warn_user)
            except InputError as err:  # say which input the patches came from
                raise InputError(f"{input_path}: {err}") from None
        written = write_source_outputs(out, found, values, spec, thresholds, probability,
                                "cost units" if resistance is not None else "map units")
        p, ix = found.patches, found.indices
        say(f"sources: {p.n} candidate patches ({found.found - p.n} below --min-area), PC {ix.pc.pc:.4g}, "
                   f"IIC {ix.iic:.4g}, NC {ix.nc} at {distance:g}; {int(found.selected.sum())} selected; "
                   f"wrote {written} files to {out} in {time.perf_counter() - t0:.2f} s")
