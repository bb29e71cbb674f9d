"""Circuitscape-named output files: resistance tables and maps.

Names use the prefix ``output_file`` without ``.out``: ``_resistances.out``,
``_resistances_3columns.out``, ``_cum_curmap``, ``_max_curmap``, ``_curmap_<label>``,
``_voltmap_<label>``; ``.asc`` by default, ``.tif`` with ``write_as_tif``; nodata -9999.
"""
from __future__ import annotations

import os
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import OutputError
from .raster import NODATA_OUT, GridSpec
from .raster_write import copy_file_atomic, failure_reason, write_raster, write_text_atomic


def _make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and any missing parents; returns the folders created, outermost first."""
    missing = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create the output folder {folder}: {failure_reason(err)}") from None
    return missing[::-1]


def check_writable(folder: Path) -> None:
    """Error unless a file can be created in ``folder``: a probe file is made and removed, which
    also catches read-only file systems and root-owned mounts that permission bits do not show."""
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"the output folder {folder} is not writable (permission denied)")
    try:
        fd, probe = tempfile.mkstemp(prefix=".gpucircuit-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputError(f"the output folder {folder} is not writable ({failure_reason(err)})") from None


def remove_stale_temporaries(prefix: Path) -> list[Path]:
    """Remove hidden temporaries (``.NAME.XXXX.tmp``) that a killed run left for outputs named
    ``PREFIX_*``, the outputs this run is about to write."""
    removed = []
    for tmp in Path(prefix).parent.glob(f".{Path(prefix).name}_*.tmp"):
        try:
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass  # not ours to fight over: a concurrent run may hold it
    return removed


@contextmanager
def output_folder(folder):
    """Create ``folder`` if needed and check it is writable before any work; if the run then fails,
    the folders it created are removed again when still empty."""
    folder = Path(folder)
    created = _make_folder(folder)
    try:
        check_writable(folder)
        yield folder
    except BaseException:
        for d in reversed(created):
            try:
                d.rmdir()  # only succeeds when empty
            except OSError:
                break
        raise


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
    seconds: float = 0.0  # time while any write runs (writes may overlap), for the job's timings
    dtype: type = np.float64  # GeoTIFFs are written in the computation's precision (float32 under single)
    # runs ``write_raster(...)`` elsewhere and returns its result (WriteQueue.call: another process)
    offload: object = None
    # formats an ASCII grid's rows in other processes, in order (WriteQueue.imap): a large map then
    # uses every core, where ``offload`` gives one map one process
    spread: object = None
    _running: int = field(default=0, repr=False)
    _since: float = field(default=0.0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def path(self, name: str) -> Path:
        return Path(f"{self.prefix}_{name}{'.tif' if self.as_tif else '.asc'}")

    @contextmanager
    def _timed(self):
        with self._lock:  # writer threads overlap: count the time while any of them writes, once
            if not self._running:
                self._since = time.perf_counter()
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if not self._running:
                    self.seconds += time.perf_counter() - self._since

    def _write(self, name: str, data: np.ndarray) -> Path:
        with self._timed():
            if self.as_tif and self.dtype == np.float32:
                data = data.astype(np.float32)
            args = (self.path(name), data, self.spec, NODATA_OUT, self.compress)
            if self.spread is not None and not (self.as_tif or self.compress):
                return write_raster(*args, spread=self.spread)
            return write_raster(*args) if self.offload is None else self.offload(write_raster, *args)

    def copy(self, written: Path, source_name: str, name: str) -> Path:
        """The map ``name`` as a copy of the file ``written`` for ``source_name`` (same data, same
        post-processing, so the same bytes: a one-pair job's cumulative map is its pair's map)."""
        stem = f"{self.prefix.name}_{source_name}"
        if not written.name.startswith(stem):
            raise ValueError(f"{written} is not the map {source_name}")
        with self._timed():
            return copy_file_atomic(written, written.with_name(f"{self.prefix.name}_{name}{written.name[len(stem):]}"))

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
