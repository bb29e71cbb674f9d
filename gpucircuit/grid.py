"""Raster -> circuit graph with Circuitscape's semantics.

* conductance g = 1/r for resistance maps; nodata (NaN) is no node; only g > 0 are nodes.
* cardinal edge = (g1 + g2)/2, or 1/((r1 + r2)/2) with average resistances; diagonal edges
  (8 neighbours) are the same divided by sqrt(2).
* short-circuit regions (polygons, focal regions) merge their node cells into one node.
* components are computed on the grid (8- or 4-connectivity) and joined through merged regions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage as ndi
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .backend import array_module
from .errors import InputError
from .edges import GridEdges, shift_slices

SQRT2 = np.sqrt(2.0)


def conductance_from_habitat(habitat: np.ndarray, is_resistance: bool, where: str = "habitat map") -> np.ndarray:
    """Cell conductances (0 = no node) from a habitat map with NaN as nodata."""
    h = np.asarray(habitat, dtype=np.float64)
    valid = ~np.isnan(h)
    if np.isinf(h[valid]).any():
        raise InputError(f"{where} contains infinite values")
    if is_resistance:
        bad = valid & (h <= 0)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            kind = "zero" if h[r, c] == 0 else "negative"
            raise InputError(
                f"{where} has {kind} resistance ({h[r, c]:g}) at row {r}, column {c} "
                f"({int(bad.sum())} such cells): resistances must be positive"
            )
        g = np.zeros_like(h)
        g[valid] = 1.0 / h[valid]
        return g
    neg = valid & (h < 0)
    if neg.any():
        r, c = np.argwhere(neg)[0]
        raise InputError(f"{where} has negative conductance ({h[r, c]:g}) at row {r}, column {c}")
    return np.where(valid, h, 0.0)


def edge_weight(a, b, avg_resistances: bool = False, diagonal: bool = False):
    """Conductance of the edges between cells of conductances ``a`` and ``b`` (0 unless both are
    nodes): the one formula, so edges recomputed for some cells equal the originals bit for bit."""
    ra = rb = None
    if avg_resistances:
        ra, rb = _resistance(a), _resistance(b)
    return _weight(a, b, ra, rb, diagonal)


def _resistance(g):
    """1 / g on the nodes, 0 elsewhere."""
    xp = array_module(g)
    return xp.where(g > 0, 1.0 / xp.where(g > 0, g, 1), 0)


def _weight(a, b, ra, rb, diagonal: bool):
    """:func:`edge_weight` given the cells' resistances ``ra``, ``rb`` (None: the conductances are
    averaged instead), in place on one array: on large rasters temporaries cost more than arithmetic."""
    xp = array_module(a)
    both = a > 0
    both &= b > 0
    if ra is not None:
        w = ra + rb
        with np.errstate(divide="ignore", over="ignore"):  # a sum of 0 (or a denormal) is no edge: zeroed below
            xp.divide(2.0, w, out=w)
    else:
        w = a + b
        w /= 2.0
    w[~both] = 0
    if diagonal:
        w /= SQRT2
    return w


def edges_from_conductance(g, four_neighbors: bool = False, avg_resistances: bool = False) -> GridEdges:
    """Edge conductances between node cells (g > 0), in g's array namespace."""
    xp = array_module(g)
    m, n = g.shape
    e = xp.zeros((m, n), dtype=g.dtype)
    s = xp.zeros((m, n), dtype=g.dtype)
    r = _resistance(g) if avg_resistances else None  # once, not per direction

    def weight(src, dst, diagonal=False):
        return _weight(g[src], g[dst], None if r is None else r[src], None if r is None else r[dst], diagonal)

    every, head, tail = slice(None), slice(None, -1), slice(1, None)
    e[:, :-1] = weight((every, head), (every, tail))
    s[:-1, :] = weight((head, every), (tail, every))
    if four_neighbors:
        return GridEdges(e, s)
    se = xp.zeros((m, n), dtype=g.dtype)
    sw = xp.zeros((m, n), dtype=g.dtype)
    se[:-1, :-1] = weight((head, head), (tail, tail), diagonal=True)
    sw[:-1, 1:] = weight((head, tail), (tail, head), diagonal=True)
    return GridEdges(e, s, se, sw)


def relabel(labels: np.ndarray) -> np.ndarray:
    """Labels -> 1..k (int64) in ascending order of value; 0 and NaN mean none (a polygon raster's
    empty cells). The one region relabeller: polygon files, the array API and components use it."""
    labels = np.asarray(labels)
    out = np.zeros(labels.shape, dtype=np.int64)
    pos = (labels != 0) & ~np.isnan(labels)
    if pos.any():
        _, inv = np.unique(labels[pos], return_inverse=True)
        out[pos] = inv.ravel() + 1
    return out


