"""Weakly linked regions: unions of strong clusters that hang on the rest of the map by a thread.

The pockets of ``deflation`` are single strong-edge clusters. The slow modes left on large
landscapes are not: the Lanczos (Ritz) vectors of CG at 16 M cells (benchmarks/README.md) sit on
a 9-cell peninsula between holes joined by one resistive cell, a 79-cell strip between holes and a
road, and 1,100-4,300-cell areas walled in by holes and roads; each holds several land-cover
classes, so strong-edge clustering cuts it into clusters that each look well linked (to their
neighbours inside the region). Deflating those five regions' indicators takes CG from 22 to 15
iterations there; what is found below takes it to 16. The 9-cell peninsula is no union of clusters:
its cells were in the giant strong cluster, which ran through the one-cell neck. ``necks`` finds such
cells; with ``PocketDeflation(split_necks=True)`` the pocket search gives them no strong edge and the
count goes to 13 (an option, off by default: the whole 96 M job took 25 iterations with it, 17 without).

They are found on the graph of clusters (nodes: strong clusters; edge weight: the summed
conductance between two clusters): for thresholds ``t = W_max * 10^-k`` the components of the
cluster edges ``>= t`` are candidate regions, and a candidate is kept when its links to the
outside (cluster edges leaving it plus its grounds) are below ``tau`` times its total diagonal
and it has at most ``max_cells`` cells (a quarter of the map: the rest of it is the near-constant
mode the coarsest grid resolves anyway, and deflating it would gather and scatter the whole map
on every iteration). Thresholds go down at most
``decades`` powers of ten and stop once every link is counted. The kept regions of all
thresholds form a nested family; what is returned is their common refinement (each cluster
labelled by the kept regions it lies in), whose indicators span every kept region's indicator.

A threshold keeps a region apart from the map only above the region's link to it, so resistive dead
ends tied to the region more weakly than that are left out; ``absorb`` joins every light cluster that
gives half of its conductance or more to deflated parts to the part it is tied to most. Measured at
contrast 1e8, 1 M cells (CG iterations, seeds 0 / 1): 8 neighbours 20 / 22 -> 16 / 21, 4 neighbours
86 / 180 -> 54 / 101; 1e4 unchanged (8 / 10 and 12 / 11 at 1 and 4 M with 8 neighbours, 18 / 15 and
10 / 17 with 4).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..edges import shift_slices

TAU_REGION, DECADES = 1e-3, 12
# a cluster giving at least this share of its conductance (links and grounds) to deflated parts joins
# them, for at most ABSORB_PASSES rounds (chains of dead ends; 10 rounds measured as many as 100)
ABSORB_SHARE, ABSORB_PASSES = 0.5, 10
# ...when its summed diagonal is at most this share of the part's: a dead end, not the open map next to
# a part (without it the parts grew over 90 % of a 1e4 map in ten rounds, 8x the deflation's cost)
ABSORB_LIGHT = 1e-3
# the largest region, as a share of the map. Measured (1000^2, 4 neighbours, contrast 1e8; CG
# iterations seeds 0 / 1): regions of at most 1 % (and 100,000 cells) 330 / 364, a quarter 86 / 180,
# any size 77 / 177 but a whole-map part at every contrast; 1e4 unchanged. A deflated cell keeps
# 8 B, its part's boundary 16 B per entry of A Z (deflation._boundary_az).
MAX_SHARE = 0.25


def cluster_graph(lab, nclus: int, edges):
    """(a, b, W): each pair of touching clusters once (a < b) with the summed conductance
    between them, and ``incident``, the summed edge weight of every cell, (m, n) float64.

    Built direction by direction, duplicates summed as it goes, so the temporaries are one
    direction's crossing edges."""
    incident = np.zeros(lab.shape)
    acc = None
    for w, di, dj in edges:
        src, dst = shift_slices(di, dj)
        ws = w[src]
        incident[src] += ws
        incident[dst] += ws
        la, lb = lab[src], lab[dst]
        cross = (la != lb) & (ws > 0)
        a, b = la[cross], lb[cross]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        part = sp.coo_matrix((ws[cross].astype(np.float64), (lo, hi)), shape=(nclus, nclus)).tocsr()
        acc = part if acc is None else acc + part
    if acc is None:
        acc = sp.csr_matrix((nclus, nclus))
    acc = acc.tocoo()
    return acc.row, acc.col, acc.data, incident


