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


def dissection_order(uid: np.ndarray, merge: np.ndarray, n: int) -> np.ndarray:
    """Permutation of the ``n`` unknowns (``uid``: cell -> unknown, -1 for none) in
    nested-dissection order: ``perm[k]`` is the unknown eliminated k-th."""
    rank = grid_rank(uid.shape)
    key = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)  # merged regions: last
    own = (uid >= 0) & (merge == 0)
    key[uid[own]] = rank[own]
    return np.argsort(key, kind="stable")
