"""Circuitscape-named output files: resistance tables and maps.

Names use the prefix ``output_file`` without ``.out``: ``_resistances.out``,
``_resistances_3columns.out``, ``_cum_curmap``, ``_max_curmap``, ``_curmap_<label>``,
``_voltmap_<label>``; ``.asc`` by default, ``.tif`` with ``write_as_tif``; nodata -9999.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .raster import NODATA_OUT, GridSpec, write_raster, write_text_atomic


def fmt(x: float) -> str:
    return f"{x:.10g}"


def write_pairwise_resistances(prefix: Path, ids: list[int], R: np.ndarray) -> list[Path]:
    """Matrix file (first row ``0 id1 id2 ...``) and the three-column ``id id R`` list."""
    rows = [" ".join(["0"] + [str(i) for i in ids])]
    for i, pid in enumerate(ids):
        rows.append(" ".join([str(pid)] + [fmt(v) for v in R[i]]))
    p1 = Path(f"{prefix}_resistances.out")
    write_text_atomic(p1, "\n".join(rows) + "\n")
    three = [f"{ids[a]} {ids[b]} {fmt(R[a, b])}" for a in range(len(ids)) for b in range(a + 1, len(ids))]
    p2 = Path(f"{prefix}_resistances_3columns.out")
    write_text_atomic(p2, "\n".join(three) + "\n")
    return [p1, p2]


def write_point_resistances(prefix: Path, ids: list[int], r: np.ndarray) -> list[Path]:
    """One-to-all / all-to-one: ``id R`` per line."""
    p = Path(f"{prefix}_resistances.out")
    write_text_atomic(p, "\n".join(f"{pid} {fmt(v)}" for pid, v in zip(ids, r)) + "\n")
    return [p]


@dataclass
class MapWriter:
    """Writes maps with Circuitscape's post-processing options."""

    prefix: Path
    spec: GridSpec
    node: np.ndarray  # cells that carry a node (for the null-to-nodata options)
    as_tif: bool = False
    compress: bool = False
    log_transform: bool = False
    null_currents_to_nodata: bool = False
    null_voltages_to_nodata: bool = False
    seconds: float = 0.0  # time spent writing, for the job's timings

    def path(self, name: str) -> Path:
        return Path(f"{self.prefix}_{name}{'.tif' if self.as_tif else '.asc'}")

    def _write(self, name: str, data: np.ndarray) -> Path:
        t0 = time.perf_counter()
        path = write_raster(self.path(name), data, self.spec, NODATA_OUT, compress=self.compress)
        self.seconds += time.perf_counter() - t0
        return path

    def current(self, name: str, data: np.ndarray) -> Path:
        out = np.asarray(data, dtype=np.float64)
        if self.log_transform:
            with np.errstate(divide="ignore", invalid="ignore"):
                out = np.where(out > 0, np.log10(np.where(out > 0, out, 1)), np.nan)
        if self.null_currents_to_nodata:
            out = np.where(self.node, out, np.nan)
        return self._write(name, out)

    def voltage(self, name: str, data: np.ndarray) -> Path:
        out = np.asarray(data, dtype=np.float64)
        if self.null_voltages_to_nodata:
            out = np.where(self.node, out, np.nan)
        return self._write(name, out)
