"""Voltages -> branch and node currents on a raster, as Circuitscape maps them.

Branch current on an edge = conductance x voltage difference; currents below 1e-8 of the
largest are set to zero. A node's current is the larger of its total inflow and total
outflow (current into finite grounds counts as outflow), so a pass-through node gets half the
sum of |branch currents| and a source gets what it injects. The cells of a merged region all
show the region's node current.

The maps are computed in the array namespace of the voltages, so on a GPU solutions never
leave the device: only the finished cumulative map does. Branch currents are formed one
direction at a time, twice (once for the largest, once to accumulate), so besides the result
the only full-size arrays are the inflow/outflow sums and two flow-sized scratch buffers (and a
boolean one), reused for every direction: a map costs no allocation but its result.
"""
from __future__ import annotations

import numpy as np

from .backend import array_module
from .grid import RasterGraph
from .edges import shift_slices

BRANCH_THRESHOLD = 1e-8


class CurrentMapper:
    """Node-current maps for one graph, with its arrays held in namespace ``xp`` (NumPy or CuPy)."""

    def __init__(self, graph: RasterGraph, xp=np):
        self.xp = xp
        self.shape = graph.shape
        self.edges = [(xp.asarray(w), di, dj) for w, di, dj in graph.edges.directions()]
        self.off = xp.asarray(~graph.node)  # cells without a node show no current
        merge = graph.merge
        self.cells = None
        if (merge > 0).any():
            cells = np.flatnonzero(merge.ravel() > 0)
            self.cells = xp.asarray(cells)
            self.labels = xp.asarray(merge.ravel()[cells])
            self.nreg = int(merge.max()) + 1

    def _flows(self, volts, buf):
        """Each direction's branch flows w * (v_src - v_dst), formed in the scratch buffer ``buf``."""
        xp = self.xp
        for w, di, dj in self.edges:
            src, dst = shift_slices(di, dj)
            a, b = volts[src], volts[dst]
            f = buf[:a.size].reshape(a.shape)
            xp.subtract(a, b, out=f)
            f *= w[src]
            yield f, src, dst

    def __call__(self, volts, ground_g=None):
        """Current through each cell (m, n) for one voltage map (m, n) in this namespace."""
        xp = self.xp
        size = int(np.prod(self.shape))
        flow, part = xp.empty(size), xp.empty(size)
        big = xp.empty(size, dtype=bool)
        largest = 0.0
        for f, _, _ in self._flows(volts, flow):
            if f.size:
                largest = max(largest, float(xp.abs(f, out=f).max()))
        cut = BRANCH_THRESHOLD * largest
        inflow = xp.zeros(self.shape)
        outflow = xp.zeros(self.shape)
        for f, src, dst in self._flows(volts, flow):
            # flows below the cut count as zero: the part above it in each direction (a -0.0
            # where it is cut adds nothing)
            pos, keep = part[:f.size].reshape(f.shape), big[:f.size].reshape(f.shape)
            xp.greater_equal(f, cut, out=keep)
            xp.multiply(f, keep, out=pos)
            outflow[src] += pos  # current leaves the source cell when its voltage is higher
            inflow[dst] += pos
            xp.negative(f, out=f)
            xp.greater_equal(f, cut, out=keep)
            xp.multiply(f, keep, out=pos)
            inflow[src] += pos
            outflow[dst] += pos
        del flow, part, big
        if ground_g is not None:
            to_ground = xp.asarray(ground_g) * volts
            outflow += xp.maximum(to_ground, 0)
            inflow += xp.maximum(-to_ground, 0)
        if self.cells is not None:
            fin, fout = inflow.ravel(), outflow.ravel()
            tin = xp.bincount(self.labels, weights=fin[self.cells], minlength=self.nreg)
            tout = xp.bincount(self.labels, weights=fout[self.cells], minlength=self.nreg)
            fin[self.cells] = tin[self.labels]
            fout[self.cells] = tout[self.labels]
        xp.maximum(inflow, outflow, out=inflow)
        inflow[self.off] = 0.0
        return inflow


def node_currents(graph: RasterGraph, volts, ground_g=None):
    """Current through each cell (m, n) for one voltage map (m, n), in the voltages' namespace."""
    return CurrentMapper(graph, array_module(volts))(volts, ground_g)
