"""Colour-ordered Gauss-Seidel for 9-point (and 5-point) grid stencils.

Cells are split into four colours by (row % 2, col % 2); no two cells of one colour are
neighbours in a 9-point stencil, so a colour is updated in one data-parallel step (one
CUDA kernel, or a few NumPy operations) and the sweep is still Gauss-Seidel. For a
5-point stencil the order (0,0), (1,1), (0,1), (1,0) is exactly red-black GS.

A forward sweep visits the colours in order and the backward sweep in reverse, so a
V-cycle with forward pre- and backward post-smoothing is a symmetric operator (valid as a
CG preconditioner). For 5-point Poisson this symmetric pairing has a stationary factor of
0.24 against 0.06 for RB-RB, but what PCG sees is the condition number, 1/(1-0.24).

Layout (why): a vector is held as four colour arrays of shape (k, mc+2, nc+2), mc, nc =
ceil(m/2), ceil(n/2), each with a zero ghost ring; colour (pi, pj) index (I, J) is cell
(2I+pi, 2J+pj). Every neighbour of a colour is then a unit-stride shifted slice of
another colour array, and the coarse grid (even cells) is colour (0, 0) itself. Measured
on 1000^2, 8 neighbours, float32: a sweep costs 25 ms with stride-2 views of a natural
(m, n) array and about a third of that in this layout. Cells past the grid edge in the
odd colours ("fake" cells) have zero coefficients, unit diagonal and stay zero.
"""
from __future__ import annotations

import numpy as np

from .coarsening import Stencil, coarse_shape

COLOURS = [(0, 0), (1, 1), (0, 1), (1, 0)]


def colour_slice(ci, cj, mc, nc):
    """Slice of a padded colour array that, at index (I, J), holds colour-array index
    (I + ci, J + cj)."""
    return (Ellipsis, slice(1 + ci, 1 + ci + mc), slice(1 + cj, 1 + cj + nc))


