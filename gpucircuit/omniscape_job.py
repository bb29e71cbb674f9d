"""An Omniscape job: INI config -> layers -> moving-window mode -> project folder of rasters.

Layers that fit in memory are read whole and everything is computed before the project folder
is made; larger ones (or with ``--tiles``) are read a tile's slab at a time and the maps pass
through scratch files in the project folder (:mod:`gpucircuit.omniscape_stream`). Either way a
failed run leaves nothing behind. The folder is ``project_name`` in the current directory, as Omniscape.jl places it; if
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
from .io.raster import read_raster
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


def plan_memory(shape, rules: WindowRules, n_conditions: int, tiles: tuple[int, int] | None,
                streamed: bool = False) -> int:
    """Host bytes a run holds at its peak: the layers, their padded window views, the maps and
    one batch in flight. Tiles pad and accumulate one slab at a time; ``streamed`` tiles also
    read their layers one slab at a time and add their maps into scratch files on disk, so
    beside the slab only a block of rows (counting windows, writing outputs) is held."""
    from .modes.omniscape import default_batch
    from .io.raster_window import gdal_cache_bytes
    from .modes.omniscape_tiles import halo
    from .omniscape_stream import rows_per_block

    m, n = shape
    d = halo(rules)
    cells = m * n
    per_cell = (3 + 2 * n_conditions) * 8  # the layers as read and prepared
    if streamed:
        m, n = min(-(-m // tiles[0]) + 2 * d, m), min(-(-n // tiles[1]) + 2 * d, n)
        block = min(rows_per_block(shape[1], rules.block_size), shape[0]) * shape[1]
        layers = 2 * m * n * per_cell + 3 * m * n * 8 + block * (per_cell + 6 * 8) + gdal_cache_bytes(shape[1])
    else:
        layers = per_cell * cells + 3 * cells * 8  # inputs, then the output maps
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


def choose_tiles(shape, rules: WindowRules, n_conditions: int, free: int | None, asked: tuple[int, int] | None,
                 stream: bool = False, min_tiles: int = 4) -> tuple[tuple[int, int] | None, int]:
    """(tiles or None for a run on whole layers in memory, planned peak bytes), from the raster's
    shape alone. Asked-for tiles are used as asked (if they fit); otherwise the whole layers when
    they fit in ``free`` and ``stream`` is not set, else the fewest square tiles, at least
    ``min_tiles``, that fit. A run that does not fit even in tiles a block wide is an InputError."""
    import math

    from .memory import HEADROOM

    if asked is not None:
        need = plan_memory(shape, rules, n_conditions, asked, streamed=True)
        check_memory(need, free, asked)
        return asked, need
    if not stream:
        need = plan_memory(shape, rules, n_conditions, None)
        if free is None or need <= HEADROOM * free:
            return None, need
    k = max(2, math.ceil(math.sqrt(min_tiles)))
    while True:
        need = plan_memory(shape, rules, n_conditions, (k, k), streamed=True)
        if free is None or need <= HEADROOM * free:
            return (k, k), need
        if -(-max(shape) // k) <= rules.block_size:
            raise InputError(f"this Omniscape run does not fit in {free / 2**30:.2f} GiB of free memory even in "
                             f"{k}x{k} tiles (about {need / 2**30:.2f} GiB each, most of it the windows of "
                             f"radius {rules.radius} + buffer {rules.buffer}): use a machine with more memory")
        k += max(1, k // 4)


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


def _wanted(cfg: OmniscapeConfig) -> dict[str, bool]:
    """Output name -> whether the INI asks for it (in the order they are written)."""
    return {"classified_resistance": cfg.reclassify_resistance and cfg.write_reclassified_resistance,
            "cum_currmap": cfg.write_raw_currmap, "flow_potential": cfg.calc_flow_potential,
            "normalized_cum_currmap": cfg.calc_normalized_current}


def run_omniscape_config(cfg: OmniscapeConfig, base: Path | None = None, method: str = "direct",
                         tiles: tuple[int, int] | None = None, client=None, checkpoint: Path | None = None,
                         progress: Callable[[int, int], None] | None = None, memory: int | None = None,
                         tell: Callable[[str], None] | None = None) -> OmniscapeReport:
    """Run an Omniscape job and write its project folder; windows done are reported to
    :func:`gpucircuit.progress.current` and, if given, to ``progress(done, total)``.

    The memory plan comes first, from the raster headers, against ``memory`` bytes (default: the
    host memory free now); ``tell`` receives one line saying how the run will go. Layers that fit
    are read whole; otherwise, or with ``tiles`` (or ``checkpoint`` or a ``client``), tiles read
    their slabs from the files and the maps go to disk a block of rows at a time (the report then
    holds no maps). With ``checkpoint`` (a folder) each finished tile is kept there and a rerun
    after a stop solves only the tiles still missing."""
    from .memory import host_free_bytes

    t0 = time.perf_counter()
    rules = rules_of(cfg)
    files = FileLayers(cfg)  # headers only
    free = host_free_bytes() if memory is None else memory
    workers = len(client.scheduler_info().get("workers", {})) if client is not None else 1
    tiles, need = choose_tiles(files.spec.shape, rules, files.n_conditions, free, tiles,
                               stream=checkpoint is not None or client is not None, min_tiles=2 * workers)
    how = "whole layers in memory" if tiles is None else \
        f"{tiles[0]}x{tiles[1]} tiles read from the files with a halo of {rules.half} cells"
    done = 0

    def started(total: int):
        if tell is not None:  # once the layers are read and checked: bad input stays a one-line error
            tell(f"omniscape: {files.spec.shape[0]} x {files.spec.shape[1]} cells, {total} windows, {how}; peak "
                 f"memory about {need / 2**30:.2f} GiB" + ("" if free is None else f" of {free / 2**30:.2f} GiB free"))
        current().stage("windows", total)

        def advance(k: int):
            nonlocal done
            done += k
            current().advance(k)
            if progress is not None:
                progress(done, total)
        return advance

    if tiles is None:
        return _run_in_memory(cfg, rules, method, base, started, t0)
    from .omniscape_stream import run_streamed

    correction = block_correction(rules, method) if rules.correct_artifacts and rules.block_size > 1 else None
    folder = project_folder(cfg.project_name, base)
    folder.mkdir(parents=True)
    try:
        outputs = _copy_config(cfg, folder)
        windows, written = run_streamed(files, rules, tiles, folder, ".tif" if cfg.write_as_tif else ".asc",
                                        _wanted(cfg), cfg.mask_nodata, method, correction, client, checkpoint,
                                        started)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return OmniscapeReport(folder, outputs + written, windows, time.perf_counter() - t0)


def _copy_config(cfg: OmniscapeConfig, folder: Path) -> list[Path]:
    if cfg.source is None:
        return []
    shutil.copyfile(cfg.source, folder / "config.ini")
    return [folder / "config.ini"]


def _run_in_memory(cfg: OmniscapeConfig, rules: WindowRules, method: str, base, started, t0) -> OmniscapeReport:
    layers = load_layers(cfg)
    advance = started(len(find_targets(layers.source, rules.block_size)))
    maps = omniscape(layers.conductance, layers.source, rules, layers.conditions, method=method, progress=advance)
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
    folder.mkdir(parents=True)
    try:
        outputs = _copy_config(cfg, folder)
        data = {"classified_resistance": layers.resistance, "cum_currmap": cum, "flow_potential": fp,
                "normalized_cum_currmap": norm}
        for name, on in _wanted(cfg).items():
            if on:
                outputs.append(write_raster(folder / f"{name}{ext}", data[name], layers.spec))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    computed = {"cum_currmap": cum, "flow_potential": fp, "normalized_cum_currmap": norm}
    return OmniscapeReport(folder, outputs, maps.windows, time.perf_counter() - t0,
                           {k: v for k, v in computed.items() if v is not None})
