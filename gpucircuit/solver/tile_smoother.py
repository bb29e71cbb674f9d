"""Exact solves on small tiles of a multigrid level: the smoother the structured hierarchy lacks.

Why (benchmarks/README.md, "Exact tile smoothing"): on landscapes with roads, holes and 1e4-1e8
contrast, the error that neither point Gauss-Seidel nor the next coarse grid reduces sits in
small high-contrast pieces of the first coarse levels. Solving tiles of levels 1-4 exactly (8 x 8
on levels 1-2, 16 x 16 below; four colours of tiles, on two tilings offset by half a tile so every
coupling lies inside some tile) after the point sweeps takes CG from 22 to 12 iterations at 16 M
cells and from 24 to 17 at 64 M (8 neighbours, 1-1e4), and only the tiles whose diagonal varies
by 1e3 or more are needed for that (14-30 % of them there; landscapes of low contrast get none and
pay nothing). At most a quarter of a level's tiles are kept, those of highest contrast, so the
memory they keep is bounded on any landscape (``MAX_SHARE``). The red-black Schur complement of a
4-neighbour grid needs more: tiles of contrast 30 on levels 0-4, up to 35 % of them on level 0
(4 neighbours, 1e4 contrast: 4 M cells 22 -> 17 iterations, 16 M 30 -> 22; ``tile_rule``).

Each kept tile's matrix (the level's stencil restricted to the tile, SPD as a principal
submatrix) is factorised once in float64; in row-major tile order a 9-point stencil is
block-tridiagonal in B x B blocks of tile rows, so its Cholesky factor is block-lower-bidiagonal and
is computed block by block (batched B x B Cholesky, inverse and products over the tiles). The
inverses of its diagonal blocks and the blocks below them are kept (15 values per cell for B = 8,
in the cycle dtype) with the tile's nine stencil coefficients for its residual,
so a solve is two batched matrix products per tile row and direction. The coefficients are gathered
from the level's own arrays, group by group, so the setup makes no level-sized copies. A sweep visits the groups of
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
from . import tile_compiled
from .smoothers import COLOURS

TILE = 8
# levels with tile solves by default (``MultigridOptions.tile_levels``): the first four coarse levels
# (8 neighbours, 1e4 contrast: 16 M cells 22 -> 12 CG iterations, 64 M 24 -> 17), and on a red-black
# Schur complement the finest too (``SCHUR_CONTRAST``); the finest level of an 8-neighbour grid gains nothing
TILE_LEVELS = (1, 2, 3, 4)
MIN_CONTRAST = 1e3
# a tile whose Cholesky pivot falls below this share of its cell's diagonal holds a piece held to the rest
# by near-zero links (1e8 contrast): its exact solve puts a near-constant value there that the cycle's
# float32 residual cannot see (measured: CG did not converge in 500 iterations with such tiles), and
# deflation handles such pieces; the tile is left out
MIN_PIVOT = 1e-4
# at most this share of a level's tiles (both tilings) are kept, those of highest contrast: the memory
# they keep is then bounded (8 x 8 tiles in float32: 48 B per cell of the level; 12 B per fine cell on
# level 1, 16 on levels 1-4 together), so the memory plan holds on any landscape; 16 M cells, 1e4
# contrast: 14-30 % of the tiles qualify
MAX_SHARE = 0.25
# a red-black Schur complement (4 neighbours) needs tiles of lower contrast, and on its finest level too (as
# large as the grid; 4 x 4 tiles there, ``MultigridOptions.tile_size``): its rotated 9-point stencil is strongly
# anisotropic along every class boundary, which point sweeps do not smooth. 4 M cells, an exact solve on level
# 1: 20 CG iterations with point sweeps alone on level 0, 15 with its 8 x 8 tiles of contrast 1e3, 7 with
# those of 30; the whole cycle, 16 M cells: 29 with 8 x 8 tiles of 1e3 on levels 0-4, 19 with those of 30. About
# 30 % of the finest level's 4 x 4 tiles (both tilings) vary by 30 or more on the 1e4 generator; at most 35 %
# are kept (45 B per cell of the level)
SCHUR_CONTRAST = 30
FINEST_SHARE = 0.35
_STENCIL = [(0, 0)] + OFFSETS  # coefficient order of a tile cell: centre, then the eight neighbours


def tile_rule(level: int, schur: bool = False) -> tuple[float, float]:
    """(least contrast, largest share) of a level's tiles kept by default: ``SCHUR_CONTRAST`` on a red-black
    Schur complement's levels, ``MIN_CONTRAST`` otherwise; ``FINEST_SHARE`` on the finest level."""
    return (SCHUR_CONTRAST if schur else MIN_CONTRAST), (FINEST_SHARE if level == 0 else MAX_SHARE)