def neighbour(pi, pj, di, dj):
    """(colour, index shift) of the neighbour at (di, dj) of colour (pi, pj)."""
    qi, qj = pi + di, pj + dj
    return (qi % 2, qj % 2), (qi // 2, qj // 2)


class ColouredGS:
    """Four-colour Gauss-Seidel on one level, on colour-split vectors.

    Weights are kept in the cycle ``dtype`` for the four stored ("forward") directions only, as
    one zero-ringed array per colour and direction: the weight to a "backward" neighbour x - f is
    the forward weight f stored at x - f, i.e. a shifted slice of another colour's array. That
    halves the smoother's storage (4 + 1 arrays per cell, not 8 + 2), which matters most on the
    finest level. Arrays are sampled from the stencil colour by colour and cast then, so no
    full-size copy of the stencil is made.

    With ``grounded`` the level also keeps its ground (row sum, ``diag - sum of conductances``,
    formed in float64 and then stored) for ``exact_residual``.
    """

    def __init__(self, st: Stencil, dtype=None, grounded: bool = False):
        xp = self.xp = st.xp
        self.shape = st.shape
        self.dtype = st.diag.dtype if dtype is None else dtype
        mc, nc = self.cshape = coarse_shape(st.shape)
        real = {c: ((self.shape[0] - c[0] + 1) // 2, (self.shape[1] - c[1] + 1) // 2) for c in COLOURS}
        self.real = real

        def block(a, c, fill, pad):
            ri, rj = real[c]
            out = xp.full((mc + 2 * pad, nc + 2 * pad), fill, dtype=self.dtype)
            out[pad:pad + ri, pad:pad + rj] = a[c[0]::2, c[1]::2]
            return out

        weights = {}  # (colour, forward offset) -> padded (mc+2, nc+2)
        for f, w in st.forward():
            for c in COLOURS:
                weights[(c, f)] = block(w, c, 0, 1)
        self.diag = {c: block(st.diag, c, 1, 0) for c in COLOURS}
        for d in self.diag.values():
            # a coarse diagonal below the cycle dtype's normal range (1e-46 on level 2 of a
            # 4-neighbour map at contrast 1e8) is stored as 0 or subnormal and would divide to inf /
            # NaN: such a row, whose restricted residual is as small, is not smoothed (diagonal 1,
            # so x = b there)
            d[~(d >= np.finfo(d.dtype).tiny)] = 1
        # (neighbour colour, its slice, coefficient view) per colour; all-zero terms are dropped
        self.terms = {}
        for c in COLOURS:
            terms = []
            for f, _ in st.forward():
                for sign in (1, -1):
                    o = (sign * f[0], sign * f[1])
                    col, (ci, cj) = neighbour(c[0], c[1], *o)
                    if sign == 1:  # this cell's own forward weight
                        coef = weights[(c, f)][colour_slice(0, 0, mc, nc)]
                    else:  # the neighbour's forward weight, seen from here
                        coef = weights[(col, f)][colour_slice(ci, cj, mc, nc)]
                    if bool((coef != 0).any()):
                        terms.append((col, colour_slice(ci, cj, mc, nc), coef))
            self.terms[c] = terms
        self.own = colour_slice(0, 0, mc, nc)
        self._tmp = {}
        self.ground = None
        if grounded:
            g = st.diag.astype(xp.float64)  # a copy: the ground is a small difference, so float64
            for f, w in st.forward():
                g -= w
                back = (slice(f[0], None), slice(max(f[1], 0), g.shape[1] + min(f[1], 0)))
                fwd = (slice(0, g.shape[0] - f[0]), slice(max(-f[1], 0), g.shape[1] + min(-f[1], 0)))
                g[back] -= w[fwd]
            self.ground = {c: block(g, c, 1, 0) for c in COLOURS}  # relative precision is enough now

    def buffers(self, k, dtype):
        """Zeroed colour-split storage: {colour: (k, mc+2, nc+2)}."""
        mc, nc = self.cshape
        return {c: self.xp.zeros((k, mc + 2, nc + 2), dtype=dtype) for c in COLOURS}

    def _scratch(self, k, dtype, name="tmp"):
        """A reused (k, mc, nc) work array (a quarter of the level's cells per right-hand side)."""
        t = self._tmp.get((k, dtype, name))
        if t is None:
            t = self.xp.empty((k,) + self.cshape, dtype=dtype)
            self._tmp[(k, dtype, name)] = t
        return t

    def split(self, b, B, padded=False):
        """Natural (k, m, n) -> colour arrays B ((k, mc, nc), or the interior of padded ones), cast
        to B's dtype on assignment; cells past the grid edge are set to 0."""
        for c in COLOURS:
            ri, rj = self.real[c]
            dst = B[c][self.own] if padded else B[c]
            if ri < dst.shape[-2] or rj < dst.shape[-1]:
                dst.fill(0)
            dst[:, :ri, :rj] = b[:, c[0]::2, c[1]::2]

    def merge(self, X, dtype=None):
        """Colour arrays (padded) -> a new natural (k, m, n) array (in ``dtype``, default X's)."""
        some = X[(0, 0)]
        out = self.xp.empty((some.shape[0],) + self.shape, dtype=dtype or some.dtype)
        for c in COLOURS:
            ri, rj = self.real[c]
            out[:, c[0]::2, c[1]::2] = X[c][:, 1:1 + ri, 1:1 + rj]
        return out

    def _neighbour_sum(self, c, X, b, tmp):
        """b + sum_o w_o * x(cell + o) for colour c; b is (k, mc, nc)."""
        acc = self._scratch(b.shape[0], b.dtype, "acc")
        acc[...] = b
        for col, sl, w in self.terms[c]:
            self.xp.multiply(X[col][sl], w, out=tmp)
            acc += tmp
        return acc

    def _update(self, c, X, B, tmp):
        acc = self._neighbour_sum(c, X, B[c], tmp)
        self.xp.divide(acc, self.diag[c], out=X[c][self.own])

    def forward(self, X, B, sweeps=1, zero_init=False):
        """Forward sweeps; with ``zero_init`` X must be all zero on entry."""
        tmp = self._scratch(B[(0, 0)].shape[0], B[(0, 0)].dtype)
        for s in range(sweeps):
            for i, c in enumerate(COLOURS):
                if zero_init and s == 0 and i == 0:
                    # all neighbours are still zero: x = b / diag
                    self.xp.divide(B[c], self.diag[c], out=X[c][self.own])
                else:
                    self._update(c, X, B, tmp)

    def backward(self, X, B, sweeps=1):
        tmp = self._scratch(B[(0, 0)].shape[0], B[(0, 0)].dtype)
        for _ in range(sweeps):
            for c in reversed(COLOURS):
                self._update(c, X, B, tmp)

    def exact_residual(self, b, x):
        """b - A x for natural (k, m, n) arrays, in float64, with A x from ``product`` (needs
        ``grounded``).

        Why: on a nearly singular level (a large region held by one grounded cell or a weak
        ground) a coarse solution x carries a huge near-constant part, and ``diag * x - sum w x_o``
        in the cycle dtype loses the small residual to rounding of the diagonal; in float32 the
        W-cycle's second coarse visit then corrects noise and the preconditioner stops being
        positive definite (CG from 9 to 76 iterations on a 24 M-cell map held by one cell). Here
        the constant part cancels exactly and the stored weights only need relative precision.
        """
        out = self.product(x)
        self.xp.subtract(b, out, out=out)
        return out

    def product(self, x):
        """A x for a natural (k, m, n) array, in float64 and in difference form
        ``ground * x + sum_o w_o * (x - x_o)`` (needs ``grounded``; see ``exact_residual``)."""
        xp = self.xp
        k = x.shape[0]
        mc, nc = self.cshape
        X = {c: xp.zeros((k, mc + 2, nc + 2), dtype=xp.float64) for c in COLOURS}
        self.split(x, X, padded=True)
        out = xp.empty(x.shape, dtype=xp.float64)
        acc = xp.empty((k, mc, nc), dtype=xp.float64)
        tmp = xp.empty_like(acc)
        for c in COLOURS:
            ri, rj = self.real[c]
            xc = X[c][self.own]
            xp.multiply(self.ground[c], xc, out=acc)
            for col, sl, w in self.terms[c]:
                xp.subtract(xc, X[col][sl], out=tmp)
                tmp *= w
                acc += tmp
            out[:, c[0]::2, c[1]::2] = acc[:, :ri, :rj]
        return out

    def residual_colours(self, X, B, skip_last=False):
        """Yield (colour, R) with R = (B - A X) of that colour in a zero-ringed (k, mc+2, nc+2)
        array that is reused for the next colour: consume it before asking for the next. One
        colour at a time, so a level's residual never needs storage of its own. With
        ``skip_last`` the colour a forward sweep updated last is skipped (its residual is 0)."""
        k, dtype = B[(0, 0)].shape[0], B[(0, 0)].dtype
        tmp = self._scratch(k, dtype)
        key = (k, dtype, "res")
        R = self._tmp.get(key)
        if R is None:
            mc, nc = self.cshape
            R = self._tmp[key] = self.xp.zeros((k, mc + 2, nc + 2), dtype=dtype)
        for i, c in enumerate(COLOURS):
            if skip_last and i == len(COLOURS) - 1:
                continue
            acc = self._neighbour_sum(c, X, B[c], tmp)
            self.xp.multiply(X[c][self.own], self.diag[c], out=tmp)
            self.xp.subtract(acc, tmp, out=R[self.own])
            yield c, R
