"""Exact solves on small tiles of a multigrid level: the smoother the structured hierarchy lacks.

Why (benchmarks/README.md, "Exact tile smoothing"): on landscapes with roads, holes and 1e4-1e8
contrast, the error that neither point Gauss-Seidel nor the next coarse grid reduces sits in
small high-contrast pieces of the first coarse level. Solving 8 x 8 tiles of that level exactly
(four colours of tiles, on two tilings offset by half a tile so every coupling lies inside some
tile) after the point sweeps takes CG from 20 to 13 iterations at 16 M cells (8 neighbours,
1-1e4), and only the tiles whose diagonal varies by 1e3 or more are needed for that (30 % of
them there; landscapes of low contrast get none and pay nothing).

Each kept tile's matrix (the level's stencil restricted to the tile, SPD as a principal
submatrix) is factorised once by a batched dense Cholesky in float64; in row-major tile order a
9-point stencil has bandwidth B + 1, and so has its factor: block-lower-bidiagonal in B x B blocks
of tile rows. The inverses of its diagonal blocks and the blocks below them are kept (15 values
per cell for B = 8, in the cycle dtype) with the tile's nine stencil coefficients for its residual,
so a solve is two batched matrix products per tile row and direction. A sweep visits the groups of
tiles (tiling, colour) in order: the residual on the group's tiles is formed from the current
solution on the tiles and their one-cell ring, the block triangular solves run batched over the
tiles, and the corrections are added; tiles of one group neither overlap nor
touch, so they are independent. The post-smoothing sweep visits the groups in reverse, so the
cycle stays symmetric, as PCG needs. Array code only (NumPy or CuPy).
"""
from __future__ import annotations

import numpy as np

from ..backend import array_module, to_host
from .coarsening import OFFSETS, Stencil
from .smoothers import COLOURS

TILE = 8
MIN_CONTRAST = 1e3
CHUNK_BYTES = 1 << 26  # dense float64 tile matrices factorised at once: 2,048 tiles of 8 x 8, 128 of 16 x 16
# a tile whose Cholesky pivot falls below this share of its cell's diagonal holds a piece held to the rest
# by near-zero links (1e8 contrast): its exact solve puts a near-constant value there that the cycle's
# float32 residual cannot see (measured: CG did not converge in 500 iterations with such tiles), and
# deflation handles such pieces; the tile is left out
MIN_PIVOT = 1e-4
_STENCIL = [(0, 0)] + OFFSETS  # coefficient order of a tile cell: centre, then the eight neighbours


