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
"""
from __future__ import annotations

from dataclasses import dataclass

from ..backend import array_module

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


def padded(a, pad=1):
    """Copy of ``a`` (..., m, n) with a ring of ``pad`` zeros."""
    xp = array_module(a)
    out = xp.zeros(a.shape[:-2] + (a.shape[-2] + 2 * pad, a.shape[-1] + 2 * pad), dtype=a.dtype)
    out[..., pad:-pad, pad:-pad] = a
    return out


def coarse_shape(shape):
    return tuple((s + 1) // 2 for s in shape)


def fine_view(a_pad, ui, uj, mc, nc):
    """Values at fine cells (2I+ui, 2J+uj), I < mc, J < nc, of a 1-padded fine array."""
    return a_pad[..., 1 + ui: 1 + ui + 2 * mc - 1: 2, 1 + uj: 1 + uj + 2 * nc - 1: 2]


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


def interpolation(st: Stencil):
    """Dendy black-box interpolation. Returns {u: (mc, nc)}: the weight with which coarse
    cell I feeds fine cell 2I+u, u in {-1, 0, 1}^2.

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
    """
    xp = st.xp
    m, n = st.shape
    mc, nc = coarse_shape((m, n))
    dt = st.diag.dtype
    # padded fine coefficients; ghost cells are all-zero rows and get weight 0
    full = st.full(all8=True)
    # negative conductances (positive off-diagonals, which Galerkin products create on
    # coarse levels) are lumped into the diagonal, as classical AMG does: weights stay
    # non-negative and the row sum is unchanged
    diag = st.diag
    for o in OFFSETS:
        neg = xp.minimum(full[o], 0)
        diag = diag - neg
        full[o] = full[o] - neg
    c = {o: padded(w) for o, w in full.items()}
    d = padded(diag)
    active = st.active if st.active is not None else xp.ones((m, n), dtype=bool)
    total = sum(full.values())
    tot = padded(total)
    # share of a cell's diagonal that is conductance to other cells (1 without a ground);
    # an orphan takes this as its single weight, like the line and centre formulas
    keep = padded(xp.where(active & (diag > 0), total / xp.where(diag > 0, diag, 1), 0))
    hole = ~active[::2, ::2]  # coarse cells with no fine node: candidates for orphans

    def at(arr, ui, uj):
        return fine_view(arr, ui, uj, mc, nc)

    def orphan_fill(weights, keep_here, cands):
        """Orphans take a single weight from the first candidate hole coarse cell. One
        cell, not an average: two hole cells feeding the same orphans equally would give P
        two equal columns and a singular coarse operator."""
        orphan = (keep_here > 0) & (sum(weights) == 0)
        chosen = [None] * len(cands)
        left = orphan
        for i, cd in enumerate(cands):
            chosen[i] = left & cd
            left = left & ~cd
        moved = orphan & ~left  # orphans that found a candidate
        return [xp.where(moved, xp.where(ch, keep_here, 0), w).astype(dt)
                for w, ch in zip(weights, chosen)]

    # fine cells on coarse rows, (2I, 2J+1): between coarse (I, J) and (I, J+1)
    def cc(o):
        return at(c[o], 0, 1)
    gw = cc((-1, -1)) + cc((0, -1)) + cc((1, -1))
    ge = cc((-1, 1)) + cc((0, 1)) + cc((1, 1))
    hw, he = _line_weights(gw, ge, at(d, 0, 1), at(tot, 0, 1))
    hw, he = orphan_fill([hw, he], at(keep, 0, 1), [hole, _shift(hole, 0, 1)])
    # fine cells on coarse columns, (2I+1, 2J): between coarse (I, J) and (I+1, J)
    def cv(o):
        return at(c[o], 1, 0)
    gn = cv((-1, -1)) + cv((-1, 0)) + cv((-1, 1))
    gs = cv((1, -1)) + cv((1, 0)) + cv((1, 1))
    vn, vs = _line_weights(gn, gs, at(d, 1, 0), at(tot, 1, 0))
    vn, vs = orphan_fill([vn, vs], at(keep, 1, 0), [hole, _shift(hole, 1, 0)])
    # fine cells amid four coarse cells, (2I+1, 2J+1)
    def cm(o):
        return at(c[o], 1, 1)
    dm = at(d, 1, 1)
    nw = _safe_div(cm((-1, -1)) + cm((-1, 0)) * hw + cm((0, -1)) * vn, dm)
    ne = _safe_div(cm((-1, 1)) + cm((-1, 0)) * he + cm((0, 1)) * _shift(vn, 0, 1), dm)
    sw = _safe_div(cm((1, -1)) + cm((1, 0)) * _shift(hw, 1, 0) + cm((0, -1)) * vs, dm)
    se = _safe_div(cm((1, 1)) + cm((1, 0)) * _shift(he, 1, 0) + cm((0, 1)) * _shift(vs, 0, 1), dm)
    nw, ne, sw, se = orphan_fill(
        [nw, ne, sw, se], at(keep, 1, 1),
        [hole, _shift(hole, 0, 1), _shift(hole, 1, 0), _shift(hole, 1, 1)])
    return {
        (0, 0): active[::2, ::2].astype(dt),
        (0, 1): hw, (0, -1): _shift(he, 0, -1),
        (1, 0): vn, (-1, 0): _shift(vs, -1, 0),
        (1, 1): nw, (1, -1): _shift(ne, 0, -1),
        (-1, 1): _shift(sw, -1, 0), (-1, -1): _shift(se, -1, -1),
    }


def galerkin(st: Stencil, P) -> Stencil:
    """Coarse stencil ``P^T A P``.

    A_c(I, I+D) = sum_{u,v} P_u(I) A(2I+u, 2I+u+o) P_v(I+D) with o = 2D + v - u a stencil
    offset; only D = 0 and the four forward D are formed (the rest follow by symmetry).
    """
    xp = st.xp
    m, n = st.shape
    mc, nc = coarse_shape((m, n))
    # A(x, x+o) as padded fine arrays: the diagonal and minus the conductances
    A = {o: padded(-w) for o, w in st.full(all8=True).items()}
    A[(0, 0)] = padded(st.diag)
    Ppad = {u: padded(p) for u, p in P.items()}
    rng3 = (-1, 0, 1)
    out = {}
    for D in [(0, 0)] + FORWARD:
        acc = xp.zeros((mc, nc), dtype=st.diag.dtype)
        for u in P:
            t = None
            for v in P:
                o = (2 * D[0] + v[0] - u[0], 2 * D[1] + v[1] - u[1])
                if o[0] not in rng3 or o[1] not in rng3:
                    continue
                pv = Ppad[v][1 + D[0]: 1 + D[0] + mc, 1 + D[1]: 1 + D[1] + nc]
                term = fine_view(A[o], u[0], u[1], mc, nc) * pv
                t = term if t is None else t + term
            if t is not None:
                acc += P[u] * t
        out[D] = acc
    diag = out[(0, 0)]
    # a coarse cell whose column is empty (hole, ground) is an identity row, inactive
    active = diag > 0
    diag = xp.where(active, diag, 1)
    return Stencil(diag, -out[(0, 1)], -out[(1, 0)], -out[(1, 1)], -out[(1, -1)], active)
