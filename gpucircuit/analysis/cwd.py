"""Cost-weighted distance (CWD) on a resistance raster, as Linkage Mapper defines it.

Graph: every valid cell (finite, non-negative resistance) is a node joined to its 8 neighbours.
A cardinal step between cells with resistances r1 and r2 costs ``(r1 + r2) / 2`` times the
step length (the cell width or height); a diagonal step costs the same average times the
diagonal length (``sqrt(2) * cellsize`` for square cells). Nodata cells are impassable.
Distances are 0 inside the source cells; unreachable cells (and cells beyond ``max_distance``)
get ``inf``.

Two exact engines give the same answer to floating-point accuracy:

``"dijkstra"``
    :func:`scipy.sparse.csgraph.dijkstra` on the CSR graph, all source cells at once
    (``min_only=True``). The CPU path.
``"sweep"``
    Array-parallel Bellman-Ford relaxation to a fixed point: each pass relaxes the 8 directions,
    and each direction is a min-plus *scan* along that direction done by recursive doubling
    (log2(n) shifted minima), so a straight run of any length is relaxed in one pass and the
    number of passes is about the number of turns in the longest shortest path. Everything is
    whole-array slicing through the backend's ``xp`` namespace, so it runs on CuPy unchanged;
    it is the GPU path. A leading batch axis (several sources at once) is supported.

``method="auto"`` picks ``sweep`` on a GPU backend and ``dijkstra`` on the CPU.
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..backend import get_backend, to_host
from ..errors import InputError

#: the four "forward" neighbour offsets; the other four are their negatives
_FORWARD = ((0, 1), (1, 0), (1, 1), (1, -1))
_DIRECTIONS = _FORWARD + tuple((-a, -b) for a, b in _FORWARD)


def cell_steps(cellsize) -> tuple[float, float]:
    """``(dx, dy)``: cell width and height in map units from a number, ``(dx, dy)`` or ``(dx,)``;
    signs are dropped (a raster's y resolution is negative). The one cell-size parser."""
    cs = np.atleast_1d(np.asarray(cellsize, dtype=np.float64)).ravel()
    dx, dy = (abs(float(cs[0])), abs(float(cs[-1]))) if cs.size in (1, 2) else (math.nan, math.nan)
    if not (dx > 0 and dy > 0 and math.isfinite(dx) and math.isfinite(dy)):
        raise InputError(f"cell size must be a positive, finite number or (xres, yres), got {cellsize!r}")
    return dx, dy


def step_length(di: int, dj: int, dx: float, dy: float) -> float:
    """Length in map units of a step of ``di`` rows and ``dj`` columns (each -1, 0 or 1)."""
    return math.hypot(di * dy, dj * dx)


def _check_resistance(resistance) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(to_host(resistance), dtype=np.float64)
    if r.ndim != 2:
        raise InputError(f"resistance must be a 2-D raster, got shape {r.shape}")
    valid = np.isfinite(r)
    if np.any(r[valid] < 0):
        i, j = np.argwhere(valid & (r < 0))[0]
        raise InputError(f"resistance has a negative value {r[i, j]:g} at row {i}, column {j}")
    return r, valid


def _shift_slices(di: int, dj: int, s: int):
    """Slices (dst, src) so that ``a[dst]`` and ``a[src]`` pair cell x with x - s*(di, dj)."""

    def axis(d):
        if d > 0:
            return slice(d * s, None), slice(None, -d * s)
        if d < 0:
            return slice(None, d * s), slice(-d * s, None)
        return slice(None), slice(None)

    (rd, rs), (cd, cs) = axis(di), axis(dj)
    return (Ellipsis, rd, cd), (Ellipsis, rs, cs)


class CostSurface:
    """A resistance raster ready for repeated cost-distance queries (graph built once).

    ``resistance``: 2-D array; NaN or inf = nodata (impassable); negative values are an error.
    ``cellsize``: scalar or ``(dx, dy)`` in map units.
    """

    def __init__(self, resistance, cellsize=1.0):
        self.resistance, self.valid = _check_resistance(resistance)
        self.shape = self.resistance.shape
        self.dx, self.dy = cell_steps(cellsize)
        self._graph = None
        self._device_r = None

    # -- graph (CPU path) ---------------------------------------------------------------
    @property
    def graph(self):
        """Directed CSR graph on row-major cell indices (nodata cells have no edges)."""
        if self._graph is None:
            self._graph = cost_graph(self.resistance, (self.dx, self.dy))
        return self._graph

    # -- queries --------------------------------------------------------------------------
    def distance(self, sources, *, max_distance: float | None = None, method: str = "auto") -> np.ndarray:
        """CWD from ``sources`` (bool mask of the raster's shape, or a stack ``(k, rows, cols)``).

        Returns a float64 host array of the same shape as ``sources``; ``inf`` where unreachable,
        on nodata, or beyond ``max_distance``.
        """
        src = np.asarray(to_host(sources)).astype(bool)
        if src.shape[-2:] != self.shape or src.ndim not in (2, 3):
            raise InputError(f"source mask has shape {src.shape}, but the resistance raster is {self.shape}")
        method = _pick_method(method)
        if method == "dijkstra":
            if src.ndim == 3:
                return np.stack([self._dijkstra(s, max_distance) for s in src])
            return self._dijkstra(src, max_distance)
        return self._sweep(src, max_distance)

    def _dijkstra(self, src: np.ndarray, max_distance) -> np.ndarray:
        from scipy.sparse.csgraph import dijkstra

        idx = np.flatnonzero(src & self.valid)
        if idx.size == 0:
            return np.full(self.shape, np.inf)
        limit = np.inf if max_distance is None else float(max_distance)
        d = dijkstra(self.graph, directed=True, indices=idx, min_only=True, limit=limit)
        return d.reshape(self.shape)

    def _sweep(self, src: np.ndarray, max_distance) -> np.ndarray:
        backend = get_backend()
        xp = backend.xp
        if self._device_r is None:
            self._device_r = xp.asarray(np.where(self.valid, self.resistance, np.inf))
        d = sweep_cost_distance(
            self._device_r, xp.asarray(src & self.valid), self.dx, self.dy, max_distance=max_distance, xp=xp
        )
        return to_host(d)


def pick_method(method: str) -> str:
    """Resolve ``auto`` to ``sweep`` on a GPU backend and ``dijkstra`` on the CPU."""
    return _pick_method(method)


def _pick_method(method: str) -> str:
    method = method.lower()
    if method == "auto":
        return "sweep" if get_backend().is_gpu else "dijkstra"
    if method not in ("dijkstra", "sweep"):
        raise InputError(f"unknown cost-distance method {method!r}: choose auto, dijkstra or sweep")
    return method


def cost_graph(resistance, cellsize=1.0):
    """The 8-neighbour CWD graph as a scipy CSR matrix on row-major cell indices."""
    from scipy.sparse import csr_matrix

    r, valid = _check_resistance(resistance)
    dx, dy = cell_steps(cellsize)
    m, n = r.shape
    index = np.arange(m * n).reshape(m, n)
    rows, cols, weights = [], [], []
    for di, dj in _FORWARD:
        dst, srcs = _shift_slices(di, dj, 1)
        ok = valid[dst] & valid[srcs]
        a, b = index[srcs][ok], index[dst][ok]
        w = (r[srcs][ok] + r[dst][ok]) * (0.5 * step_length(di, dj, dx, dy))
        rows += [a, b]
        cols += [b, a]
        weights += [w, w]
    rows, cols, weights = np.concatenate(rows), np.concatenate(cols), np.concatenate(weights)
    return csr_matrix((weights, (rows, cols)), shape=(m * n, m * n))


def _edge_costs(r, dx: float, dy: float, xp):
    """Symmetric edge costs stored at the lower/right cell: ``(V, D1, D2, H)``.

    ``V[i, j]``: (i-1, j)-(i, j); ``D1[i, j]``: (i-1, j-1)-(i, j); ``D2[i, j]``: (i-1, j+1)-(i, j);
    ``H[i, j]``: (i, j-1)-(i, j). ``inf`` where the other cell is outside the raster or nodata.
    """
    m, n = r.shape
    v, d1, d2, h = (xp.full((m, n), xp.inf) for _ in range(4))
    diag = 0.5 * math.hypot(dx, dy)
    v[1:, :] = (r[1:, :] + r[:-1, :]) * (0.5 * dy)
    d1[1:, 1:] = (r[1:, 1:] + r[:-1, :-1]) * diag
    d2[1:, :-1] = (r[1:, :-1] + r[:-1, 1:]) * diag
    h[:, 1:] = (r[:, 1:] + r[:, :-1]) * (0.5 * dx)
    return v, d1, d2, h


def _scan_row(t, h, xp, reverse: bool):
    """In-place min-plus scan along the last axis: t[j] = min(t[j], t[j-1] + h[j]) (or leftwards).

    ``h[j]`` is the cost between cells j-1 and j. Recursive doubling: log2(n) shifted minima.
    """
    n = t.shape[-1]
    w, s = h, 1
    while s < n:
        if reverse:  # t[j] <- t[j+s] + cost(j..j+s) ; cost(j..j+s) = w[j+s]
            t[..., :-s] = xp.minimum(t[..., :-s], t[..., s:] + w[s:])
        else:
            t[..., s:] = xp.minimum(t[..., s:], t[..., :-s] + w[s:])
        if 2 * s < n:
            w2 = xp.full(w.shape, xp.inf)
            w2[s:] = w[s:] + w[:-s]
            w = w2
        s *= 2


def _row_sweep(d, costs, xp, reverse: bool):
    """Gauss-Seidel sweep over rows (top to bottom, or bottom to top when ``reverse``).

    Each row takes the best of the three neighbours in the row already swept, then relaxes along
    the row both ways; any path whose row index never moves against the sweep is finished in one
    sweep. ``d`` is ``(..., rows, cols)`` and is updated in place.
    """
    v, d1, d2, h = costs
    m = d.shape[-2]
    rows = range(m - 2, -1, -1) if reverse else range(1, m)
    for i in rows:
        t = d[..., i, :]
        if reverse:  # neighbour row i+1; edge costs are stored at row i+1
            p, cv, c1, c2 = d[..., i + 1, :], v[i + 1], d1[i + 1], d2[i + 1]
            t = xp.minimum(t, p + cv)
            t[..., :-1] = xp.minimum(t[..., :-1], p[..., 1:] + c1[1:])  # (i+1, j+1) -> (i, j)
            t[..., 1:] = xp.minimum(t[..., 1:], p[..., :-1] + c2[:-1])  # (i+1, j-1) -> (i, j)
        else:
            p, cv, c1, c2 = d[..., i - 1, :], v[i], d1[i], d2[i]
            t = xp.minimum(t, p + cv)
            t[..., 1:] = xp.minimum(t[..., 1:], p[..., :-1] + c1[1:])  # (i-1, j-1) -> (i, j)
            t[..., :-1] = xp.minimum(t[..., :-1], p[..., 1:] + c2[:-1])  # (i-1, j+1) -> (i, j)
        _scan_row(t, h[i], xp, reverse=False)
        _scan_row(t, h[i], xp, reverse=True)
        d[..., i, :] = t
    # the first swept row only relaxes along itself
    first = m - 1 if reverse else 0
    t = d[..., first, :]
    _scan_row(t, h[first], xp, reverse=False)
    _scan_row(t, h[first], xp, reverse=True)


def sweep_cost_distance(resistance, sources, dx: float, dy: float, *, max_distance=None, xp=None, max_passes=None):
    """Array-parallel exact CWD by relaxation to a fixed point (see module docstring).

    ``resistance``: ``xp`` array with ``inf`` on nodata; ``sources``: bool ``xp`` array of shape
    ``(rows, cols)`` or ``(k, rows, cols)``. Returns an ``xp`` float64 array shaped like ``sources``.

    One pass = four Gauss-Seidel sweeps (down, up, right, left); inside a sweep every row (or
    column) is relaxed as one vector, with min-plus scans along it by recursive doubling. Passes
    repeat until nothing changes; each pass costs one host sync.
    """
    xp = xp or get_backend().xp
    r = resistance
    limit = None if max_distance is None else float(max_distance)
    d = xp.where(sources & xp.isfinite(r), 0.0, xp.inf).astype(xp.float64)
    rows = _edge_costs(r, dx, dy, xp)
    # the column sweeps are row sweeps on the transposed grid (views, updated in place)
    cols = _edge_costs(r.T, dy, dx, xp)
    dT = xp.swapaxes(d, -1, -2)
    max_passes = max_passes or (r.size + 1)
    for _ in range(max_passes):
        before = d.copy()
        _row_sweep(d, rows, xp, reverse=False)
        _row_sweep(d, rows, xp, reverse=True)
        _row_sweep(dT, cols, xp, reverse=False)
        _row_sweep(dT, cols, xp, reverse=True)
        if limit is not None:
            d[d > limit] = xp.inf
        if not bool(xp.any(d != before)):
            break
    return d


def cost_distance(resistance, sources, cellsize=1.0, *, max_distance: float | None = None, method: str = "auto"):
    """CWD from the ``sources`` mask over ``resistance`` (one-off; use :class:`CostSurface` to reuse)."""
    return CostSurface(resistance, cellsize).distance(sources, max_distance=max_distance, method=method)


def trace_least_cost_path(cwd: np.ndarray, resistance: np.ndarray, start: tuple[int, int], cellsize=1.0) -> np.ndarray:
    """Cells ``(row, col)`` of the least-cost path from ``start`` down to the source (CWD 0).

    Each step goes to the neighbour ``n`` that minimises ``cwd[n] + cost(n -> current)``, i.e. the
    Dijkstra predecessor (the back-link of ArcGIS's cost path); ties go to the lower ``cwd[n]``.
    Returns an ``(k, 2)`` int array starting at ``start`` and ending on a source cell.
    """
    dx, dy = cell_steps(cellsize)
    cwd = np.asarray(cwd)
    r = np.asarray(resistance)
    m, n = cwd.shape
    i, j = int(start[0]), int(start[1])
    if not np.isfinite(cwd[i, j]):
        raise InputError(f"cannot trace a least-cost path from unreachable cell ({i}, {j})")
    path = [(i, j)]
    seen = {(i, j)}
    lengths = {(a, b): step_length(a, b, dx, dy) for a, b in _DIRECTIONS}
    while cwd[i, j] > 0:
        best = None
        for (a, b), length in lengths.items():
            p, q = i + a, j + b
            if not (0 <= p < m and 0 <= q < n) or (p, q) in seen or not np.isfinite(cwd[p, q]):
                continue
            cand = (cwd[p, q] + 0.5 * (r[p, q] + r[i, j]) * length, cwd[p, q])
            if best is None or cand < best[0]:
                best = (cand, (p, q))
        if best is None:  # pragma: no cover - cannot happen on a consistent CWD surface
            raise InputError(f"least-cost path from {tuple(start)} is stuck at ({i}, {j})")
        i, j = best[1]
        path.append((i, j))
        seen.add((i, j))
    return np.asarray(path, dtype=np.int64)


def path_length(path: np.ndarray, cellsize=1.0) -> float:
    """Length in map units of a cell path (sum of step lengths between consecutive cells)."""
    dx, dy = cell_steps(cellsize)
    if len(path) < 2:
        return 0.0
    steps = np.diff(np.asarray(path, dtype=np.float64), axis=0)
    return float(np.hypot(steps[:, 0] * dy, steps[:, 1] * dx).sum())


def min_over(values: np.ndarray, mask: np.ndarray) -> tuple[float, tuple[int, int] | None]:
    """Minimum of ``values`` over ``mask`` and the first (row-major) cell attaining it."""
    sub = np.where(mask, values, np.inf)
    k = int(np.argmin(sub))
    v = float(sub.flat[k])
    if not np.isfinite(v):
        return np.inf, None
    return v, tuple(int(x) for x in np.unravel_index(k, sub.shape))


__all__: Iterable[str] = [
    "CostSurface", "cost_distance", "pick_method", "cost_graph", "sweep_cost_distance", "trace_least_cost_path",
    "path_length", "min_over", "cell_steps", "step_length",
]
