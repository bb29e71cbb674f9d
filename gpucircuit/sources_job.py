"""A ``sources`` job: a habitat raster -> candidate patches ranked by Conefor's dPC -> the selected
ecological sources written to a folder (sources.tif, sources.gpkg, patches.csv, the sweep).

Every input is read and checked before anything is screened or written, so bad input leaves no
output behind.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .analysis.sources import parse_sweep, screen_sources, top_score_cells
from .errors import InputError
from .io.notice import warn_user
from .io.raster import check_same_grid, read_raster
from .linkage.chain import cellsize_of
from .linkage.habitat import cell_area_m2, habitat, write_source_outputs


@dataclass
class SourceOptions:
    """How candidate patches are found, ranked and selected (the ``sources`` command's options)."""

    classes: Optional[str] = None  # habitat class codes of the input, e.g. "41-43"
    binary: bool = False  # the input is a habitat mask: non-zero cells are habitat
    min_area: float = 0.0  # km²
    connectivity: int = 8
    distance: float = 5000.0  # Conefor distance threshold (map units; cost units with a resistance)
    probability: float = 0.5  # dispersal probability at ``distance``
    resistance: Optional[Path] = None  # cost-weighted edge-to-edge distances over this raster
    dpc_min: Optional[float] = None
    top: Optional[int] = None
    top_percent: Optional[float] = None
    score: Optional[Path] = None  # ecosystem-service raster: sources are its top ``top_percent`` % cells
    sweep: Optional[str] = None  # "START:STOP:STEP" thresholds for NC and PC


@dataclass
class SourcesRun:
    found: object  # what :func:`~gpucircuit.analysis.sources.screen_sources` found
    written: int  # files written


def run_sources(input_path: Path, out: Path, opt: SourceOptions,
                progress: Callable[[int, int], None] | None = None) -> SourcesRun:
    """Screen the patches of ``input_path`` and write the sources to ``out``; ``progress(done, total)``
    follows the edge-to-edge distances."""
    thresholds = parse_sweep(opt.sweep) if opt.sweep is not None else None
    top_percent = opt.top_percent
    if sum(x is not None for x in (opt.dpc_min, opt.top, None if opt.score is not None else top_percent)) > 1:
        raise InputError("choose one selection rule: --dpc-min, --top or --top-percent")
    values, spec = read_raster(input_path, name="input raster")
    area = cell_area_m2(spec, input_path, strict=True)
    cells, study = habitat(values, opt.classes, opt.binary, input_path)
    if opt.score is not None:
        if top_percent is None:
            raise InputError("--score needs --top-percent (the share of cells taken as sources)")
        s, sspec = read_raster(opt.score, name="score raster")
        check_same_grid(spec, sspec, "input raster", "score raster", opt.score)
        cells, top_percent = top_score_cells(s, study, top_percent), None
    r = None
    if opt.resistance is not None:
        r, rspec = read_raster(opt.resistance, name="resistance raster")
        check_same_grid(spec, rspec, "input raster", "resistance raster", opt.resistance)
    try:
        found = screen_sources(cells, study, area, cellsize_of(spec),
                               min_area_km2=opt.min_area, connectivity=opt.connectivity, distance=opt.distance,
                               probability=opt.probability, resistance=r, dpc_min=opt.dpc_min, top=opt.top,
                               top_percent=top_percent, progress=progress, notice=warn_user)
    except InputError as err:  # say which input the patches came from
        raise InputError(f"{input_path}: {err}") from None
    written = write_source_outputs(out, found, values, spec, thresholds, opt.probability,
                                   "cost units" if opt.resistance is not None else "map units")
    return SourcesRun(found, written)
