"""The tile smoother's group solve as one compiled loop on the host (numba): the same arithmetic as
``tile_smoother``'s array code, tile by tile, without its temporaries.

Why: NumPy runs the batched 8 x 8 products of a tile solve at its per-call speed (about 30 us for a
few hundred tiles), so on the CPU a tile sweep cost as much as the level's point sweeps (16 M cells,
8 neighbours: one cycle 2.1 -> 3.3 CPU s with the tiles). The loop reads each tile's patch once,
forms the residual, runs the two block triangular solves and adds the correction, in float64 within
the tile. Used only on large grids with many tiles (``MIN_CELLS``, ``MIN_TILE_CELLS``): importing
numba costs a process ~140 MB of resident memory, worth it for a large job, not a small one. Where
numba is missing the array code runs, as on a GPU.
"""
from __future__ import annotations

import threading

import numpy as np

from ..backend import compile_loop, numba_available
from .coarsening import OFFSETS

# cells of the finest grid (a Schur complement's rectangle: about the raster's) from which a hierarchy's
# tile levels use the compiled loop: a job of 0.5 GB and more, where numba's 140 MB weigh little (a raster
# job of 1 M cells or more with current maps loads numba for them anyway, ``currents_compiled``). 16 M
# cells, 8 neighbours: one cycle 3.3 CPU s with the array code, 2.5-2.7 with the loop, 2.0 without
# tiles; 4 M cells, 4 neighbours (tiles on the Schur complement's finest level): solve 13.8 / 21.7 s
# with the array code, 9.4 / 12.3 with the loop
MIN_CELLS = 2_000_000
# and tile cells over all its levels: a landscape with few high-contrast tiles (BigTests' 1-100, 24 M
# cells) keeps the array code and does not load numba for them
MIN_TILE_CELLS = 1 << 20
_DI = np.array([o[0] for o in OFFSETS], dtype=np.int64)
_DJ = np.array([o[1] for o in OFFSETS], dtype=np.int64)
_lock = threading.Lock()
_compiled = {}


def _group(xf, bf, origin, coef, dinv, sub, width, di, dj):
    """Exact solves on the tiles of one group, in place on xf (k, N): for each tile and right-hand
    side, r = b - A x on the tile (its ring read from xf), L L^T z = r by blocks of tile rows, x += z."""
    k = xf.shape[0]
    t = origin.shape[0]
    B = dinv.shape[1]
    r = np.empty((B, B))
    y = np.empty((B, B))
    for i in range(t):
        o = origin[i]
        for kk in range(k):
            for a in range(B):
                for c in range(B):
                    p = o + a * width + c
                    v = bf[kk, p] - coef[0, i, a, c] * xf[kk, p]
                    for j in range(8):
                        v += coef[j + 1, i, a, c] * xf[kk, p + di[j] * width + dj[j]]
                    r[a, c] = v
            for q in range(B):  # L y = r
                for c in range(B):
                    v = r[q, c]
                    if q:
                        for e in range(B):
                            v -= sub[i, q - 1, c, e] * y[q - 1, e]
                    r[q, c] = v
                for c in range(B):
                    v = 0.0
                    for e in range(B):
                        v += dinv[i, q, c, e] * r[q, e]
                    y[q, c] = v
            for q in range(B - 1, -1, -1):  # L^T z = y (z kept in r)
                for c in range(B):
                    v = y[q, c]
                    if q < B - 1:
                        for e in range(B):
                            v -= sub[i, q, e, c] * r[q + 1, e]
                    y[q, c] = v
                for c in range(B):
                    v = 0.0
                    for e in range(B):
                        v += dinv[i, q, e, c] * y[q, e]
                    r[q, c] = v
            for a in range(B):
                for c in range(B):
                    xf[kk, o + a * width + c] += r[a, c]


def wanted(cells: int, tile_cells: int | None = None) -> bool:
    """Whether the tile levels of a hierarchy on a grid of ``cells`` cells, with ``tile_cells`` tile
    cells (None: not known yet), use the compiled loop."""
    many = tile_cells is None or tile_cells >= MIN_TILE_CELLS
    return cells >= MIN_CELLS and many and numba_available()


def solve_group(xf, bf, origin, coef, dinv, sub, width: int) -> None:
    with _lock:
        if not _compiled:
            _compiled["group"] = compile_loop(_group)
    _compiled["group"](xf, bf, origin, coef, dinv, sub, width, _DI, _DJ)