def weak_unions(a, b, W, nclus: int, inner, ground, size, has_active,
                tau: float = TAU_REGION, max_cells: int | None = None, decades: int = DECADES):
    """Label of each cluster in the refinement of the kept regions (int32, -1: in none).

    ``a, b, W``: the cluster graph; ``inner``: each cluster's summed diagonal; ``ground``: its
    links to held cells and finite grounds; ``size``: cells; ``has_active``: bool. ``max_cells``:
    largest region kept; None: ``MAX_SHARE`` of the map."""
    if max_cells is None:
        max_cells = int(MAX_SHARE * size.sum())
    key = np.zeros(nclus, dtype=np.int64)  # refinement built threshold by threshold
    inside = np.zeros(nclus, dtype=bool)
    if W.size == 0:
        return np.full(nclus, -1, dtype=np.int32)
    top, last = float(W.max()), -1
    for k in range(1, decades + 1):
        keep = W >= top * 10.0 ** (-k)
        g = sp.coo_matrix((np.ones(int(keep.sum()), np.int8), (a[keep], b[keep])), shape=(nclus, nclus))
        ncomp, comp = connected_components(g, directed=False)
        if ncomp == last:  # nothing joined since the previous threshold: the same candidates
            continue
        last = ncomp
        cross = comp[a] != comp[b]
        wc = W[cross]
        leak = (np.bincount(comp[a][cross], weights=wc, minlength=ncomp)
                + np.bincount(comp[b][cross], weights=wc, minlength=ncomp)
                + np.bincount(comp, weights=ground, minlength=ncomp))
        cin = np.bincount(comp, weights=inner, minlength=ncomp)
        cells = np.bincount(comp, weights=size, minlength=ncomp)
        act = np.bincount(comp, weights=has_active, minlength=ncomp) > 0
        kept = act & (cells <= max_cells) & (leak < tau * cin) & (cin > 0)
        if kept.any():
            inside |= kept[comp]
            tag = np.where(kept[comp], comp + 1, 0)
            _, key = np.unique(key * (ncomp + 1) + tag, return_inverse=True)
            key = key.astype(np.int64).ravel()
        if keep.all():  # every link counted: lower thresholds join nothing more
            break
    out = np.full(nclus, -1, dtype=np.int32)
    if inside.any():
        _, inv = np.unique(key[inside], return_inverse=True)
        out[inside] = inv.ravel()
    return out


def absorb(part, a, b, W, inner, ground, has_active, share: float = ABSORB_SHARE, light: float = ABSORB_LIGHT,
           passes: int = ABSORB_PASSES):
    """``part`` (cluster -> deflated part, -1: none) with the clusters that hang on the parts joined to them.

    The regions are components of the cluster graph at one threshold, so a resistive dead end tied to
    a region only by links weaker than that threshold is left out of it, and the region's indicator
    without it is no slow mode: the slowest Ritz vectors at contrast 1e8 (8 neighbours, 1 M cells) sit
    on such regions with 8-25 % of their cells undeflated, all in small resistive clusters linked to
    the region's parts. A cluster outside every part that gives at least ``share`` of its links plus
    grounds to deflated parts, and whose summed diagonal is at most ``light`` times the part's, joins
    the part it is tied to most; repeated, so chains of them follow too. Changes ``part`` in place.
    Measured at 1e8, 1 M cells, 4 neighbours (CG iterations, seeds 0 / 1; 86 / 180 without): the
    largest tie to one part counted alone 56 / 117, and "more than half" 73 / 130; the ties to all
    parts 44 / 100, but without the weight bound the parts then grew over 90 % of a 1e4 map (deflation
    8x dearer per iteration, same count); with it (this) 54 / 101. 8 neighbours: 20 / 22 -> 16 / 21.
    """
    nparts = int(part.max()) + 1
    if nparts == 0:
        return part
    nclus = part.size
    total = np.bincount(a, weights=W, minlength=nclus) + np.bincount(b, weights=W, minlength=nclus) + ground
    x, y, w = np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([W, W])  # both directions
    for _ in range(passes):
        sel = (part[x] < 0) & (part[y] >= 0) & has_active[x]
        if not sel.any():
            break
        tie = sp.coo_matrix((w[sel], (x[sel], part[y[sel]])), shape=(nclus, nparts)).tocsr()  # summed per part
        tied = np.asarray(tie.sum(axis=1)).ravel()
        target = np.asarray(tie.argmax(axis=1)).ravel()
        weight = np.bincount(part[part >= 0], weights=inner[part >= 0], minlength=nparts)
        joins = (part < 0) & (tied >= share * total) & (tied > 0) & (inner <= light * weight[target])
        if not joins.any():
            break
        part[joins] = target[joins]
    return part


def necks(edges, shape):
    """Cells whose linked neighbours fall apart without them (bool (m, n)), on an 8-neighbour grid:
    around the cell (N, NE, E, SE, S, SW, W, NW) the linked neighbours form two runs or more, a
    corner gap not counting when both cells beside it are linked (they touch diagonally)."""
    by = {(di, dj): w for w, di, dj in edges}
    if (1, 1) not in by:
        return np.zeros(shape, dtype=bool)
    m, n = shape

    def linked(di, dj):
        """Whether each cell has an edge to its neighbour at (di, dj)."""
        out = np.zeros(shape, dtype=bool)
        if (di, dj) in by:  # a stored forward edge: w[i, j] joins (i, j) and (i+di, j+dj)
            out[...] = by[(di, dj)] > 0
        else:  # the back of a forward edge: w[i-di', j-dj'] with (di', dj') = (-di, -dj)
            w = by[(-di, -dj)] > 0
            src, dst = shift_slices(-di, -dj)
            out[dst] = w[src]
        return out

    ring = [linked(*d) for d in ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))]
    for k in (1, 3, 5, 7):  # a corner between two linked edge neighbours does not split them
        ring[k] = ring[k] | (ring[k - 1] & ring[(k + 1) % 8])
    starts = sum((ring[k] & ~ring[k - 1]).astype(np.int8) for k in range(8))
    return starts >= 2
