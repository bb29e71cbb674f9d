"""An Omniscape job: INI config -> layers -> moving-window mode -> project folder of rasters.

Everything is computed before the project folder is made, so a failed run leaves nothing
behind. The folder is ``project_name`` in the current directory, as Omniscape.jl places it; if
it exists, ``project_name_1``, ``_2``... is used instead (with a warning), never overwritten.

``precision = single`` reads the layers as Omniscape does (values rounded to float32) but solves in
float64; ``parallelize`` / ``parallel_batch_size`` are read and not needed: windows are solved in
stacked batches here, and spread over dask workers with ``--workers`` / ``--scheduler``.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import InputError
from .io.notice import warn_user
from .io.omniscape_config import OmniscapeConfig
from .io.raster import GridSpec, read_raster
from .io.raster_write import write_raster
from .modes.omniscape import WindowRules, block_correction, find_targets, omniscape
from .omniscape_layers import CellRules, FileLayers, OmniscapeLayers, check_aligned, layer_files
from .progress import current


@dataclass
class OmniscapeReport:
    project: Path
    outputs: list[Path] = field(default_factory=list)
    windows: int = 0
    seconds: float = 0.0
    maps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # every map computed, NaN = nodata


def load_layers(cfg: OmniscapeConfig) -> OmniscapeLayers:
    """Read the whole layers and prepare them with Omniscape.jl's rules (:class:`CellRules`)."""
    files = {}
    spec = None
    for key, path in layer_files(cfg).items():
        files[key], other = read_raster(path, key)
        if spec is None:
            spec = other
        else:
            check_aligned(other, path, key, spec, cfg.allow_different_projections)
    conditions = [(files[f"condition{i}_file"], files.get(f"condition{i}_future_file", files[f"condition{i}_file"]))
                  for i in range(1, cfg.n_conditions + 1)] if cfg.conditional else []
    return CellRules.of(cfg).apply(files["resistance_file"], files.get("source_file"), conditions, spec=spec)


def rules_of(cfg: OmniscapeConfig) -> WindowRules:
    return WindowRules(cfg.radius, cfg.buffer, cfg.block_size, cfg.connect_four_neighbors_only,
                       cfg.correct_artifacts, cfg.flow_potential_needed)


# bytes per cell of a stacked batch in flight (window gathers, stacked raster, graph, unknowns,
# voltages, currents) and of a window's sparse LU fill; an estimate from the arrays the code makes
BATCH_BYTES_PER_CELL = 600


def plan_memory(shape, rules: WindowRules, n_conditions: int, tiles: tuple[int, int] | None) -> int:
    """Host bytes a run holds at its peak: the layers, their padded window views, the maps and
    one batch in flight. Tiles pad and accumulate one slab at a time."""
    from .modes.omniscape import default_batch

    m, n = shape
    d = rules.half
    cells = m * n
    layers = (3 + 2 * n_conditions) * cells * 8 + 3 * cells * 8  # inputs, then the output maps
    if tiles is not None:
        m, n = -(-m // tiles[0]) + 2 * d, -(-n // tiles[1]) + 2 * d  # one slab at a time
        layers += 2 * cells * 8  # the whole-map sums the tiles are added into
    padded = (m + 2 * d) * (n + 2 * d)
    windows = padded * ((2 + n_conditions) * 8 + 1) + 2 * padded * 8
    batch = default_batch(rules) * rules.size ** 2 * BATCH_BYTES_PER_CELL
    return layers + windows + batch


def check_memory(need: int, free: int | None, tiles) -> None:
    """An InputError before any work when the plan does not fit in the free host memory."""
    from .memory import HEADROOM

    if free is None or need <= HEADROOM * free:
        return
    advice = "use more --tiles" if tiles else "use --tiles (e.g. 4x4)"
    raise InputError(f"this Omniscape run needs about {need / 2**30:.1f} GiB of memory but {free / 2**30:.1f} GiB "
                     f"is free: {advice} or a machine with more memory")


def project_folder(name: str, base: Path | None = None) -> Path:
    """``name`` under ``base`` (default: the current directory), or ``name_1``, ``name_2``... if
    it exists (Omniscape's rule)."""
    base = Path.cwd() if base is None else Path(base)
    folder = base / name
    if not folder.exists():
        return folder
    k = 1
    while (base / f"{name}_{k}").exists():
        k += 1
    warn_user(f"project folder {folder} exists; writing to {base / f'{name}_{k}'} instead")
    return base / f"{name}_{k}"


def run_omniscape_config(cfg: OmniscapeConfig, base: Path | None = None, method: str = "direct",
                         tiles: tuple[int, int] | None = None, client=None, checkpoint: Path | None = None,
                         progress: Callable[[int, int], None] | None = None) -> OmniscapeReport:
    """Run an Omniscape job and write its project folder; windows done are reported to
    :func:`gpucircuit.progress.current` and, if given, to ``progress(done, total)``.

    With ``tiles`` the windows are solved tile by tile; with ``checkpoint`` (a folder) too, each
    finished tile is kept there and a rerun after a stop solves only the tiles still missing."""
    if checkpoint is not None and tiles is None:
        tiles = (2, 2)
    t0 = time.perf_counter()
    from .memory import host_free_bytes

    layers = load_layers(cfg)
    rules = rules_of(cfg)
    check_memory(plan_memory(layers.source.shape, rules, len(layers.conditions), tiles), host_free_bytes(), tiles)
    total = len(find_targets(layers.source, rules.block_size))
    done = 0
    current().stage("windows", total)

    def advance(k: int):
        nonlocal done
        done += k
        current().advance(k)
        if progress is not None:
            progress(done, total)

    if tiles is None:
        maps = omniscape(layers.conductance, layers.source, rules, layers.conditions, method=method,
                         progress=advance)
    else:
        from .modes.omniscape_tiles import omniscape_tiled

        correction = block_correction(rules, method) if rules.correct_artifacts and rules.block_size > 1 else None
        maps = omniscape_tiled(layers.conductance, layers.source, rules, layers.conditions, tiles=tiles,
                               method=method, correction=correction, client=client, checkpoint=checkpoint,
                               progress=advance)
    cum, fp = maps.cum_currmap, maps.flow_potential
    norm = None
    if cfg.calc_normalized_current:
        with np.errstate(divide="ignore", invalid="ignore"):
            norm = cum / fp
        norm[np.isnan(norm)] = 0.0  # 0 / 0 where neither current nor flow potential reached
    if cfg.mask_nodata:
        nodata = np.isnan(layers.resistance)
        for a in (cum, fp, norm):
            if a is not None:
                a[nodata] = np.nan
    folder = project_folder(cfg.project_name, base)
    ext = ".tif" if cfg.write_as_tif else ".asc"
    outputs = []
    folder.mkdir(parents=True)
    try:
        if cfg.source is not None:
            shutil.copyfile(cfg.source, folder / "config.ini")
            outputs.append(folder / "config.ini")
        wanted = [("classified_resistance", layers.resistance if cfg.reclassify_resistance
                   and cfg.write_reclassified_resistance else None),
                  ("cum_currmap", cum if cfg.write_raw_currmap else None),
                  ("flow_potential", fp if cfg.calc_flow_potential else None),
                  ("normalized_cum_currmap", norm)]
        for name, data in wanted:
            if data is not None:
                outputs.append(write_raster(folder / f"{name}{ext}", data, layers.spec))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    computed = {"cum_currmap": cum, "flow_potential": fp, "normalized_cum_currmap": norm}
    return OmniscapeReport(folder, outputs, maps.windows, time.perf_counter() - t0,
                           {k: v for k, v in computed.items() if v is not None})
