"""Voltages -> branch and node currents on a raster, as Circuitscape maps them.

Branch current on an edge = conductance x voltage difference; currents below 1e-8 of the
largest are set to zero. A node's current is the larger of its total inflow and total
outflow (current into finite grounds counts as outflow), so a pass-through node gets half the
sum of |branch currents| and a source gets what it injects. The cells of a merged region all
show the region's node current.
"""
from __future__ import annotations

import numpy as np

from .grid import RasterGraph
from .operators import _slices

BRANCH_THRESHOLD = 1e-8


def node_currents(graph: RasterGraph, volts: np.ndarray, ground_g: np.ndarray | None = None) -> np.ndarray:
    """Current through each cell (m, n) for one voltage map (m, n)."""
    flows = []
    for w, di, dj in graph.edges.directions():
        src, dst = _slices(di, dj)
        flows.append((w[src] * (volts[src] - volts[dst]), src, dst))
    largest = max((float(np.abs(f).max()) if f.size else 0.0) for f, _, _ in flows)
    cut = BRANCH_THRESHOLD * largest
    inflow = np.zeros(graph.shape)
    outflow = np.zeros(graph.shape)
    for f, src, dst in flows:
        f = np.where(np.abs(f) < cut, 0.0, f)
        pos, neg = np.maximum(f, 0), np.maximum(-f, 0)
        outflow[src] += pos  # current leaves the source cell when its voltage is higher
        inflow[dst] += pos
        inflow[src] += neg
        outflow[dst] += neg
    if ground_g is not None:
        to_ground = ground_g * volts
        outflow += np.maximum(to_ground, 0)
        inflow += np.maximum(-to_ground, 0)
    merge = graph.merge
    if (merge > 0).any():
        cells = merge > 0
        nreg = int(merge.max()) + 1
        tin = np.bincount(merge[cells], weights=inflow[cells], minlength=nreg)
        tout = np.bincount(merge[cells], weights=outflow[cells], minlength=nreg)
        inflow[cells] = tin[merge[cells]]
        outflow[cells] = tout[merge[cells]]
    return np.where(graph.node, np.maximum(inflow, outflow), 0.0)
