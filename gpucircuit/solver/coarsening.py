"""Structured, operator-dependent coarsening for grid stencils (black-box multigrid).

Every level is a 9-point stencil on an (m, n) grid, stored like ``GridEdges``: the
diagonal plus the conductances ``e, s, se, sw`` (minus the off-diagonal entries; they may
turn slightly negative on coarse levels). Coarse points are the fine cells with even row
and column, so an (m, n) grid coarsens to ((m+1)//2, (n+1)//2).

Interpolation follows Dendy's black-box multigrid (J. Comput. Phys. 48, 1982): a fine
cell between two coarse cells on a coarse row takes their values weighted by the
fine stencil *collapsed* across the row (sum of the three conductances on each side); a
fine cell in the middle of four coarse cells takes the stencil-weighted average of its
eight neighbours, four of which were interpolated first. Weights follow the
conductances, so values do not leak across a barrier through interpolation, which is
what keeps a geometric hierarchy usable at 1e4 contrast (bilinear transfers or 2x2
aggregation are not: DESIGN.md section 3). Changes to Dendy, each measured, are noted
where they are made: grounds shared in proportion on coarse lines (``_line_weights``),
orphan cells next to holes (``interpolation``), negative coarse conductances lumped.
Inactive cells (identity rows, no edges) interpolate as 0 and stay identity rows on the
coarse grid. Rows with extra diagonal (finite grounds, grounded neighbours) give weights
summing to less than one, as a Dirichlet boundary should.

The coarse operator is the Galerkin product ``P^T A P`` computed stencil-wise with array
slicing only (no sparse matrix product), so it runs unchanged on CuPy.

Memory: both steps only ever need fine values at cells (2I+u, 2J+v), I < mc, J < nc, so
they read the fine stencil through quarter-size samples (``sample``) or strided views and
never form a full-size or padded copy of it: on a 205-million-cell raster one fine fp64
array is 1.6 GB; padded copies of all eight directions took ~195 bytes of temporaries per
fine cell, quarter-size samples take ~13. The conductance of the edge from y to y - f
(f a stored forward offset) is ``w_f[y - f]``, a sample of the stored array with a
shifted origin, so no back-arrays are built either. Arithmetic is in ``dtype`` (float64
by default) whatever the storage dtype: an fp32 stencil is cast sample by sample, never
as a whole.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backend import array_module
from .hole_weights import hand_over_faint, orphan_fill

# the eight neighbour offsets and the four stored ("forward") ones
OFFSETS = [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if (di, dj) != (0, 0)]
FORWARD = [(0, 1), (1, 0), (1, 1), (1, -1)]  # e, s, se, sw


@dataclass
class Stencil:
    """SPD 9-point (or 5-point when ``se``/``sw`` are None) operator on a grid."""

    diag: object
    e: object
    s: object
    se: object | None = None
    sw: object | None = None
    active: object | None = None  # bool (m, n); None = all cells

    @property
    def shape(self):
        return tuple(self.diag.shape)

    @property
    def xp(self):
        return array_module(self.diag)

    @classmethod
    def from_operator(cls, op, dtype=None) -> "Stencil":
        e = op.edges
        cast = (lambda a: a) if dtype is None else (lambda a: None if a is None else a.astype(dtype))
        return cls(cast(op.diag), cast(e.e), cast(e.s), cast(e.se), cast(e.sw), op.active)

    def forward(self):
        """[(offset, array)] of the stored directions that exist."""
        out = [((0, 1), self.e), ((1, 0), self.s)]
        if self.se is not None:
            out += [((1, 1), self.se), ((1, -1), self.sw)]
        return out

    def astype(self, dtype) -> "Stencil":
        return Stencil(*(None if a is None else a.astype(dtype) for a in
                         (self.diag, self.e, self.s, self.se, self.sw)), self.active)

    def full(self, all8=False):
        """Conductance from each cell to each of its neighbours, as {offset: (m, n)}; with
        ``all8`` the missing diagonals of a 5-point stencil come as zeros."""
        xp = self.xp
        m, n = self.shape
        out = {}
        for (di, dj), w in self.forward():
            out[(di, dj)] = w
            back = xp.zeros((m, n), dtype=w.dtype)
            # back[i, j] = w[i - di, j - dj]: the same edge seen from its other end
            back[_rng(di, m), _rng(dj, n)] = w[_rng(-di, m), _rng(-dj, n)]
            out[(-di, -dj)] = back
        if all8:
            for o in OFFSETS:
                if o not in out:
                    out[o] = xp.zeros((m, n), dtype=self.diag.dtype)
        return out


def _rng(d, size):
    """Slice of cells whose neighbour at offset -d stays inside: target of a shift by d."""
    if d > 0:
        return slice(d, size)
    if d < 0:
        return slice(0, size + d)
    return slice(0, size)


def coarse_shape(shape):
    return tuple((s + 1) // 2 for s in shape)


def _span(r0, size, count):
    """[lo, hi): the coarse indices I < count whose fine index 2I + r0 lies in [0, size)."""
    return max(0, (1 - r0) // 2), min(count, (size + 1 - r0) // 2)


def _window(shape, origin, mc, nc, inside=None, shift=(0, 0)):
    """Where a quarter-size sample of a fine (m, n) array at cells 2I + origin is defined.

    Returns ``(dst, src)``: slices of the (mc, nc) grid and strided slices of the fine array
    with ``a[src]`` = the values at 2I + origin for I in ``dst``; None if empty. Cells 2I +
    ``inside`` must lie in the grid too, and I + ``shift`` in the coarse grid.
    """
    bounds = []
    for k, count in enumerate((mc, nc)):
        lo, hi = _span(origin[k], shape[k], count)
        if inside is not None:
            a, b = _span(inside[k], shape[k], count)
            lo, hi = max(lo, a), min(hi, b)
        lo, hi = max(lo, -shift[k]), min(hi, count - shift[k])
        if lo >= hi:
            return None
        bounds.append((lo, hi))
    dst = tuple(slice(lo, hi) for lo, hi in bounds)
    src = tuple(slice(2 * lo + r, 2 * hi - 1 + r, 2) for (lo, hi), r in zip(bounds, origin))
    return dst, src


def sample(a, r0, c0, mc, nc, dtype=None, inside=None):
    """(mc, nc) array of ``a[2I + r0, 2J + c0]`` (0 outside the grid, and where cell
    2I + ``inside`` is outside), in ``dtype``: the cast happens on the quarter-size copy."""
    xp = array_module(a)
    out = xp.zeros((mc, nc), dtype=a.dtype if dtype is None else dtype)
    win = _window(a.shape, (r0, c0), mc, nc, inside)
    if win is not None:
        out[win[0]] = a[win[1]]
    return out


def _entries(st: Stencil):
    """{offset: (fine array, origin shift)}: the stencil entry of cell y towards y + o is
    ``array[y + shift]`` (y + shift inside the grid, and y too). The diagonal and forward
    conductances are stored at y; a backward one, o = -f, is ``w_f[y - f]``. Missing
    diagonals of a 5-point stencil are absent (zero)."""
    out = {(0, 0): (st.diag, (0, 0))}
    for (di, dj), w in st.forward():
        out[(di, dj)] = (w, (0, 0))
        out[(-di, -dj)] = (w, (-di, -dj))
    return out


def _sample_entry(entry, u, mc, nc, dtype):
    """Quarter-size sample at fine cells 2I + u of an ``_entries`` value (None: zeros)."""
    if entry is None:
        return None
    a, (si, sj) = entry
    return sample(a, u[0] + si, u[1] + sj, mc, nc, dtype, inside=u)


def _shift(a, di, dj):
    """b[I, J] = a[I + di, J + dj] (0 outside)."""
    xp = array_module(a)
    m, n = a.shape
    b = xp.zeros_like(a)
    b[_rng(-di, m), _rng(-dj, n)] = a[_rng(di, m), _rng(dj, n)]
    return b


def _safe_div(num, den):
    xp = array_module(num)
    ok = den > 0
    return xp.where(ok, num / xp.where(ok, den, 1), 0)


def _line_weights(g1, g2, diag, total):
    """Weights of a fine cell on a coarse line from its two coarse neighbours.

    Dendy divides the collapsed conductances by ``diag - (the two off-line conductances)``,
    which puts the cell's whole ground (excess diagonal) against its on-line conductances
    only. For a cell tied strongly across the line and weakly along it (a road or a hole
    edge), a small ground then halves its weights although the cell follows its strongly
    coupled neighbours: measured, a 10-cell component grounded through one 1e-4 edge
    converged at rate 0.99 per cycle. Here the ground is shared in proportion: weights
    are g1, g2 / (g1 + g2) times total / diag, the same row sum the cell-centre formula
    gives. With no ground this is exactly Dendy's formula.
    """
    xp = array_module(g1)
    s = g1 + g2
    ok = (s > 0) & (diag > 0)
    f = xp.where(ok, total / xp.where(ok, diag, 1) / xp.where(ok, s, 1), 0)
    return g1 * f, g2 * f


# Orders in which a fine cell's eight conductances are streamed (``_gather``): each sum
# accumulates in the same order as the textbook formulas it evaluates.
_LEX = sorted(OFFSETS)
_CENTRE = [(-1, -1), (-1, 1), (1, -1), (1, 1), (-1, 0), (1, 0), (0, -1), (0, 1)]


def _gather(st, entries, u, order, groups, mc, nc, dtype):
    """Stream the conductances of the fine cells 2I+u, one quarter-size sample at a time.

    Returns the diagonal, the total conductance, keep (the share of the diagonal that is
    conductance to other cells, 1 without a ground; 0 for inactive cells) and, for each
    group {offset: factor}, the sum over its offsets of conductance x factor. A factor is
    None (1) or ``(x, di, dj)``: times ``_shift(x, di, dj)``, formed on the overlap only.
    Holding at most one conductance sample, not eight, is what bounds the memory.

    Negative conductances (positive off-diagonals, which Galerkin products create on coarse
    levels) are lumped into the diagonal, as classical AMG does: weights stay non-negative
    and the row sum is unchanged. A fine level has none, and skips the work.
    """
    xp = array_module(st.diag)
    d = sample(st.diag, u[0], u[1], mc, nc, dtype)
    total = xp.zeros((mc, nc), dtype=dtype)
    sums = [xp.zeros((mc, nc), dtype=dtype) for _ in groups]
    for o in order:
        w = _sample_entry(entries.get(o), u, mc, nc, dtype)
        if w is None:
            continue
        if w.min() < 0:
            d -= xp.minimum(w, 0)
            w = xp.maximum(w, 0)
        total += w
        for acc, group in zip(sums, groups):
            if o not in group:
                continue
            if group[o] is None:
                acc += w
            else:
                x, di, dj = group[o]
                m, n = w.shape
                dst = (_rng(-di, m), _rng(-dj, n))
                acc[dst] += w[dst] * x[_rng(di, m), _rng(dj, n)]
        del w
    ok = d > 0
    if st.active is not None:
        ok &= sample(st.active, u[0], u[1], mc, nc, bool)
    # the grid outside has d = 0, so keep = 0 there whether or not st.active is given
    keep = xp.where(ok, total / xp.where(d > 0, d, 1), 0)
    return d, total, keep, sums


def interpolation(st: Stencil, dtype=np.float64):
    """Dendy black-box interpolation. Returns {u: (mc, nc)} in ``dtype``: the weight with
    which coarse cell I feeds fine cell 2I+u, u in {-1, 0, 1}^2.

    Holes need one addition to Dendy's scheme. A fine cell whose coarse neighbours are all
    in holes (an "orphan": the tip of a one-cell-wide spur, a cell squeezed between holes)
    gets no weight at all, and then the interpolated constant has a dent there, the
    Galerkin coarse operator sees a spurious ground, and on a component grounded at a
    single cell the slowest (nearly constant) mode is no longer corrected: measured, 30
    CG iterations instead of 5 on a 250^2 grid with 10 % holes at contrast 1, 150 instead of
    10 at contrast 1e4. Orphans are therefore interpolated from one coarse cell in a
    neighbouring hole, which then becomes a coarse unknown of its own (its fine cell is
    no node, so it contributes nothing), with weight (total conductance / diagonal): 1
    without a ground, less with one. Grounded orphans need it too: a two-cell remnant of
    a small component, grounded through a 1e-4 edge, otherwise vanished from the next
    level and converged at rate 0.98 per cycle.
    Coarse cells that end up with an empty column are identity rows on the coarse level.

    Only quarter-size (mc, nc) arrays are formed, each fine sub-lattice 2I+u in turn (see
    the module docstring); cells past the grid edge read as all-zero rows and get weight 0.
    """
    xp = st.xp
    dtype = np.dtype(dtype)
    m, n = st.shape
    mc, nc = coarse_shape((m, n))
    entries = _entries(st)
    act = st.active[::2, ::2] if st.active is not None else xp.ones((mc, nc), dtype=bool)
    hole = ~act  # coarse cells with no fine node: candidates for orphans

    def line(u, side1, side2, cand2):
        """Fine cells 2I+u on a coarse line, between coarse cells I and I+u: weights from
        the stencil collapsed onto each side."""
        d, total, keep, (g1, g2) = _gather(st, entries, u, _LEX,
                                           [dict.fromkeys(side1), dict.fromkeys(side2)],
                                           mc, nc, dtype)
        w1, w2 = _line_weights(g1, g2, d, total)
        del d, total, g1, g2
        return orphan_fill([w1, w2], keep, [hole, cand2])

    # fine cells on coarse rows, (2I, 2J+1): between coarse (I, J) and (I, J+1)
    hw, he = line((0, 1), [(-1, -1), (0, -1), (1, -1)], [(-1, 1), (0, 1), (1, 1)],
                  _shift(hole, 0, 1))
    # fine cells on coarse columns, (2I+1, 2J): between coarse (I, J) and (I+1, J)
    vn, vs = line((1, 0), [(-1, -1), (-1, 0), (-1, 1)], [(1, -1), (1, 0), (1, 1)],
                  _shift(hole, 1, 0))
    # fine cells amid four coarse cells, (2I+1, 2J+1): corner conductance plus the two
    # edge conductances times the weights just computed for those edge cells
    groups = [
        {(-1, -1): None, (-1, 0): (hw, 0, 0), (0, -1): (vn, 0, 0)},  # from (I, J)
        {(-1, 1): None, (-1, 0): (he, 0, 0), (0, 1): (vn, 0, 1)},  # from (I, J+1)
        {(1, -1): None, (1, 0): (hw, 1, 0), (0, -1): (vs, 0, 0)},  # from (I+1, J)
        {(1, 1): None, (1, 0): (he, 1, 0), (0, 1): (vs, 0, 1)},  # from (I+1, J+1)
    ]
    d, total, keep, nums = _gather(st, entries, (1, 1), _CENTRE, groups, mc, nc, dtype)
    del total, groups
    nw, ne, sw, se = (_safe_div(x, d) for x in nums)
    del nums, d
    nw, ne, sw, se = orphan_fill(
        [nw, ne, sw, se], keep,
        [hole, _shift(hole, 0, 1), _shift(hole, 1, 0), _shift(hole, 1, 1)])
    del keep
    # weights of fine cells west of / above their coarse cell: shifted one coarse cell
    P = {(0, 0): act.astype(dtype), (0, 1): hw}
    P[(0, -1)], he = _shift(he, 0, -1), None
    P[(1, 0)] = vn
    P[(-1, 0)], vs = _shift(vs, -1, 0), None
    P[(1, 1)] = nw
    P[(1, -1)], ne = _shift(ne, 0, -1), None
    P[(-1, 1)], sw = _shift(sw, -1, 0), None
    P[(-1, -1)], se = _shift(se, -1, -1), None
    hand_over_faint(P, hole)
    return P


def galerkin(st: Stencil, P, dtype=np.float64) -> Stencil:
    """Coarse stencil ``P^T A P``, in ``dtype`` (``P`` may be in any dtype).

    A_c(I, I+D) = sum_{u,v} P_u(I) A(2I+u, 2I+u+o) P_v(I+D) with o = 2D + v - u a stencil
    offset; only D = 0 and the four forward D are formed (the rest follow by symmetry).
    A(2I+u, 2I+u+o) is read as a strided view of the stored fine array (``_entries``), so
    the only temporaries are quarter-size products.
    """
    xp = st.xp
    dtype = np.dtype(dtype)
    m, n = st.shape
    mc, nc = coarse_shape((m, n))
    entries = _entries(st)
    rng3 = (-1, 0, 1)
    out = {}
    # two coarse-size scratch arrays serve every product: fresh quarter-size temporaries per
    # term (~180 of them) cost more in page faults than their arithmetic on large grids
    t = xp.empty((mc, nc), dtype=dtype)
    scratch = xp.empty((mc, nc), dtype=dtype)
    for D in [(0, 0)] + FORWARD:
        acc = xp.zeros((mc, nc), dtype=dtype)
        for u in P:
            used = False
            for v in P:
                o = (2 * D[0] + v[0] - u[0], 2 * D[1] + v[1] - u[1])
                if o[0] not in rng3 or o[1] not in rng3 or o not in entries:
                    continue
                a, (si, sj) = entries[o]
                win = _window((m, n), (u[0] + si, u[1] + sj), mc, nc, inside=u, shift=D)
                if win is None:
                    continue
                (ri, rj), src = win
                pv = P[v][ri.start + D[0]: ri.stop + D[0], rj.start + D[1]: rj.stop + D[1]]
                term = xp.multiply(a[src], pv, dtype=dtype, out=scratch[ri, rj])
                if not used:
                    t.fill(0)
                    used = True
                if o == (0, 0):
                    t[ri, rj] += term
                else:  # the off-diagonal entry is minus the conductance
                    t[ri, rj] -= term
            if used:
                acc += xp.multiply(P[u], t, dtype=dtype, out=t)
        out[D] = acc
    del t, scratch
    diag = out[(0, 0)]
    # a coarse cell whose column is empty (hole, ground) is an identity row, inactive
    active = diag > 0
    diag[~active] = 1
    for D in FORWARD:
        xp.negative(out[D], out=out[D])  # conductances are minus the off-diagonals
    return Stencil(diag, out[(0, 1)], out[(1, 0)], out[(1, 1)], out[(1, -1)], active)
