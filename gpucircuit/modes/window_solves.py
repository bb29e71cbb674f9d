"""The circuit solves of Omniscape's moving window: a batch of windows eliminated together on
their common grid pattern (batched nested dissection), or stacked into one mosaic graph (one
sparse solve or multigrid for a batch), or one shared flow-potential operator reused by every
window of the same clip shape; branch currents summed into cell currents as Omniscape.jl does.
"""
from __future__ import annotations


import numpy as np
from scipy import ndimage as ndi

from ..edges import GridEdges, shift_slices
from ..grid import build_raster_graph, edges_from_conductance
from ..solver.nested_dissection import pattern_cells, solve_grid_batch
from ..solver.system import GroundedSystem, SolveOptions


BRANCH_THRESHOLD = 1e-8  # Circuitscape drops branch currents below this fraction of the largest



def _flows(v: np.ndarray, w: np.ndarray, di: int, dj: int):
    """Branch flows of one direction on a (M, N) map: from (i, j) to (i+di, j+dj)."""
    m, n = v.shape
    rs = slice(0, m - di)
    rd = slice(di, m)
    cs = slice(0, n - dj) if dj >= 0 else slice(-dj, n)
    cd = slice(dj, n) if dj >= 0 else slice(0, n + dj)
    return w[rs, cs] * (v[rs, cs] - v[rd, cd]), (rs, cs), (rd, cd)



