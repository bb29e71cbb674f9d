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


def _split(r0, r1, c0, c1, leaf, out) -> int:
    h, w = r1 - r0, c1 - c0
    if h * w <= leaf:
        out.append(((r0, r1, c0, c1), (r0, r1, c0, c1), ()))
        return len(out) - 1
    if h >= w:  # cut the longer side: separators stay short
        mid = (r0 + r1) // 2
        own, parts = (mid, mid + 1, c0, c1), [(r0, mid, c0, c1), (mid + 1, r1, c0, c1)]
    else:
        mid = (c0 + c1) // 2
        own, parts = (r0, r1, mid, mid + 1), [(r0, r1, c0, mid), (r0, r1, mid + 1, c1)]
    kids = tuple(_split(*p, leaf, out) for p in parts if p[1] > p[0] and p[3] > p[2])
    out.append((own, (r0, r1, c0, c1), kids))
    return len(out) - 1


def bisection_tree(shape: tuple[int, int], leaf: int = LEAF_CELLS) -> list[tuple[tuple, tuple, tuple]]:
    """The dissection of an (m, n) rectangle as a post-order list (children before their parent)
    of ``(own box, subtree rectangle, child indices)``, boxes as ``(r0, r1, c0, c1)``: a leaf owns
    its whole rectangle; any other node owns the middle row (or column) of the longer side that
    separates its two halves. Shared by the sparse LU's ordering and the batched window solver.
    (A module-level recursion: a recursive closure would be a reference cycle holding the tree, and
    with it whatever its frame holds, until the garbage collector runs.)"""
    out: list[tuple[tuple, tuple, tuple]] = []
    if shape[0] > 0 and shape[1] > 0:
        _split(0, shape[0], 0, shape[1], leaf, out)
    return out


def grid_rank(shape: tuple[int, int], leaf: int = LEAF_CELLS) -> np.ndarray:
    """(m, n) elimination rank of every cell of the rectangle: halves before their separator,
    leaves column by column."""
    rank = np.empty(shape, dtype=np.int64)
    nxt = 0
    for (r0, r1, c0, c1), _, _ in bisection_tree(shape, leaf):
        h, w = r1 - r0, c1 - c0
        rank[r0:r1, c0:c1] = np.arange(nxt, nxt + h * w).reshape(w, h).T
        nxt += h * w
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
