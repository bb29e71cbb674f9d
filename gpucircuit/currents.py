"""Voltages -> branch and node currents on a raster, as Circuitscape maps them.

Branch current on an edge = conductance x voltage difference; currents below 1e-8 of the
largest are set to zero. A node's current is the larger of its total inflow and total
outflow (current into finite grounds counts as outflow), so a pass-through node gets half the
sum of |branch currents| and a source gets what it injects. The cells of a merged region all
show the region's node current.

The maps are computed in the array namespace of the voltages, so on a GPU solutions never
leave the device: only the finished cumulative map does. Branch currents are formed one
direction at a time, twice (once for the largest, once to accumulate), so besides the result
the only full-size arrays are the inflow/outflow sums; the two flow scratch buffers (and a
boolean one) hold one band of rows, reused for every direction and band.
"""
from __future__ import annotations

import numpy as np

from . import currents_compiled
from .backend import array_module
from .edges import col_slices
from .grid import RasterGraph

BRANCH_THRESHOLD = 1e-8
# on the host the map is made in bands of rows of about this many cells, so a band's flows and
# scratch stay in the core's cache (6000 x 4000 cells, 8 neighbours: 2.0-2.9 -> 1.1 s CPU, the same bits);
# a GPU takes the whole grid at once
BAND_CELLS = 1 << 16


class CurrentMapper:
    """Node-current maps for one graph, with its arrays held in namespace ``xp`` (NumPy or CuPy).

    ``band_cells``: cells per band of rows (None: ``BAND_CELLS`` on the host, the whole grid on a
    GPU). Every cell receives its additions in the same order whatever the bands, so the map is
    the same bit for bit. ``compiled``: on the host, sum the flows by the compiled loops of
    ``currents_compiled`` (the same bits again); None: for maps of ``MIN_CELLS`` or more once the
    job has asked for the loops (``currents_compiled.request``: jobs of many maps)."""

    def __init__(self, graph: RasterGraph, xp=np, band_cells: int | None = None, compiled: bool | None = None):
        self.xp = xp
        self.shape = m, n = graph.shape
        self.edges = [(xp.asarray(w), di, dj) for w, di, dj in graph.edges.directions()]
        if any(di < 0 or (di == 0 and dj <= 0) for _, di, dj in self.edges):
            raise ValueError("edges must be stored forward (e, s, se, sw)")
        if band_cells is None:
            band_cells = BAND_CELLS if xp is np else m * n
        self.band = max(1, band_cells // max(n, 1))  # rows per band
        if compiled is None:
            compiled = m * n >= currents_compiled.MIN_CELLS and currents_compiled.wanted()
        self.compiled = compiled and xp is np
        self.off = xp.asarray(~graph.node)  # cells without a node show no current
        merge = graph.merge
        self.cells = None
        if (merge > 0).any():
            cells = np.flatnonzero(merge.ravel() > 0)
            self.cells = xp.asarray(cells)
            self.labels = xp.asarray(merge.ravel()[cells])
            self.nreg = int(merge.max()) + 1

    def _flows(self, volts, buf, lo, hi):
        """Each direction's branch flows w * (v_src - v_dst) for the edges whose source row is in
        [lo - di, hi) (so that every edge touching rows [lo, hi) is there), formed in ``buf``;
        yields (flow, di, first source row, source columns, target columns)."""
        xp = self.xp
        m = self.shape[0]
        for w, di, dj in self.edges:
            r0, r1 = max(lo - di, 0), min(hi, m - di)
            if r1 <= r0:
                continue
            sj, tj = col_slices(dj)
            a, b = volts[r0:r1, sj], volts[r0 + di:r1 + di, tj]
            f = buf[:a.size].reshape(a.shape)
            xp.subtract(a, b, out=f)
            f *= w[r0:r1, sj]
            yield f, di, r0, sj, tj

    def _flow_sums(self, volts):
        """(inflow, outflow) of every cell by NumPy (or CuPy) passes over bands of rows."""
        xp = self.xp
        m, n = self.shape
        size = min(m, self.band + 1) * n
        flow, part = xp.empty(size), xp.empty(size)
        big = xp.empty(size, dtype=bool)
        largest = []
        for lo in range(0, m, self.band):
            for f, di, r0, _, _ in self._flows(volts, flow, lo, min(m, lo + self.band)):
                g = f[lo - r0:]  # each edge once: the rows above belong to the previous band
                if g.size:
                    largest.append(xp.abs(g, out=g).max())
        cut = BRANCH_THRESHOLD * float(max(largest)) if largest else 0.0
        inflow = xp.zeros(self.shape)
        outflow = xp.zeros(self.shape)
        for lo in range(0, m, self.band):
            hi = min(m, lo + self.band)
            for f, di, r0, sj, tj in self._flows(volts, flow, lo, hi):
                # flows below the cut count as zero: the part above it in each direction (a -0.0
                # where it is cut adds nothing). Only rows [lo, hi) are written: a source row
                # below lo adds to its target, a target row at hi waits for the next band.
                pos, keep = part[:f.size].reshape(f.shape), big[:f.size].reshape(f.shape)
                s_rows = slice(lo - r0, None)  # flow rows whose source is in the band
                t_rows = slice(0, hi - di - r0)  # flow rows whose target is in the band
                src = (slice(lo, r0 + f.shape[0]), sj)
                dst = (slice(r0 + di, hi), tj)
                xp.greater_equal(f, cut, out=keep)
                xp.multiply(f, keep, out=pos)
                outflow[src] += pos[s_rows]  # current leaves the source cell when its voltage is higher
                inflow[dst] += pos[t_rows]
                xp.negative(f, out=f)
                xp.greater_equal(f, cut, out=keep)
                xp.multiply(f, keep, out=pos)
                inflow[src] += pos[s_rows]
                outflow[dst] += pos[t_rows]
        del flow, part, big
        return inflow, outflow

    def __call__(self, volts, ground_g=None):
        """Current through each cell (m, n) for one voltage map (m, n) in this namespace."""
        xp = self.xp
        inflow = None
        if self.compiled:
            try:
                inflow, outflow = currents_compiled.flow_sums(volts, self.edges, BRANCH_THRESHOLD)
            except ImportError:  # numba there but not importable: the NumPy passes, the same bits
                self.compiled = False
        if inflow is None:
            inflow, outflow = self._flow_sums(volts)
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