def stacked_currents(volts: np.ndarray, edges, k: int, size: int) -> np.ndarray:
    """Node currents (k, S, S) of a stack of k windows laid out as (k (S+1), S) with empty rows
    between them; each window's branch cut-off is 1e-8 of its own largest branch current."""
    rows = volts.shape[0]
    which = np.minimum(np.arange(rows) // (size + 1), k - 1)
    largest = np.zeros(k)
    flows = []
    for w, di, dj in edges.directions():
        f, s, t = _flows(volts, w, di, dj)
        if f.size:
            np.maximum.at(largest, which[s[0]], np.abs(f).max(axis=1))
        flows.append((f, s, t))
    inflow = np.zeros(volts.shape)
    outflow = np.zeros(volts.shape)
    for f, s, t in flows:
        cut = BRANCH_THRESHOLD * largest[which[s[0]]]
        f[np.abs(f) < cut[:, None]] = 0.0
        pos, neg = np.maximum(f, 0), np.maximum(-f, 0)
        outflow[s] += pos
        inflow[t] += pos
        inflow[s] += neg
        outflow[t] += neg
    cur = np.maximum(inflow, outflow)
    cur = np.vstack([cur, np.zeros((1, size))])
    return cur.reshape(k, size + 1, size)[:, :size]



def solve_windows(g: np.ndarray, src: np.ndarray, four_neighbors: bool, method: str = "auto") -> np.ndarray:
    """Node currents (k, S, S) of k windows, each grounded at its centre cell.

    The windows become one block-diagonal circuit (stacked with an empty row between them), so
    one factorisation (or one multigrid hierarchy) serves the whole batch."""
    k, size, _ = g.shape
    gap = np.zeros((k, 1, size))
    mosaic = np.concatenate([g, gap], axis=1).reshape(k * (size + 1), size)[:-1]
    rhs = np.concatenate([src, gap], axis=1).reshape(k * (size + 1), size)[:-1]
    graph = build_raster_graph(mosaic, four_neighbors)
    d = size // 2
    centre_rows = np.arange(k) * (size + 1) + d
    fixed = np.zeros(mosaic.shape, bool)
    fixed[centre_rows, d] = True
    grounded = np.unique(graph.components[centre_rows, d])
    grounded = grounded[grounded > 0]
    if grounded.size == 0:
        return np.zeros((k, size, size))
    solve_mask = np.isin(graph.components, grounded)
    system = GroundedSystem(graph, fixed=fixed, solve_mask=solve_mask, options=SolveOptions(method=method))
    volts = system.solve(rhs[None])[0]
    return stacked_currents(volts, graph.edges, k, size)



def window_edges(g: np.ndarray, four_neighbors: bool) -> GridEdges:
    """Link weights (k, S, S) per direction of k windows, each its own raster graph (computed on
    the stacked mosaic, whose empty rows keep windows apart)."""
    k, size, _ = g.shape
    mosaic = np.concatenate([g, np.zeros((k, 1, size))], axis=1).reshape(k * (size + 1), size)
    edges = edges_from_conductance(mosaic, four_neighbors)
    return GridEdges(*(None if w is None else w.reshape(k, size + 1, size)[:, :size]
                       for w, _, _ in edges.all_directions()))


def grounded_component(g: np.ndarray, four_neighbors: bool, centres=None) -> np.ndarray:
    """(k, S, S) True on the cells of each window's centre component, centre excluded: the
    unknowns of Circuitscape's advanced mode grounded at the centre (none if it is nodata).
    ``centres``: (rows, cols) of each window's grounded cell, when not the middle one."""
    k, size, _ = g.shape
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = ndi.generate_binary_structure(2, 1 if four_neighbors else 2)  # never across windows
    labels, _ = ndi.label(g > 0, structure=structure)
    rows, cols = (np.full(k, size // 2), np.full(k, size // 2)) if centres is None else centres
    centre = labels[np.arange(k), rows, cols]
    active = (labels == centre[:, None, None]) & (centre > 0)[:, None, None]
    active[np.arange(k), rows, cols] = False
    return active


def window_currents(volts: np.ndarray, edges: GridEdges) -> np.ndarray:
    """Node currents (k, S, S) of k windows' potentials (k, S, S): max(inflow, outflow), each
    window's branches under 1e-8 of its own largest branch current dropped."""
    flows = []
    for w, di, dj in edges.directions():
        src, dst = shift_slices(di, dj)
        flows.append((w[src] * (volts[src] - volts[dst]), src, dst))
    largest = np.max([np.abs(f).max(axis=(1, 2)) for f, _, _ in flows], axis=0)
    inflow = np.zeros(volts.shape)
    outflow = np.zeros(volts.shape)
    for f, src, dst in flows:
        f[np.abs(f) < BRANCH_THRESHOLD * largest[:, None, None]] = 0.0
        pos, neg = np.maximum(f, 0), np.maximum(-f, 0)
        outflow[src] += pos
        inflow[dst] += pos
        inflow[src] += neg
        outflow[dst] += neg
    return np.maximum(inflow, outflow)


def solve_windows_nd(g: np.ndarray, src: np.ndarray, four_neighbors: bool, groups=None, offsets=None,
                     span: int = 0) -> np.ndarray:
    """Node currents (k, S, S) of k windows grounded at their centre cells, by batched nested
    dissection (same rules as :func:`solve_windows`: only the centre's component is solved).

    ``groups`` (k,), ``offsets`` ((k,), (k,)) in [0, span]: windows of neighbouring targets, each
    group laid on one frame of S + span cells a side at its window's offset, so that the subtrees
    they share (inside every window's disc, off the targets) are eliminated once per group."""
    size = g.shape[1]
    disc = pattern_cells(size, size // 2)
    radius = size // 2 if not (g[:, ~disc] > 0).any() else None  # Omniscape's windows: a disc
    if groups is None or radius is None or span == 0:
        edges = window_edges(g, four_neighbors)
        volts = solve_grid_batch(edges, grounded_component(g, four_neighbors), src[:, None], radius)[:, 0]
    else:  # the window's own edges only after the frames' solve: not both in memory
        volts = _solve_on_frames(g, src, four_neighbors, groups, offsets, span)
        edges = window_edges(g, four_neighbors)
    return window_currents(volts, edges)


def _solve_on_frames(g, src, four_neighbors, groups, offsets, span):
    """Potentials (k, S, S) of windows placed on their group's frame and solved there."""
    k, size, _ = g.shape
    d = size // 2
    oy, ox = offsets
    frames = np.zeros((2, k, size + span, size + span))
    for i in range(k):
        frames[:, i, oy[i]:oy[i] + size, ox[i]:ox[i] + size] = g[i], src[i]
    active = grounded_component(frames[0], four_neighbors, (oy + d, ox + d))
    volts = solve_grid_batch(window_edges(frames[0], four_neighbors), active, frames[1][:, None], d, span, groups)
    return np.stack([volts[i, 0, oy[i]:oy[i] + size, ox[i]:ox[i] + size] for i in range(k)])


class SharedWindow:
    """One window conductance (S, S) grounded at its centre, set up (factorised) once and solved
    for any number of source layouts."""

    def __init__(self, g: np.ndarray, four_neighbors: bool, method: str = "auto", rhs_hint: int = 1):
        size = g.shape[0]
        d = size // 2
        self.size = size
        self.system = None
        if g[d, d] <= 0:
            return
        self.graph = build_raster_graph(g, four_neighbors)
        fixed = np.zeros(g.shape, bool)
        fixed[d, d] = True
        solve_mask = self.graph.components == self.graph.components[d, d]
        self.system = GroundedSystem(self.graph, fixed=fixed, solve_mask=solve_mask,
                                     options=SolveOptions(method=method), rhs_hint=rhs_hint)

    def currents(self, src: np.ndarray) -> np.ndarray:
        """Node currents (k, S, S) for source layouts (k, S, S)."""
        if self.system is None:
            return np.zeros(src.shape)
        volts = self.system.solve(src)
        out = np.empty(src.shape)
        for i in range(src.shape[0]):
            out[i] = stacked_currents(volts[i], self.graph.edges, 1, self.size)[0]
        return out



def solve_shared(g: np.ndarray, src: np.ndarray, four_neighbors: bool, method: str = "auto") -> np.ndarray:
    """Node currents (k, S, S) for k source layouts on one window conductance g (S, S), grounded
    at the centre: one factorisation, k right-hand sides."""
    return SharedWindow(g, four_neighbors, method, rhs_hint=src.shape[0]).currents(src)
