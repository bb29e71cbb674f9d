"""Matrix-free grid operators: a symmetric positive definite stencil on a raster.

Edge weights are stored per direction as full ``(m, n)`` arrays (zero where the neighbour
does not exist), which keeps indexing identical on NumPy and CuPy and in CUDA kernels:

* ``e[i, j]``  links (i, j)-(i, j+1)      * ``s[i, j]``  links (i, j)-(i+1, j)
* ``se[i, j]`` links (i, j)-(i+1, j+1)    * ``sw[i, j]`` links (i, j)-(i+1, j-1)

``A x = diag * x - sum_neighbours w * x_neighbour``. Inactive cells (no node, or a node held
at 0 V) have ``diag = 1`` and no edges, so A is SPD on the whole grid and the solution is 0
there when the right-hand side is.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .backend import array_module


@dataclass
class GridEdges:
    """Edge conductances of a raster graph (``se``/``sw`` are None for 4 neighbours)."""

    e: object
    s: object
    se: object | None = None
    sw: object | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.e.shape)

    def directions(self):
        """(weights, di, dj) for each stored direction; the neighbour is (i+di, j+dj)."""
        out = [(self.e, 0, 1), (self.s, 1, 0)]
        if self.se is not None:
            out += [(self.se, 1, 1), (self.sw, 1, -1)]
        return out

    def degree(self, dtype=None):
        """Sum of the weights incident to each cell (in ``dtype``, default the weights')."""
        xp = array_module(self.e)
        d = xp.zeros(self.shape, dtype=dtype or self.e.dtype)
        for w, di, dj in self.directions():
            d += w
            _shifted_add(d, w, di, dj)
        return d

    def masked(self, keep, inplace: bool = False) -> "GridEdges":
        """Edges with both ends in ``keep`` (bool (m, n)); ``inplace`` zeroes the others in these
        arrays instead of copying them (for arrays the caller owns: no second copy at scale)."""
        def one(w, di, dj):
            if w is None:
                return None
            xp = array_module(w)
            both = keep & _neighbour_view(keep, di, dj, fill=False)
            return xp.multiply(w, both, out=w) if inplace else xp.where(both, w, 0)
        return GridEdges(*(one(w, di, dj) for w, di, dj in self._all()))

    def astype(self, dtype) -> "GridEdges":
        return GridEdges(*(None if w is None else w.astype(dtype, copy=False) for w, _, _ in self._all()))

    def _all(self):
        return [(self.e, 0, 1), (self.s, 1, 0), (self.se, 1, 1), (self.sw, 1, -1)]


def _slices(di: int, dj: int):
    """(source, target) slices so that target cell = source cell + (di, dj)."""
    def pair(d):
        if d == 0:
            return slice(None), slice(None)
        if d > 0:
            return slice(None, -d), slice(d, None)
        return slice(-d, None), slice(None, d)
    si, ti = pair(di)
    sj, tj = pair(dj)
    return (Ellipsis, si, sj), (Ellipsis, ti, tj)


_BLOCK = 1 << 18  # elements per row block of the host apply (2 MB in float64)


def _col_slices(dj: int):
    """(source, target) column slices for a column offset dj."""
    if dj > 0:
        return slice(0, -dj), slice(dj, None)
    if dj < 0:
        return slice(-dj, None), slice(0, dj)
    return slice(None), slice(None)


def _shifted_add(out, w, di, dj):
    """out[i+di, j+dj] += w[i, j]."""
    src, dst = _slices(di, dj)
    out[dst] += w[src]


def _neighbour_view(a, di, dj, fill):
    """b[i, j] = a[i+di, j+dj] (``fill`` outside)."""
    xp = array_module(a)
    b = xp.full(a.shape, fill, dtype=a.dtype)
    src, dst = _slices(di, dj)
    b[src] = a[dst]
    return b


@dataclass
class GridOperator:
    """SPD operator ``diag - adjacency`` on an (m, n) grid; apply works on (..., m, n)."""

    edges: GridEdges
    diag: object
    active: object  # bool (m, n)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.diag.shape)

    @property
    def xp(self):
        return array_module(self.diag)

    @classmethod
    def build(cls, edges: GridEdges, active, extra_diag=None, inplace: bool = False) -> "GridOperator":
        """Operator on ``active`` cells.

        The diagonal counts every edge of a cell, including edges to inactive cells (those
        are grounded neighbours at 0 V; cells without a node have no edges at all), plus
        ``extra_diag`` (finite ground conductances). Inactive cells get the identity.
        The diagonal is summed in float64 whatever the weights' dtype: with float32 weights
        the operator is then exactly the Laplacian of the stored weights plus the grounds, so it
        stays symmetric positive definite. ``inplace`` zeroes the edges of inactive cells in the
        given arrays instead of copying them (the caller owns them; no second copy at scale).
        """
        xp = array_module(edges.e)
        diag = edges.degree(np.float64)
        if extra_diag is not None:
            diag += extra_diag
        diag = xp.where(active, diag, 1.0)
        return cls(edges.masked(active, inplace), diag, active)

    def apply(self, x):
        """``A x`` for x of shape (..., m, n), in the wider of x's and the weights' dtypes."""
        if type(x).__module__.startswith("cupy"):
            from .kernels import stencil_apply  # one fused pass over the weights on a GPU

            return stencil_apply(self, x)
        return self._apply_host(x)

    def _apply_host(self, x):
        """NumPy apply in blocks of rows: each edge weight is read once for both of its ends, and
        the only temporary is one block (no full-size copies; the block stays in cache)."""
        m, n = self.shape
        y = np.multiply(self.diag, x, dtype=np.result_type(self.diag, x))
        lead = x.shape[:-2]
        rows = max(1, _BLOCK // max(1, n * int(np.prod(lead))))
        tmp = np.empty(lead + (rows, n), dtype=y.dtype)
        dirs = [(w, di, _col_slices(dj)) for w, di, dj in self.edges.directions()]
        for r0 in range(0, m, rows):
            for w, di, (sj, tj) in dirs:
                r1 = min(r0 + rows, m - di)
                if r1 <= r0:
                    continue
                ws = w[r0:r1, sj]
                t = tmp[..., : r1 - r0, : ws.shape[-1]]
                np.multiply(ws, x[..., r0 + di: r1 + di, tj], out=t)  # edge to the neighbour
                y[..., r0:r1, sj] -= t
                np.multiply(ws, x[..., r0:r1, sj], out=t)  # the same edge seen from the neighbour
                y[..., r0 + di: r1 + di, tj] -= t
        return y

    __call__ = apply

    def to_csr(self) -> sp.csr_matrix:
        """The same operator as a SciPy CSR matrix over all cells (row-major), on the host."""
        from .backend import to_host

        m, n = self.shape
        idx = np.arange(m * n).reshape(m, n)
        rows, cols, vals = [np.arange(m * n)], [np.arange(m * n)], [to_host(self.diag).ravel()]
        for w, di, dj in self.edges.directions():
            src, dst = _slices(di, dj)
            wv = to_host(w)[src].ravel()
            a, b = idx[src].ravel(), idx[dst].ravel()
            nz = wv != 0
            rows += [a[nz], b[nz]]
            cols += [b[nz], a[nz]]
            vals += [-wv[nz], -wv[nz]]
        return sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m * n, m * n)
        )
