"""Nested-dissection ordering of a raster circuit's unknowns, for the sparse LU.

A grid is split in two by one row or column of cells (even with diagonal edges, no edge jumps
over a whole line), each half is split again, and every separator is numbered after the two
halves it separates. Eliminating in that order keeps the fill of a 2-D grid at O(n log n) and,
unlike a minimum-degree ordering, costs almost nothing to compute: the ordering is made on the
full rectangle and cells without an unknown simply drop out. Measured with SuperLU on 8-neighbour
grids: 0.9 M unknowns, factorisation 117 s -> 8.8 s CPU, L+U 110 M -> 97 M nonzeros.

Merged regions (one unknown for many cells) are numbered last: their node touches every
neighbour of the region, so it belongs to the top separator.
"""
from __future__ import annotations

import numpy as np

# boxes of at most this many cells are numbered column by column rather than split further
LEAF_CELLS = 64


def grid_rank(shape: tuple[int, int], leaf: int = LEAF_CELLS) -> np.ndarray:
    """(m, n) elimination rank of every cell of the rectangle: halves before their separator."""
    m, n = shape
    rank = np.empty((m, n), dtype=np.int64)
    nxt = 0

    def number(r0, r1, c0, c1):
        nonlocal nxt
        h, w = r1 - r0, c1 - c0
        if h <= 0 or w <= 0:
            return
        if h * w <= leaf:
            rank[r0:r1, c0:c1] = np.arange(nxt, nxt + h * w).reshape(w, h).T
            nxt += h * w
            return
        if h >= w:  # cut the longer side: separators stay short
            mid = (r0 + r1) // 2
            number(r0, mid, c0, c1)
            number(mid + 1, r1, c0, c1)
            rank[mid, c0:c1] = np.arange(nxt, nxt + w)
            nxt += w
        else:
            mid = (c0 + c1) // 2
            number(r0, r1, c0, mid)
            number(r0, r1, mid + 1, c1)
            rank[r0:r1, mid] = np.arange(nxt, nxt + h)
            nxt += h

    number(0, m, 0, n)
    return rank


# the rectangle is dissected whole, so it must be mostly unknowns: a few scattered over a large
# grid (a small component of a big raster) are better ordered by minimum degree
MAX_CELLS_PER_UNKNOWN = 4


def dissection_order(uid: np.ndarray, merge: np.ndarray, n: int) -> np.ndarray | None:
    """Permutation of the ``n`` unknowns (``uid``: cell -> unknown, -1 for none) in
    nested-dissection order (``perm[k]`` is the unknown eliminated k-th), made on the bounding box
    of the unknowns; None when that box is mostly cells without one."""
    own = (uid >= 0) & (merge == 0)
    rows, cols = np.flatnonzero(own.any(axis=1)), np.flatnonzero(own.any(axis=0))
    if not rows.size:
        return None
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    if own[box].size > MAX_CELLS_PER_UNKNOWN * n:
        return None
    rank = grid_rank(own[box].shape)
    key = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)  # merged regions: last
    inside = own[box]
    key[uid[box][inside]] = rank[inside]
    return np.argsort(key, kind="stable")
