"""Omniscape's layers: its per-cell rules, and the layers read from the files a window at a time.

:class:`CellRules` holds what Omniscape.jl does to each cell (precision, reclassification,
resistance -> conductance, sources from resistance with ``r_cutoff`` or from a source layer
with ``source_threshold``, condition layers); it applies alike to whole rasters and to slabs,
so the in-memory job and the tiled job share one copy of the rules. None of them looks beyond
its cell, so a slab's layers equal the same cells of the whole layers. :class:`FileLayers`
reads only the raster headers when made, then any window of every layer.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .io.notice import warn_user
from .io.omniscape_config import OmniscapeConfig
from .io.raster import GridSpec
from .io.raster_window import RasterWindows, small_gdal_cache
from .modes.omniscape import Condition


@dataclass
class OmniscapeLayers:
    """The job's inputs as arrays (NaN = nodata) on the resistance raster's grid (or a slab of it)."""

    resistance: np.ndarray  # after reclassification
    conductance: np.ndarray
    source: np.ndarray
    conditions: list[Condition]
    spec: GridSpec | None = None


def read_reclass_table(path: Path) -> list[tuple[float, float]]:
    """Two columns per line: old value, new value (``missing`` / ``NaN`` = nodata)."""
    if not Path(path).exists():
        raise InputError(f"reclass_table file not found: {path}")
    rows = []
    for lineno, line in enumerate(Path(path).read_text(errors="replace").splitlines(), 1):
        words = line.replace(",", " ").split()
        if not words:
            continue
        if len(words) != 2:
            raise InputError(f"reclass_table {path} line {lineno}: expected two values (old new), got {line.strip()!r}")
        try:
            old = float(words[0])
            new_word = words[1].strip("\"'")
            new = np.nan if new_word.lower() in ("missing", "nan", "nodata") else float(new_word)
        except ValueError:
            raise InputError(f"reclass_table {path} line {lineno}: {line.strip()!r} is not two numbers "
                             "(the new value may be 'missing')") from None
        rows.append((old, new))
    if not rows:
        raise InputError(f"reclass_table {path} is empty")
    return rows


def reclassify(values: np.ndarray, table) -> np.ndarray:
    """Each cell equal to an old value takes its new value (matched on the original values)."""
    out = values.copy()
    for old, new in table:
        out[values == old] = new
    return out


@dataclass(frozen=True)
class CellRules:
    """Omniscape.jl's rules for each cell of the layers, read from a config once."""

    resistance_file: str  # for messages
    single: bool  # layers read as float32 (precision = single)
    resistance_is_conductance: bool = False
    reclass: tuple[tuple[float, float], ...] | None = None
    source_from_resistance: bool = True
    r_cutoff: float = np.inf
    source_threshold: float = 0.0
    comparisons: tuple[tuple[str, float, float], ...] = ()  # per condition: comparison, lower, upper

    @classmethod
    def of(cls, cfg: OmniscapeConfig) -> "CellRules":
        table = tuple(read_reclass_table(cfg.reclass_table)) if cfg.reclassify_resistance else None
        comparisons = tuple((getattr(cfg, f"comparison{i}"), getattr(cfg, f"condition{i}_lower"),
                             getattr(cfg, f"condition{i}_upper"))
                            for i in range(1, cfg.n_conditions + 1)) if cfg.conditional else ()
        return cls(str(cfg.resistance_file), cfg.precision == "single", cfg.resistance_is_conductance, table,
                   cfg.source_from_resistance, cfg.r_cutoff, cfg.source_threshold, comparisons)

    def cast(self, values: np.ndarray) -> np.ndarray:
        """Values as Omniscape reads them (rounded to float32 in single precision), as float64."""
        return values.astype(np.float32 if self.single else np.float64).astype(np.float64)

    def _check_positive(self, res: np.ndarray, origin) -> None:
        bad = ~np.isnan(res) & (res <= 0)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            kind = "conductance" if self.resistance_is_conductance else "resistance"
            raise InputError(f"resistance_file {self.resistance_file} has a {kind} of {res[r, c]:g} at row "
                             f"{r + origin[0]}, column {c + origin[1]} ({int(bad.sum())} cells <= 0 here): "
                             "values must be positive (nodata for no habitat)")

    def apply(self, resistance: np.ndarray, source: np.ndarray | None = None, conditions=(), origin=(0, 0),
              spec: GridSpec | None = None) -> OmniscapeLayers:
        """The layers from the cells as read (NaN = nodata): ``source`` None when sources come from
        resistance, ``conditions`` as (present, future) pairs; ``origin`` places a slab in errors."""
        raw = self.cast(resistance)
        self._check_positive(raw, origin)
        res = raw
        if self.reclass is not None:
            res = reclassify(raw, self.reclass)
            self._check_positive(res, origin)
        with np.errstate(divide="ignore"):
            conductance = res if self.resistance_is_conductance else 1.0 / res
        if self.source_from_resistance:
            with np.errstate(divide="ignore", invalid="ignore"):
                src = np.where(np.isnan(conductance) | (conductance < 1.0 / self.r_cutoff), 0.0, conductance)
        else:
            src = self.cast(source)
            src = np.where(np.isnan(src) | (src < self.source_threshold), 0.0, src)
        conds = [Condition(self.cast(present), self.cast(future), *how)
                 for (present, future), how in zip(conditions, self.comparisons)]
        return OmniscapeLayers(res, conductance, src, conds, spec)