@dataclass
class RasterGraph:
    """A raster circuit: edge conductances, node cells, merged regions and components (host arrays)."""

    g: np.ndarray  # cell conductance, 0 = no node
    edges: GridEdges
    merge: np.ndarray  # int32 (m, n): 0 = own node, k > 0 = cell belongs to merged region k
    components: np.ndarray  # int16 / int32 (m, n): 0 = no node, else component id (1-based)
    four_neighbors: bool = False
    regions: np.ndarray | None = None  # merge labels on all cells, incl. region cells without habitat
    avg_resistances: bool = False  # how the edges were made (restore_edges remakes some)

    def paint(self, values):
        """Give region cells without habitat their region node's value (as Circuitscape's maps
        do); works in the values' namespace (NumPy or CuPy)."""
        if self.regions is None:
            return values
        extra = np.flatnonzero(((self.regions > 0) & (self.merge == 0)).ravel())
        if not extra.size:
            return values
        from .backend import array_module

        xp = array_module(values)
        cells = np.flatnonzero(self.merge.ravel() > 0)
        per_region = xp.zeros(int(self.regions.max()) + 1, dtype=values.dtype)
        per_region[xp.asarray(self.merge.ravel()[cells])] = values.ravel()[xp.asarray(cells)]
        out = values.copy()
        out.ravel()[xp.asarray(extra)] = per_region[xp.asarray(self.regions.ravel()[extra])]
        return out

    @property
    def shape(self):
        return self.g.shape

    @property
    def node(self) -> np.ndarray:
        return self.g > 0

    def with_merged(self, regions: np.ndarray) -> "RasterGraph":
        """A graph where the cells of each positive label in ``regions`` are also merged."""
        base = self.merge if self.regions is None else self.regions
        return build_raster_graph(self.g, self.four_neighbors, self.avg_resistances,
                                  merge=_combine_merges(base, regions), edges=self.edges)

    def restore_edges(self, keep: np.ndarray) -> None:
        """Remake, in place, every edge without both ends in ``keep`` from the cell conductances.

        A solver on the host masks the graph's own edge arrays instead of copying them (32 B/cell
        less at the peak of a job); this gives the maps their edges back, equal to the originals
        bit for bit (the same elementwise formula on the same conductances)."""
        node = self.g > 0
        for w, di, dj in self.edges.directions():
            src, dst = shift_slices(di, dj)
            # an edge with a cell off the graph is 0 either way: only node-to-node edges come back
            lost = node[src] & node[dst] & ~(keep[src] & keep[dst])
            w[src][lost] = edge_weight(self.g[src][lost], self.g[dst][lost], self.avg_resistances,
                                       diagonal=bool(di and dj))


def _combine_merges(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Union of two merge labelings: cells sharing a label in a or in b end up together."""
    if not (b > 0).any():
        return a
    if not (a > 0).any():
        return relabel(b)
    na = int(a.max())
    ids = np.where(b > 0, b + na, a)  # provisional labels; join a-labels and b-labels that overlap
    both = (a > 0) & (b > 0)
    k = int(ids.max()) + 1
    pairs = sp.coo_matrix((np.ones(both.sum()), (a[both], b[both] + na)), shape=(k, k))
    _, comp = connected_components(pairs, directed=False)
    out = np.where(ids > 0, comp[ids] + 1, 0)
    return relabel(out)


def build_raster_graph(g: np.ndarray, four_neighbors: bool = False, avg_resistances: bool = False,
                       merge: np.ndarray | None = None, edges: GridEdges | None = None) -> RasterGraph:
    """Graph of a conductance raster; ``merge`` labels short-circuit regions (0 = none)."""
    g = np.asarray(g, dtype=np.float64)
    node = g > 0
    if edges is None:
        edges = edges_from_conductance(g, four_neighbors, avg_resistances)
    regions = None
    if merge is None:
        # no regions: a read-only zero view, no memory (4 B/cell a job would carry throughout)
        merge = np.broadcast_to(np.int32(0), g.shape)
    else:
        # a region counts only if it holds a habitat cell; its other cells show its node in maps
        labels = relabel(merge)
        live = np.zeros(int(labels.max()) + 1, bool)
        live[np.unique(labels[node])] = True
        live[0] = False
        regions = np.where(live[labels], labels, 0)
        merge = np.where(node, regions, 0).astype(np.int32)
    structure = ndi.generate_binary_structure(2, 1 if four_neighbors else 2)
    comp, ncomp = ndi.label(node, structure=structure)
    if (merge > 0).any() and ncomp > 1:
        cells = merge > 0
        nm = int(merge.max())
        # join every grid component touched by a region to that region (bipartite graph)
        a = comp[cells]
        b = merge[cells] + ncomp
        k = ncomp + nm + 1
        adj = sp.coo_matrix((np.ones(a.size), (a, b)), shape=(k, k))
        _, lab = connected_components(adj, directed=False)
        comp = np.where(node, relabel(np.where(node, lab[comp] + 1, 0)), 0).astype(np.int32)
    # the narrowest labels that hold every component (int16 for most maps): a job keeps them throughout
    comp = comp.astype(np.int16 if comp.max() < 2**15 - 1 else np.int32, copy=False)
    return RasterGraph(g, edges, merge, comp, four_neighbors, regions, avg_resistances)