class TileSmoother:
    """Exact solves on the B x B tiles of one level whose diagonal varies by ``min_contrast`` or more.

    ``count``: tiles kept (0: the level has none, and ``sweep`` does nothing)."""

    def __init__(self, st: Stencil, dtype=np.float32, tile: int = TILE, min_contrast: float = MIN_CONTRAST):
        xp = self.xp = st.xp
        self.shape = m, n = st.shape
        self.tile = B = tile
        self.dtype = np.dtype(dtype)
        self.pad = P = B + 1  # room for a shifted tile and its ring on every side
        self.padded = (m + 2 * P, n + 2 * P)
        width = self.padded[1]
        full = st.full(all8=True)  # {offset: (m, n)} conductances on the level's backend
        linked = sum((w > 0) for w in full.values()) > 0
        # the stencil on the padded grid, flat, float64: centre (1 outside the grid) and the eight conductances
        values = {(0, 0): self._padded(st.diag, 1.0)}
        for o in OFFSETS:
            values[o] = self._padded(full.pop(o))
        a, b = np.divmod(np.arange(B * B), B)
        self._cells = xp.asarray(a * width + b)  # flat offsets of a tile's cells from its origin
        # and of its (B + 2)^2 patch, the tile with its one-cell ring, read in one gather per sweep
        a, b = np.divmod(np.arange((B + 2) ** 2), B + 2)
        self._patch = xp.asarray((a - 1) * width + (b - 1))
        self.groups = []
        for shift in (0, B // 2):
            rows = -(-(m + shift) // B)
            cols = -(-(n + shift) // B)
            ti, tj = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
            keep = self._contrast(st.diag, linked, shift, rows, cols) >= min_contrast
            for colour in COLOURS:
                sel = keep & (ti % 2 == colour[0]) & (tj % 2 == colour[1])
                if not bool(sel.any()):
                    continue
                origin = (P - shift + B * ti[sel]) * width + (P - shift + B * tj[sel])
                group = self._factor(xp.asarray(origin), values)
                if group[0].size:
                    self.groups.append(group)
        self.count = sum(int(g[0].size) for g in self.groups)

    def _contrast(self, diag, linked, shift, rows, cols):
        """Largest over smallest diagonal of each tile's linked cells (host (rows, cols); 1 when none)."""
        xp, B, (m, n) = self.xp, self.tile, self.shape
        hi = xp.zeros((rows * B, cols * B))
        lo = xp.full((rows * B, cols * B), np.inf)
        hi[shift:shift + m, shift:shift + n] = xp.where(linked, diag, 0)
        lo[shift:shift + m, shift:shift + n] = xp.where(linked, diag, np.inf)
        hi = hi.reshape(rows, B, cols, B).max(axis=(1, 3))
        lo = lo.reshape(rows, B, cols, B).min(axis=(1, 3))
        ok = xp.isfinite(lo) & (lo > 0)
        out = xp.where(ok, hi / xp.where(ok, lo, 1), 1.0)
        return to_host(out)

    def _padded(self, a, fill=0.0):
        xp, P, (m, n) = self.xp, self.pad, self.shape
        out = xp.full(self.padded, fill, dtype=np.float64)
        out[P:P + m, P:P + n] = a
        return out.ravel()

    def _factor(self, origin, values):
        """(origin, coefficients (9, t, B, B), Cholesky factor by blocks) of a group of tiles."""
        xp, B = self.xp, self.tile
        T = B * B
        cells = origin[:, None] + self._cells[None, :]  # (t, T) flat in the padded grid
        coef = xp.empty((len(_STENCIL), origin.size, B, B), dtype=self.dtype)
        for k, o in enumerate(_STENCIL):
            coef[k] = values[o][cells].reshape(-1, B, B)
        # the factor in B x B blocks of tile rows: block-lower-bidiagonal (bandwidth B + 1 < 2B)
        dinv = xp.empty((origin.size, B, B, B), dtype=self.dtype)  # inverses of the diagonal blocks
        sub = xp.empty((origin.size, B - 1, B, B), dtype=self.dtype)  # the blocks below them
        good = xp.ones(origin.size, dtype=bool)
        chunk = max(1, CHUNK_BYTES // (8 * T * T))
        for start in range(0, origin.size, chunk):
            stop = min(origin.size, start + chunk)
            A = self._tile_matrices(values, cells[start:stop])
            L = xp.linalg.cholesky(A)
            d = xp.arange(T)
            good[start:stop] = (L[:, d, d] ** 2 >= MIN_PIVOT * A[:, d, d]).all(axis=1)
            del A
            for q in range(B):
                rows = slice(q * B, (q + 1) * B)
                dinv[start:stop, q] = xp.linalg.inv(L[:, rows, rows])
                if q:
                    sub[start:stop, q - 1] = L[:, rows, (q - 1) * B:q * B]
        if not bool(good.all()):
            origin, coef, dinv, sub = origin[good], coef[:, good], dinv[good], sub[good]
        return origin, coef, dinv, sub

    def _tile_matrices(self, values, cells):
        """Dense (t, T, T) float64 matrices of the tiles at ``cells``: the diagonal, minus the
        conductance to neighbours inside the tile."""
        xp, B = self.xp, self.tile
        T = B * B
        A = xp.zeros((cells.shape[0], T, T))
        idx = xp.arange(T)
        A[:, idx, idx] = values[(0, 0)][cells] * (1 + 1e-12)  # near-singular 1e8 tiles stay factorisable
        a, b = np.divmod(np.arange(T), B)
        for di, dj in OFFSETS:
            src = np.flatnonzero((a + di >= 0) & (a + di < B) & (b + dj >= 0) & (b + dj < B))
            w = values[(di, dj)][cells[:, src]]
            A[:, xp.asarray(src), xp.asarray(src + di * B + dj)] = -w
        return A

    def sweep(self, x, b, forward: bool = True):
        """Tile solves on x (k, m, n), in place, for right-hand sides b (k, m, n): the groups in
        order (``forward``) or in reverse."""
        if not self.groups:
            return
        xp, P, (m, n) = self.xp, self.pad, self.shape
        k = x.shape[0]
        xpad = xp.zeros((k,) + self.padded, dtype=x.dtype)
        xpad[:, P:P + m, P:P + n] = x
        bpad = xp.zeros((k,) + self.padded, dtype=x.dtype)
        bpad[:, P:P + m, P:P + n] = b
        xf, bf = xpad.reshape(k, -1), bpad.reshape(k, -1)
        B = self.tile
        for origin, coef, dinv, sub in (self.groups if forward else self.groups[::-1]):
            cells = origin[:, None] + self._cells[None, :]
            patch = xf[:, origin[:, None] + self._patch[None, :]].reshape(k, -1, B + 2, B + 2)
            r = bf[:, cells].reshape(k, -1, B, B) - coef[0] * patch[:, :, 1:-1, 1:-1]
            for j, (di, dj) in enumerate(OFFSETS, start=1):
                r += coef[j] * patch[:, :, 1 + di:1 + di + B, 1 + dj:1 + dj + B]
            xf[:, cells] += _block_solve(dinv, sub, r.reshape(k, -1, B * B))
        x[...] = xpad[:, P:P + m, P:P + n]


def _block_solve(dinv, sub, r):
    """Solve L L^T z = r per tile, L block-lower-bidiagonal by tile rows: ``dinv[:, q]`` the inverse
    of its q-th diagonal block, ``sub[:, q - 1]`` the block left of it. r (k, t, B²) -> z (k, t, B²):
    two batched matrix products per tile row and direction (batched gemm on a GPU)."""
    xp = array_module(r)
    k, t, T = r.shape
    B = dinv.shape[1]
    y = xp.ascontiguousarray(r.transpose(1, 2, 0)).reshape(t, B, B, k)  # (tile, row, column, rhs)
    y[:, 0] = dinv[:, 0] @ y[:, 0]
    for q in range(1, B):  # L y = r
        y[:, q] = dinv[:, q] @ (y[:, q] - sub[:, q - 1] @ y[:, q - 1])
    y[:, B - 1] = dinv[:, B - 1].swapaxes(-1, -2) @ y[:, B - 1]
    for q in range(B - 2, -1, -1):  # L^T z = y
        y[:, q] = dinv[:, q].swapaxes(-1, -2) @ (y[:, q] - sub[:, q].swapaxes(-1, -2) @ y[:, q + 1])
    return y.reshape(t, T, k).transpose(2, 0, 1)
