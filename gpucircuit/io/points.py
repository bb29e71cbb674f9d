"""Focal points, pair files and source strengths in Circuitscape's formats.

Focal points come from a raster (cells > 0 are points, id = value) or a text file of
``id x y`` rows in map coordinates, told apart by content as Circuitscape does (a file that
starts with an ASCII-grid header, or a binary file such as a GeoTIFF, is a raster). Several cells with one id form a focal region.
Points are returned sorted by id as ``{id: flat cell indices}`` (cells in file order for
text files, column-major for rasters, so the first cell is Circuitscape's representative).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import InputError
from .notice import warn_user
from .raster import GZIP_MAGIC, GridSpec, check_same_grid, is_ascii_grid, read_raster


def _numeric_rows(path: Path, ncols_min: int, what: str) -> list[list[float]]:
    if not path.exists():
        raise InputError(f"{what} file not found: {path}")
    rows = []
    for lineno, raw in enumerate(path.read_text(errors="replace").splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        parts = line.replace(",", " ").split()
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            if not rows:  # a header line
                continue
            raise InputError(f"{what} {path} line {lineno}: expected numbers, got {line!r}") from None
        if len(vals) < ncols_min:
            raise InputError(f"{what} {path} line {lineno}: expected {ncols_min} columns, got {len(vals)}")
        rows.append(vals)
    return rows


def _as_id(value: float, path, what: str) -> int:
    if value != int(value):
        raise InputError(f"{what} {path}: ids must be whole numbers, got {value:g}")
    return int(value)


def point_cells_from_raster(points: np.ndarray) -> dict[int, np.ndarray]:
    """{id: flat indices} from a point raster (NaN = none; ids <= 0 ignored)."""
    m, n = points.shape
    vals = np.where(np.isnan(points), 0, points)
    order = np.flatnonzero((vals > 0).T.ravel())  # column-major positions
    rows, cols = order % m, order // m
    ids = vals[rows, cols]
    out: dict[int, list[int]] = {}
    for i, r, c in zip(ids, rows, cols):
        if i != int(i):
            raise InputError(f"point raster has a non-integer id {i:g} at row {r}, column {c}")
        out.setdefault(int(i), []).append(int(r * n + c))
    return {k: np.asarray(out[k], dtype=np.int64) for k in sorted(out)}


def cell_of_xy(x: float, y: float, spec: GridSpec) -> tuple[int, int]:
    """Row and column (0-based) of map coordinates, Circuitscape's rule (cells closed on the top/left)."""
    t = spec.transform
    m, _ = spec.shape
    cs = abs(t.a)
    yll = t.f + m * t.e
    row = math.ceil(m - (y - yll) / cs) - 1
    col = math.ceil((x - t.c) / cs) - 1
    return row, col


def point_cells_from_text(path: Path, spec: GridSpec) -> dict[int, np.ndarray]:
    m, n = spec.shape
    out: dict[int, list[int]] = {}
    for vals in _numeric_rows(path, 3, "point file"):
        pid = _as_id(vals[0], path, "point file")
        r, c = cell_of_xy(vals[1], vals[2], spec)
        if not (0 <= r < m and 0 <= c < n):
            raise InputError(
                f"point {pid} at ({vals[1]:g}, {vals[2]:g}) in {path} lies outside the habitat raster"
            )
        out.setdefault(pid, []).append(r * n + c)
    if not out:
        raise InputError(f"point file {path} holds no points")
    return {k: np.asarray(out[k], dtype=np.int64) for k in sorted(out) if k > 0}


def is_text_list(path) -> bool:
    """True for a plain-text list (``id x y`` / ``value x y`` rows), False for any raster.

    Decided by content, never by the file name: an ASCII-grid header means a grid; gzip or
    bytes that are not text (NUL bytes, invalid UTF-8: a GeoTIFF, an .img) mean a raster.
    """
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(GZIP_MAGIC) or b"\0" in head or is_ascii_grid(path):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        return err.start >= len(head) - 3  # only a multi-byte character cut at the end
    return True