def check_aligned(other: GridSpec, path, key: str, spec: GridSpec, allow_different_projections: bool) -> None:
    """A layer must have the resistance's shape; other georeferencing is only warned about (as Omniscape does)."""
    if other.shape != spec.shape:
        raise InputError(f"{key} {path} has {other.shape[0]} rows x {other.shape[1]} columns, but the "
                         f"resistance_file has {spec.shape[0]} x {spec.shape[1]}")
    if not allow_different_projections and (not spec.matches(other) or spec.crs != other.crs):
        warn_user(f"{key} {path} and the resistance_file have different georeferencing; "
                  "proceeding as Omniscape does (set allow_different_projections = true to silence this)")


def layer_files(cfg: OmniscapeConfig) -> dict[str, Path]:
    """Key -> path of every raster the job reads: the resistance, the source layer (when sources
    do not come from resistance) and the condition layers (present, then future, per condition)."""
    files = {"resistance_file": cfg.resistance_file}
    if not cfg.source_from_resistance:
        files["source_file"] = cfg.source_file
    if cfg.conditional:
        for i in range(1, cfg.n_conditions + 1):
            files[f"condition{i}_file"] = getattr(cfg, f"condition{i}_file")
            if cfg.compare_to_future in (str(i), "both"):
                files[f"condition{i}_future_file"] = getattr(cfg, f"condition{i}_future_file")
    return files


class FileLayers:
    """Every layer of a job as :class:`RasterWindows` (headers read and checked, no cells yet)."""

    def __init__(self, cfg: OmniscapeConfig):
        self.rules = CellRules.of(cfg)
        self.files = {key: RasterWindows(path, key) for key, path in layer_files(cfg).items()}
        self.spec = self.files["resistance_file"].spec
        for key, layer in self.files.items():
            if key != "resistance_file":
                check_aligned(layer.spec, layer.path, key, self.spec, cfg.allow_different_projections)
        self.n_conditions = len(self.rules.comparisons)

    def fingerprint(self) -> str:
        """The files (path, size, modification time) and the rules: what a checkpoint depends on."""
        stats = [(k, str(w.path.resolve()), os.stat(w.path).st_size, os.stat(w.path).st_mtime_ns)
                 for k, w in self.files.items()]
        return repr((stats, self.rules))

    def read(self, rows: slice, cols: slice) -> OmniscapeLayers:
        """The prepared layers of cells ``[rows, cols]``."""
        def cells(key):
            return self.files[key].read(rows, cols) if key in self.files else None

        conditions = []
        for i in range(1, self.n_conditions + 1):
            present = cells(f"condition{i}_file")
            future = cells(f"condition{i}_future_file")
            conditions.append((present, present if future is None else future))
        return self.rules.apply(cells("resistance_file"), cells("source_file"), conditions,
                                origin=(rows.start, cols.start))

    def close(self) -> None:
        for layer in self.files.values():
            layer.close()

    def slab(self, rows: slice, cols: slice) -> "FileSlab":
        return FileSlab(self, rows, cols)


READ_CACHE_BYTES = 8 << 20  # GDAL's block cache where a slab is only read: each block is decoded once per read


@dataclass
class FileSlab:
    """A tile's reader (see :mod:`gpucircuit.modes.omniscape_tiles`): its slab, read from the files where it runs."""

    layers: FileLayers
    rows: slice
    cols: slice

    def __call__(self):
        with small_gdal_cache(READ_CACHE_BYTES):  # on a dask worker too
            cells = self.layers.read(self.rows, self.cols)
        return cells.conductance, cells.source, cells.conditions