class TileSmoother:
    """Exact solves on the B x B tiles of one level whose diagonal varies by ``min_contrast`` or more.

    ``count``: tiles kept (0: the level has none, and ``sweep`` does nothing). ``compiled``: on the
    host, the groups are solved by ``tile_compiled``'s loop (where numba imports) instead of the array code."""

    def __init__(self, st: Stencil, dtype=np.float32, tile: int = TILE, min_contrast: float = MIN_CONTRAST,
                 max_share: float = MAX_SHARE):
        xp = self.xp = st.xp
        self.shape = m, n = st.shape
        self.tile = B = tile
        self.dtype = np.dtype(dtype)
        self.pad = P = B + 1  # room for a shifted tile and its ring on every side
        self.padded = (m + 2 * P, n + 2 * P)
        width = self.padded[1]
        self._st = st
        a, b = np.divmod(np.arange(B * B), B)
        self._cells = xp.asarray(a * width + b)  # flat offsets of a tile's cells from its origin
        # and of its (B + 2)^2 patch, the tile with its one-cell ring, read in one gather per sweep
        a, b = np.divmod(np.arange((B + 2) ** 2), B + 2)
        self._patch = xp.asarray((a - 1) * width + (b - 1))
        tilings = []
        for shift in (0, B // 2):
            rows, cols = -(-(m + shift) // B), -(-(n + shift) // B)
            tilings.append((shift, self._contrast(st, shift, rows, cols)))
        threshold = _threshold([c for _, c in tilings], min_contrast, int(max_share * sum(c.size for _, c in tilings)))
        self.groups = []
        for shift, contrast in tilings:
            ti, tj = np.meshgrid(np.arange(contrast.shape[0]), np.arange(contrast.shape[1]), indexing="ij")
            keep = contrast >= threshold
            for colour in COLOURS:
                sel = keep & (ti % 2 == colour[0]) & (tj % 2 == colour[1])
                if bool(sel.any()):
                    group = self._factor(B * ti[sel] - shift, B * tj[sel] - shift)
                    if group[0].size:
                        self.groups.append(group)
        del self._st
        self.count = sum(int(g[0].size) for g in self.groups)
        # set by the hierarchy on the host for a large job with many tiles (it alone knows their total)
        self.compiled = False

    def _contrast(self, st, shift, rows, cols):
        """Largest over smallest diagonal of each tile's linked cells (host (rows, cols); 1 when none)."""
        xp, B, (m, n) = self.xp, self.tile, self.shape
        linked = xp.zeros((m, n), dtype=bool)
        for (di, dj), w in st.forward():  # a cell is linked when an edge at either end of it is
            pos = w > 0
            linked |= pos
            linked[_span(di, m), _span(dj, n)] |= pos[_span(-di, m), _span(-dj, n)]
        diag = st.diag.astype(np.float32)
        hi = xp.zeros((rows * B, cols * B), dtype=np.float32)
        lo = xp.full((rows * B, cols * B), np.inf, dtype=np.float32)
        hi[shift:shift + m, shift:shift + n] = xp.where(linked, diag, 0)
        lo[shift:shift + m, shift:shift + n] = xp.where(linked, diag, np.inf)
        del linked, diag
        hi = hi.reshape(rows, B, cols, B).max(axis=(1, 3))
        lo = lo.reshape(rows, B, cols, B).min(axis=(1, 3))
        ok = xp.isfinite(lo) & (lo > 0)
        out = xp.where(ok, hi / xp.where(ok, lo, 1), 1.0)
        return to_host(out)

    def _coefficients(self, r0, c0):
        """Float64 (9, t, B, B) stencil of the tiles with top-left cells (r0, c0) (may lie outside the
        grid): the centre (1 outside), then the conductance to each neighbour in ``OFFSETS`` order (0
        where the cell or its neighbour is outside), gathered from the level's own arrays."""
        xp, B, (m, n), st = self.xp, self.tile, self.shape, self._st
        a, b = np.divmod(np.arange(B * B), B)
        r = xp.asarray(r0)[:, None] + xp.asarray(a)[None, :]  # (t, T)
        c = xp.asarray(c0)[:, None] + xp.asarray(b)[None, :]

        def at(dr, dc):  # whether the cells at this offset lie on the grid, and their clipped flat index
            rr, cc = r + dr, c + dc
            ok = (rr >= 0) & (rr < m) & (cc >= 0) & (cc < n)
            return ok, xp.clip(rr, 0, m - 1) * n + xp.clip(cc, 0, n - 1)

        here, flat = at(0, 0)
        out = xp.empty((len(_STENCIL), r.shape[0], B * B), dtype=np.float64)
        out[0] = xp.where(here, st.diag.ravel()[flat], 1.0)
        forward = dict(st.forward())
        for k, (di, dj) in enumerate(OFFSETS, start=1):
            there, flat_there = at(di, dj)
            if (di, dj) in forward:  # stored at the cell
                out[k] = xp.where(here & there, forward[(di, dj)].ravel()[flat], 0.0)
            elif (-di, -dj) in forward:  # stored at the neighbour
                out[k] = xp.where(here & there, forward[(-di, -dj)].ravel()[flat_there], 0.0)
            else:  # a 5-point stencil's diagonals
                out[k] = 0.0
        return out.reshape(len(_STENCIL), -1, B, B)

    def _factor(self, r0, c0):
        """(origin, coefficients (9, t, B, B), Cholesky factor by blocks) of a group of tiles whose
        top-left cells are (r0, c0); the origin is flat in the padded grid.

        In row-major tile order the tile matrix is block-tridiagonal in B x B blocks of tile rows
        (D_q: the row's centre and east-west links; C_q: its links to the next row), so its Cholesky
        factor is block-lower-bidiagonal and is computed block by block, batched over the tiles:
        L_qq = chol(D_q - L_q,q-1 L_q,q-1^T), L_q+1,q = (L_qq^-1 C_q)^T; float64, never a T x T matrix."""
        xp, B, P = self.xp, self.tile, self.pad
        values = self._coefficients(r0, c0)  # (9, t, B, B): [k, tile, row, column]
        origin = xp.asarray((P + r0) * self.padded[1] + (P + c0))
        coef = values.astype(self.dtype)
        t = origin.size
        k_of = {o: k for k, o in enumerate(OFFSETS, start=1)}
        dinv = xp.empty((t, B, B, B), dtype=self.dtype)  # inverses of the diagonal blocks
        sub = xp.empty((t, B - 1, B, B), dtype=self.dtype)  # the blocks below them
        good = xp.ones(t, dtype=bool)
        j = xp.arange(B)
        below = None  # L_q,q-1 in float64
        for q in range(B):
            D = xp.zeros((t, B, B))
            centre = values[0][:, q] * (1 + 1e-12)  # near-singular 1e8 tiles stay factorisable
            D[:, j, j] = centre
            D[:, j[:-1], j[1:]] = -values[k_of[(0, 1)]][:, q, :-1]
            D[:, j[1:], j[:-1]] = -values[k_of[(0, 1)]][:, q, :-1]
            if below is not None:
                D -= below @ below.swapaxes(-1, -2)
            L = xp.linalg.cholesky(D)
            del D
            good &= (L[:, j, j] ** 2 >= MIN_PIVOT * centre).all(axis=1)
            Linv = xp.linalg.inv(L)
            dinv[:, q] = Linv
            if q < B - 1:
                C = xp.zeros((t, B, B))  # row q's links to row q + 1: C[b, b + dj] = -w(q, b; 1, dj)
                C[:, j, j] = -values[k_of[(1, 0)]][:, q]
                C[:, j[:-1], j[1:]] = -values[k_of[(1, 1)]][:, q, :-1]
                C[:, j[1:], j[:-1]] = -values[k_of[(1, -1)]][:, q, 1:]
                below = (Linv @ C).swapaxes(-1, -2)
                sub[:, q] = below
        del values
        if not bool(good.all()):
            origin, coef, dinv, sub = origin[good], coef[:, good], dinv[good], sub[good]
        return origin, coef, dinv, sub

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
            if self.compiled:
                try:
                    tile_compiled.solve_group(xf, bf, origin, coef, dinv, sub, self.padded[1])
                    continue
                except ImportError:  # numba will not import here: the array code below from now on
                    self.compiled = False
            cells = origin[:, None] + self._cells[None, :]
            patch = xf[:, origin[:, None] + self._patch[None, :]].reshape(k, -1, B + 2, B + 2)
            r = bf[:, cells].reshape(k, -1, B, B) - coef[0] * patch[:, :, 1:-1, 1:-1]
            for j, (di, dj) in enumerate(OFFSETS, start=1):
                r += coef[j] * patch[:, :, 1 + di:1 + di + B, 1 + dj:1 + dj + B]
            xf[:, cells] += _block_solve(dinv, sub, r.reshape(k, -1, B * B))
        x[...] = xpad[:, P:P + m, P:P + n]


def _span(d, size):
    """Cells whose neighbour at offset -d lies inside a line of ``size`` cells: where a shift by d lands."""
    return slice(max(d, 0), size + min(d, 0))


def _threshold(contrasts, min_contrast, most):
    """The contrast a tile needs to be kept: ``min_contrast``, raised so that at most ``most`` tiles
    of the tilings' (host) ``contrasts`` qualify; the highest-contrast tiles are kept."""
    values = np.concatenate([c.ravel() for c in contrasts])
    values = values[values >= min_contrast]
    if values.size <= most:
        return min_contrast
    if most <= 0:
        return np.inf
    return max(min_contrast, float(np.partition(values, values.size - most)[values.size - most]))


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
