"""Deflation of "pockets": the slow modes the grid multigrid leaves behind.

A pocket is a small cluster of cells joined by strong edges but weakly linked to everything
else (a conductive cell among resistive ones, a patch walled in by roads and holes). When no
coarse cell falls inside it, neither the coarse grid nor the smoother corrects it, and each
pocket costs CG iterations (measured: 12-23 iterations at 1 M cells, 1e4 contrast, depending on
the landscape, not on its size).

Each pocket's indicator vector becomes a column of Z; with Q = Z (Z^T A Z)^-1 Z^T the balanced
preconditioner P = (I - Q A) M (I - A Q) + Q is symmetric positive definite and solves the pocket
modes exactly. Measured on 1000^2 landscapes (seeds 0-3, 8 neighbours): 12/23/20/19 -> 10/13/14/14
CG iterations; 4 neighbours 53/85 -> 35/34.

Cost per iteration: one M and no operator apply, no full-size temporary. Q r reads r only on
the deflated cells S and is non-zero only there; A Q r is non-zero only on N, the cells where
A Z has an entry: each part's boundary (inside and out) and its grounded cells, since A times an
indicator vanishes wherever a cell and all its neighbours lie in the part. Z^T A z reads z only
on N. Setup stores S with each cell's part (8 B per deflated cell) and AZ on the rows N (with
the vectors: NumPy or CuPy), and factorises the small E = Z^T A Z on the host (SuperLU); each
call gathers and scatters on S and N only, and the part-sized vector crosses to the host twice
(one small solve before M, one after). Measured at 1000^2 (CPU, ~550 pockets, |N| ~ 16 000
cells): 0.5 ms per call on top of M, where two full-grid applies and five full-size temporaries
cost 33 ms and 22 B/cell.

Detection (classical strength of connection): an edge is strong when its weight is at least
``theta`` times the largest edge of both its ends; clusters = components of strong edges;
a cluster of at most ``max_size`` cells whose links to outside (edges + grounds) are below ``tau``
times its total diagonal is a pocket. Unions of clusters that hang on the map by a thread (a
peninsula of several land-cover classes between holes; ``weak_regions``) are deflated too: Z's
columns are the common refinement of the pockets and those regions, so every pocket's and every
region's indicator is in its span. ``regions``: settings passed to ``weak_regions.weak_unions``
(``tau``, ``max_cells``; ``max_cells=0`` turns them off). With ``absorb_dead_ends`` (the default)
clusters that give half their conductance or more to the parts join them (``weak_regions.absorb``).
``max_bytes`` bounds what is kept: the default regions (up to a quarter of the map) keep ~1 B/cell
at contrast 1e4 but 22 B/cell on a 4-neighbour 1e8 map, whose parts' boundaries run everywhere;
past the bound, regions of at most ``FALLBACK_SHARE`` of the map are tried, then pockets alone
(``benchmarks/deflation_memory.py``). With ``split_necks`` (8 neighbours; an
option, off by default) a cell whose linked neighbours fall apart without it (``weak_regions.necks``)
keeps no strong edge, so a peninsula behind a one-cell neck is not part of the cluster beyond it.
Measured, 8 neighbours: 16 M seed 0 takes 22 CG iterations with pockets alone, 16 with the regions,
13 with necks split too; but the whole 96 M job took 25 with necks split against 17 without, so
splitting stays off until that is understood.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..backend import to_host
from ..edges import shift_slices
from .weak_regions import absorb, cluster_graph, necks, weak_unions

THETA, TAU, MAX_SIZE = 0.02, 0.1, 2000
FALLBACK_SHARE = 0.01  # regions of at most this share of the map when larger ones would not fit
ROUNDING = 1e-12  # |diag - incident| below this share of diag: float64 rounding, not a ground


def _boundary_az(pid, grounding, edges, index):
    """A Z where it is non-zero: (N, row, col, val) with N the flat cells holding entries and
    ``row`` positions in N; an entry may repeat (row, col), to be summed by whoever applies it.

    Column p of A Z is A times part p's indicator: inside p it is each cell's grounding plus its
    edges to cells outside p, and each outside neighbour gets minus the edge. So only grounded cells
    and the parts' boundaries hold entries, and a part of any size costs its perimeter (16 B per
    entry), not its area."""
    m, n = pid.shape
    own = np.where(pid >= 0, grounding, 0.0)  # (m, n): a deflated cell's entry in its own part's column
    rows, cols, vals = [], [], []
    for w, di, dj in edges:
        src, dst = shift_slices(di, dj)
        pa, pb = pid[src], pid[dst]
        ws = w[src]
        cross = (pa != pb) & (ws != 0)
        for here, there, mine, theirs in ((src, dst, pa, pb), (dst, src, pb, pa)):
            leaves = cross & (mine >= 0)  # the edge leaves part `mine` at `here`...
            np.add(own[here], ws, out=own[here], where=leaves)
            i, j = np.nonzero(leaves)  # ...and enters the cell at `there` with -w
            ti, tj = there[1].start or 0, there[2].start or 0  # slice -> grid
            rows.append(((i + ti) * n + (j + tj)).astype(index))
            cols.append(mine[leaves])
            vals.append(-ws[leaves].astype(np.float64))
            del i, j, leaves
        del cross
    inside = np.flatnonzero(own).astype(index)
    rows.append(inside)
    cols.append(pid.ravel()[inside])
    vals.append(own.ravel()[inside])
    touched = np.zeros(m * n, dtype=bool)
    for r in rows:
        touched[r] = True
    near = np.flatnonzero(touched).astype(index)
    del touched
    row = np.concatenate(rows)
    del rows
    row = np.searchsorted(near, row).astype(index)
    return near, row, np.concatenate(cols).astype(np.int32), np.concatenate(vals)


def _drop_redundant_diagonals(strong: dict) -> None:
    """Unmark strong diagonal edges whose ends are already joined by two strong cardinal edges:
    the clusters stay the same, the graph handed to the component search is up to half as big
    (its float64 copies are the peak of a one-pair job's setup)."""
    e, s = strong[(0, 1)], strong[(1, 0)]
    if (1, 1) in strong:  # (i, j)-(i+1, j+1) via (i, j+1) or (i+1, j)
        strong[(1, 1)] &= ~((e[:-1, :] & s[:, 1:]) | (s[:, :-1] & e[1:, :]))
    if (1, -1) in strong:  # (i, j)-(i+1, j-1) via (i, j-1) or (i+1, j)
        strong[(1, -1)] &= ~((e[:-1, :] & s[:, :-1]) | (s[:, 1:] & e[1:, :]))


class PocketDeflation:
    """Q = Z (Z^T A Z)^-1 Z^T over the pockets of a grid operator.

    Setup runs on the host (float64 whatever the operator's dtypes); the index arrays and AZ
    then live with the operator's arrays (NumPy or CuPy) and only pocket-sized vectors cross.
    """

    count = 0  # deflated parts (columns of Z)
    regions = 0  # weakly linked regions among them (nested ones counted apart)
    nbytes = 0  # what the index arrays and A Z keep (with the vectors: host or device)
    deflated_cells = 0  # cells in some part

    def __init__(self, op, theta: float = THETA, tau: float = TAU, max_size: int = MAX_SIZE,
                 regions: dict | None = None, split_necks: bool = False, max_bytes: int | None = None,
                 absorb_dead_ends: bool = True):
        self.xp = op.xp
        m, n = op.shape
        self.shape = (m, n)
        active = to_host(op.active).astype(bool, copy=False)
        diag = to_host(op.diag).astype(np.float64, copy=False)  # edges may be float32: sums in float64
        edges = [(to_host(w), di, dj) for w, di, dj in op.edges.directions()]
        biggest = np.zeros((m, n))
        for w, di, dj in edges:
            src, dst = shift_slices(di, dj)
            np.maximum(biggest[src], w[src], out=biggest[src])
            np.maximum(biggest[dst], w[src], out=biggest[dst])
        idx = np.arange(m * n, dtype=np.int32 if m * n < 2**31 else np.int64).reshape(m, n)
        strong = {}
        for w, di, dj in edges:
            src, dst = shift_slices(di, dj)
            ws = w[src]
            strong[(di, dj)] = (ws > 0) & (ws >= theta * biggest[src]) & (ws >= theta * biggest[dst])
        del biggest
        if split_necks:
            # a one-cell neck joins whatever it links into one strong cluster: its own cell keeps no
            # strong edge, so what hangs on it can be a pocket or a region of its own
            neck = necks(edges, (m, n))
            for (di, dj), st in strong.items():
                src, dst = shift_slices(di, dj)
                st &= ~neck[src]
                st &= ~neck[dst]
            del neck
        _drop_redundant_diagonals(strong)
        rows, cols = [], []
        for (di, dj), s in strong.items():
            src, dst = shift_slices(di, dj)
            rows.append(idx[src][s])
            cols.append(idx[dst][s])
        del strong, idx
        r, c = np.concatenate(rows), np.concatenate(cols)
        del rows, cols
        nclus, lab = connected_components(sp.coo_matrix((np.ones(r.size, np.int8), (r, c)), shape=(m * n, m * n)),
                                          directed=False)
        del r, c
        lab = lab.reshape(m, n)
        size = np.bincount(lab.ravel(), minlength=nclus)
        inner = np.bincount(lab.ravel(), weights=np.where(active, diag, 0).ravel(), minlength=nclus)
        a, b, W, incident = cluster_graph(lab, nclus, edges)
        grounding = np.where(active, diag - incident, 0.0)  # edges to held cells and finite grounds
        del incident
        ground = np.bincount(lab.ravel(), weights=grounding.ravel(), minlength=nclus)
        # A z of a part's indicator is its grounding on cells inside (plus edges that leave it); what
        # is left of diag - incident elsewhere is the rounding of two float64 sums of the same edges
        grounding[np.abs(grounding) <= ROUNDING * diag] = 0.0
        leak = np.bincount(a, weights=W, minlength=nclus) + np.bincount(b, weights=W, minlength=nclus) + ground
        has_active = np.bincount(lab.ravel(), weights=active.ravel(), minlength=nclus) > 0
        pocket = has_active & (size <= max_size) & (leak < tau * inner) & (inner > 0)
        index = np.int32 if m * n < 2**31 else np.int64
        # the regions asked for; when their arrays would pass max_bytes, narrower ones, then pockets alone
        tries = [regions or {}] if regions is not None or max_bytes is None else \
            [{}, dict(max_cells=int(FALLBACK_SHARE * m * n)), dict(max_cells=0)]
        for t, opts in enumerate(tries):
            # deflated parts: the common refinement of the pockets and the weakly linked regions
            region = weak_unions(a, b, W, nclus, inner, ground, size, has_active, **opts)
            inside = pocket | (region >= 0)
            self.regions = int(region.max()) + 1  # weakly linked regions kept (nested ones counted apart)
            part = np.full(nclus, -1, dtype=np.int32)
            if inside.any():
                pair = np.where(pocket, np.arange(nclus), -1).astype(np.int64) * (self.regions + 1) + region + 1
                part[inside] = np.unique(pair[inside], return_inverse=True)[1].ravel()
                del pair
            if absorb_dead_ends:  # dead ends follow the part they hang on (weak_regions.absorb)
                absorb(part, a, b, W, inner, ground, has_active)
                inside = part >= 0
            self.count = k = int(part.max()) + 1
            if not k:
                self.nbytes = self.deflated_cells = 0
                return
            pid = part[lab]  # (m, n): deflated part of each cell, -1 outside
            pid[~active] = -1
            cells = np.flatnonzero(pid >= 0).astype(index)  # S, the deflated cells (all active)
            col = pid.ravel()[cells]
            near, az_row, az_col, az_val = _boundary_az(pid, grounding, edges, index)
            del pid
            self.nbytes = sum(x.nbytes for x in (cells, col, near, az_row, az_col, az_val))
            self.deflated_cells = int(cells.size)
            if max_bytes is None or self.nbytes <= max_bytes or t == len(tries) - 1:
                break
        del lab, grounding
        # E = Z^T A Z from the cluster graph: a part's diagonal is its leak, touching parts couple
        pa, pb = part[a], part[b]
        out_a, out_b = (pa != pb) & (pa >= 0), (pa != pb) & (pb >= 0)
        diag_e = (np.bincount(pa[out_a], weights=W[out_a], minlength=k) + np.bincount(pb[out_b], weights=W[out_b], minlength=k)
                  + np.bincount(part[inside], weights=ground[inside], minlength=k))
        both = out_a & out_b
        e_rows = [np.arange(k), pa[both], pb[both]]
        e_cols = [np.arange(k), pb[both], pa[both]]
        e_vals = [diag_e, -W[both], -W[both]]
        E = sp.csc_matrix((np.concatenate(e_vals), (np.concatenate(e_rows), np.concatenate(e_cols))), shape=(k, k))
        from scipy.sparse.linalg import splu

        self._lu = splu(E)
        # index arrays and AZ live with the vectors: only the part-sized system crosses to the host
        xp = self.xp
        self._cells = xp.asarray(cells)
        self._col = xp.asarray(col)
        self._near = xp.asarray(near)  # N (flat cell indices)
        self._az_row = xp.asarray(az_row)  # position in N
        self._az_col = xp.asarray(az_col)  # part
        self._az_val = xp.asarray(az_val)

    def _solve(self, zt):
        """E^-1 for a (k, pockets) batch: the only host round trip."""
        return self.xp.asarray(self._lu.solve(to_host(zt).T).T)

    def _zt(self, flat):
        """Z^T r for flat r of shape (k, m*n): sums over each pocket's cells."""
        xp = self.xp
        return xp.stack([xp.bincount(self._col, weights=row[self._cells], minlength=self.count) for row in flat])

    def __call__(self, r):
        """Q r for r of shape (k, m, n), in r's array namespace (NumPy or CuPy)."""
        xp = self.xp
        flat = r.reshape(r.shape[0], -1)
        y = self._solve(self._zt(flat))  # (k, pockets): small
        out = xp.zeros_like(flat)
        out[:, self._cells] = y[:, self._col]
        return out.reshape(r.shape)

    def balance(self, precond):
        """The balanced preconditioner (I - QA) M (I - AQ) + Q (M itself when there are no pockets).

        A Q and Z^T A come from the stored AZ, so A itself is not needed. The returned P takes r
        of shape (k, m, n), C-contiguous as CG's residual is, and leaves r bitwise unchanged; it
        hands M the array r itself with r - A Q r written on N, so M must not keep a reference to
        its input (nor return it: an output sharing r's memory is copied before r is restored).
        """
        if not self.count:
            return precond
        xp = self.xp
        cells, col, near = self._cells, self._col, self._near
        az_row, az_col, az_val = self._az_row, self._az_col, self._az_val
        nn, npk = int(near.size), self.count

        def p(r):
            writeable = getattr(r.flags, "writeable", True)
            if not (r.flags.c_contiguous and writeable):
                r = r.copy()  # C order: a private copy M may see; the caller's r is untouched
            k = r.shape[0]
            flat = r.reshape(k, -1)  # a view: writes reach r
            y1 = self._solve(self._zt(flat))  # E^-1 Z^T r
            saved = flat[:, near]  # a copy (fancy indexing)
            # r - A Q r: A Q r = AZ y1 lives on N only
            aqr = xp.stack([xp.bincount(az_row, weights=az_val * y1[i, az_col], minlength=nn) for i in range(k)])
            flat[:, near] = saved - aqr
            del aqr
            try:
                z = precond(r)
                if z is r or xp.may_share_memory(z, r):
                    z = z.copy()
            finally:
                flat[:, near] = saved  # bitwise restore
            dtype = np.result_type(z.dtype, r.dtype)
            z = xp.ascontiguousarray(z, dtype=dtype)
            zflat = z.reshape(k, -1)
            zn = zflat[:, near]
            ztaz = xp.stack([xp.bincount(az_col, weights=az_val * zn[i, az_row], minlength=npk) for i in range(k)])
            y2 = self._solve(ztaz)  # E^-1 Z^T A z (A symmetric: Z^T A = (AZ)^T)
            zflat[:, cells] += (y1 - y2)[:, col]  # + Q r - Q A z
            return z

        return p