def read_points(path, spec: GridSpec) -> dict[int, np.ndarray]:
    """Focal points from a raster (GeoTIFF, ASCII grid, ...) or an ``id x y`` text list, by content."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"point file not found: {path}")
    if is_text_list(path):
        return point_cells_from_text(path, spec)
    data, pspec = read_raster(path, "point raster")
    check_same_grid(spec, pspec, "habitat raster", "point raster", path)
    pts = point_cells_from_raster(data)
    if not pts:
        raise InputError(f"point raster {path} holds no points (no cell > 0)")
    return pts


def grid_from_text(path, spec: GridSpec, what: str, fill: float) -> np.ndarray:
    """A grid from a ``value x y`` text list (Circuitscape's source / ground lists): each value on
    the cell holding (x, y), ``fill`` elsewhere.

    Several lines on one cell: the last one wins, as in Circuitscape (it assigns the list into the
    grid, it does not add), and a warning names the cells so that nothing is lost silently.
    """
    path = Path(path)
    m, n = spec.shape
    out = np.full(spec.shape, fill, dtype=np.float64)
    seen: set[tuple[int, int]] = set()
    repeated: list[str] = []
    for vals in _numeric_rows(path, 3, what):
        r, c = cell_of_xy(vals[1], vals[2], spec)
        if not (0 <= r < m and 0 <= c < n):
            raise InputError(f"{what} {path}: value {vals[0]:g} at ({vals[1]:g}, {vals[2]:g}) lies outside "
                             "the habitat raster")
        if (r, c) in seen:
            repeated.append(f"row {r}, column {c}")
        seen.add((r, c))
        out[r, c] = vals[0]
    if not seen:
        raise InputError(f"{what} {path} holds no values")
    if repeated:
        warn_user(f"{what} {path} gives several values for {len(repeated)} cell(s) ({'; '.join(repeated[:5])}"
                  f"{'; ...' if len(repeated) > 5 else ''}): the last line for each cell is used")
    return out


def read_source_strengths(path) -> dict[int, float]:
    """Variable source strengths: ``id strength`` rows."""
    path = Path(path)
    out = {}
    for vals in _numeric_rows(path, 2, "variable source strength"):
        out[_as_id(vals[0], path, "variable source strength file")] = vals[1]
    return out


def read_included_pairs(path, ids: list[int], prune_exclude: bool = False) -> tuple[list[int], np.ndarray]:
    """The focal ids kept and a boolean matrix of the pairs to solve among them.

    In include mode (and the matrix format) ids the file does not mention are dropped, as
    Circuitscape does; in exclude mode every id is kept, unless ``prune_exclude`` (Circuitscape's
    one-to-all and all-to-one drop unmentioned ids in both modes). Ids in the file that are not focal
    points are ignored with one warning line naming them; if no pair is left, it is an error.

    Two formats: a first line ``mode include`` or ``mode exclude`` followed by ``id id`` pairs;
    or Circuitscape's matrix format: first line ``min <v>``, second ``max <v>``, then a matrix
    whose first row and column are ids and whose entries select pairs with min <= value <= max.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"included pairs file not found: {path}")
    lines = [ln.split() for ln in path.read_text(errors="replace").splitlines() if ln.strip() and ln.strip()[0] not in "#;"]
    if not lines:
        raise InputError(f"included pairs file {path} is empty")
    pos = {pid: i for i, pid in enumerate(ids)}
    k = len(ids)
    head = lines[0][0].lower()
    if head == "mode":
        mode = lines[0][1].lower() if len(lines[0]) > 1 else ""
        if mode not in ("include", "exclude"):
            raise InputError(f"included pairs file {path}: first line must be 'mode include' or 'mode exclude'")
        chosen = np.zeros((k, k), bool)
        unknown: set[int] = set()
        for ln in lines[1:]:
            try:
                a, b = int(float(ln[0])), int(float(ln[1]))
            except (ValueError, IndexError):
                raise InputError(f"included pairs file {path}: bad pair line {' '.join(ln)!r}") from None
            unknown.update(i for i in (a, b) if i not in pos)
            if a in pos and b in pos:
                chosen[pos[a], pos[b]] = chosen[pos[b], pos[a]] = True
        if mode == "exclude":
            if not (~chosen)[~np.eye(k, dtype=bool)].any():
                raise InputError(f"included pairs file {path} excludes every pair of the focal points")
            _warn_unknown(path, unknown)
            if not prune_exclude:
                return list(ids), ~chosen
            kept, chosen = _prune(ids, chosen)
            if not kept:
                raise InputError(f"included pairs file {path} names none of the focal points")
            return kept, ~chosen
        return _selected(path, ids, chosen, unknown)
    if head == "min":
        try:
            lo = float(lines[0][1])
            hi = float(lines[1][1])
            mat = np.array([[float(v) for v in ln] for ln in lines[2:]])
        except (ValueError, IndexError):
            raise InputError(f"included pairs file {path}: malformed min/max matrix") from None
        col_ids = [int(v) for v in mat[0, 1:]]
        chosen = np.zeros((k, k), bool)
        for r in mat[1:]:
            a = int(r[0])
            for b, v in zip(col_ids, r[1:]):
                if a in pos and b in pos and lo <= v <= hi:
                    chosen[pos[a], pos[b]] = chosen[pos[b], pos[a]] = True
        return _selected(path, ids, chosen, {i for i in [*col_ids, *(int(r[0]) for r in mat[1:])] if i not in pos})
    raise InputError(f"included pairs file {path}: first line must be 'mode include|exclude' or 'min <value>'")


def _unknown_text(unknown: set[int]) -> str:
    return f"id(s) {', '.join(map(str, sorted(unknown)))} that are not focal points"


def _warn_unknown(path, unknown: set[int]) -> None:
    if unknown:
        warn_user(f"included pairs file {path} names {_unknown_text(unknown)}: their pairs are ignored")


def _selected(path, ids: list[int], chosen: np.ndarray, unknown: set[int]) -> tuple[list[int], np.ndarray]:
    """Include mode: the pairs chosen, or one error (naming unknown ids) when none is left."""
    if not chosen.any():
        why = f" (it names {_unknown_text(unknown)})" if unknown else ""
        raise InputError(f"included pairs file {path} selects no pair of the focal points{why}")
    _warn_unknown(path, unknown)
    return _prune(ids, chosen)


def _prune(ids: list[int], chosen: np.ndarray) -> tuple[list[int], np.ndarray]:
    keep = np.flatnonzero(chosen.any(axis=1))
    return [ids[i] for i in keep], chosen[np.ix_(keep, keep)]
