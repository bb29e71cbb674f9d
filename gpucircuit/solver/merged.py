"""Merged regions (short-circuit polygons, focal regions) on the matrix-free grid path.

A merged region is one node spread over several cells. On the grid we keep one unknown per
region at a representative cell; the region's other cells are identity rows. The exact operator
copies the representative's voltage onto the region's cells, applies the grid stencil, and sums
the region's rows back into the representative (Z^T L Z, with Z the copy). Edges inside a region
then carry no current, as in Circuitscape.

The preconditioner is the grid multigrid built on the same grid with every edge inside a region
made very strong (the region behaves as one near-equipotential inclusion), read only at the
representatives: M = S^T MG S + identity on the other region cells, which stays SPD.
"""
from __future__ import annotations

import numpy as np

from ..backend import array_module
from ..edges import GridEdges, neighbour_view

STRONG = 100.0  # intra-region edges in the preconditioner, times the largest edge (measured: 14 CG
# iterations in fp32 and fp64 on a 1e4-contrast grid with disc regions; 1e4 breaks fp32 cycles: 171)


def _scatter_add(xp, target, idx, values):
    """target[..., idx] += values, accumulating repeated indices (NumPy or CuPy)."""
    if xp is np:
        np.add.at(target, (slice(None), idx), values)
    else:
        import cupyx

        cupyx.scatter_add(target, (slice(None), idx), values)


class MergedGrid:
    """Region bookkeeping for grid vectors (k, m, n); ``merge`` labels regions on active cells."""

    def __init__(self, merge: np.ndarray, active: np.ndarray, xp=np, degree: np.ndarray | None = None):
        self.xp = xp
        self.shape = merge.shape
        cells = np.flatnonzero((merge > 0).ravel() & active.ravel())
        labels = merge.ravel()[cells]
        # the representative is the region's best-connected cell (an isolated one would make a
        # poor preconditioner row)
        deg = np.zeros(cells.size) if degree is None else np.asarray(degree).ravel()[cells]
        order = np.lexsort((-deg, labels))
        cells, labels = cells[order], labels[order]
        first = np.r_[True, labels[1:] != labels[:-1]] if cells.size else np.zeros(0, bool)
        rep_of_label = dict(zip(labels[first].tolist(), cells[first].tolist()))
        others = ~first
        self.reps = xp.asarray(cells[first])
        self.nonrep = xp.asarray(cells[others])
        self.rep_of_nonrep = xp.asarray(np.array([rep_of_label[v] for v in labels[others].tolist()], dtype=np.int64))

    @property
    def empty(self) -> bool:
        return int(self.nonrep.size) == 0

    def _flat(self, x):
        return x.reshape(x.shape[0], -1)

    def spread(self, x):
        """Copy of x with each region's cells set to its representative's value."""
        y = x.copy()
        yf = self._flat(y)
        yf[:, self.nonrep] = yf[:, self.rep_of_nonrep]
        return y

    def gather_rhs(self, b):
        """Injections on a region's cells moved to its representative (others zero)."""
        y = b.copy()
        yf = self._flat(y)
        _scatter_add(self.xp, yf, self.rep_of_nonrep, yf[:, self.nonrep])
        yf[:, self.nonrep] = 0
        return y

    def operator(self, grid_apply):
        """The exact node-space operator Z^T L Z (+ identity on non-representative cells)."""

        def apply(x):
            z = grid_apply(self.spread(x))
            zf = self._flat(z)
            _scatter_add(self.xp, zf, self.rep_of_nonrep, zf[:, self.nonrep])
            zf[:, self.nonrep] = self._flat(x)[:, self.nonrep]
            return z

        return apply

    def preconditioner(self, mg):
        """S^T MG S on representatives and own cells, identity on the other region cells."""

        def apply(r):
            squeeze = r.ndim == 2
            rb = r[None] if squeeze else r
            s = rb.copy()
            self._flat(s)[:, self.nonrep] = 0
            z = mg(s)
            zf = self._flat(z)
            zf[:, self.nonrep] = self._flat(rb)[:, self.nonrep]
            return z[0] if squeeze else z

        return apply


LEAK = 1e-2  # ground leak, relative to the diagonal, for grid pieces grounded only through a region


def leak_for_ungrounded(op, four_neighbors: bool):
    """Extra diagonal (host array) grounding the grid pieces of ``op`` that have no ground of their own.

    A region spanning separate grid pieces grounds them all in the exact operator, but the
    preconditioner's grid sees only neighbouring cells; without a leak its pieces would be singular.
    """
    import scipy.ndimage as ndi

    from ..backend import to_host

    xp = op.xp
    active = to_host(op.active)
    grounding = to_host(op.apply(xp.ones(op.shape, dtype=op.diag.dtype)))  # A·1 = edges to ground
    lab, n = ndi.label(active, structure=ndi.generate_binary_structure(2, 1 if four_neighbors else 2))
    if n == 0:
        return None
    per_piece = np.bincount(lab[active], weights=np.abs(grounding[active]), minlength=n + 1)
    scale = np.bincount(lab[active], weights=to_host(op.diag)[active], minlength=n + 1)
    floating = per_piece <= 1e-12 * np.maximum(scale, 1e-300)
    floating[0] = False
    if not floating.any():
        return None
    diag = to_host(op.diag)
    typical = float(np.median(diag[active])) if active.any() else 1.0
    return np.where(active & floating[lab], np.where(diag > 0, LEAK * diag, typical), 0.0)


def strengthen_regions(edges: GridEdges, merge) -> GridEdges:
    """Edges with both ends in the same region set to STRONG x the largest edge weight."""
    xp = array_module(edges.e)
    big = STRONG * max(float(w.max()) for w, _, _ in edges.directions())
    merge = xp.asarray(merge)

    def one(w, di, dj):
        if w is None:
            return None
        same = (merge > 0) & (merge == neighbour_view(merge, di, dj, fill=0))
        return xp.where(same & (w > 0), big, w)

    return GridEdges(*(one(w, di, dj) for w, di, dj in edges.all_directions()))
