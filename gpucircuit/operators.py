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

from .backend import array_module, dispatch
from .edges import GridEdges, col_slices, shift_slices

_BLOCK = 1 << 18  # elements per row block of the host apply (2 MB in float64)


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

    def apply_host(self, x):
        """NumPy apply in blocks of rows: each edge weight is read once for both of its ends, and
        the only temporary is one block (no full-size copies; the block stays in cache)."""
        m, n = self.shape
        y = np.multiply(self.diag, x, dtype=np.result_type(self.diag, x))
        lead = x.shape[:-2]
        rows = min(m, max(1, _BLOCK // max(1, n * int(np.prod(lead)))))  # no bigger than the grid
        tmp = np.empty(lead + (rows, n), dtype=y.dtype)
        dirs = [(w, di, col_slices(dj)) for w, di, dj in self.edges.directions()]
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

    def apply_device(self, x):
        """CuPy apply: one fused kernel pass over the weights."""
        from .kernels import stencil_apply

        return stencil_apply(self, x)

    # ``A x`` for x of shape (..., m, n), in the wider of x's and the weights' dtypes, on x's backend
    apply = dispatch(apply_host, apply_device, on=1)
    __call__ = apply

    def to_csr(self) -> sp.csr_matrix:
        """The same operator as a SciPy CSR matrix over all cells (row-major), on the host."""
        from .backend import to_host

        m, n = self.shape
        idx = np.arange(m * n).reshape(m, n)
        rows, cols, vals = [np.arange(m * n)], [np.arange(m * n)], [to_host(self.diag).ravel()]
        for w, di, dj in self.edges.directions():
            src, dst = shift_slices(di, dj)
            wv = to_host(w)[src].ravel()
            a, b = idx[src].ravel(), idx[dst].ravel()
            nz = wv != 0
            rows += [a[nz], b[nz]]
            cols += [b[nz], a[nz]]
            vals += [-wv[nz], -wv[nz]]
        return sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m * n, m * n)
        )
