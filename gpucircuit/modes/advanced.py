"""Circuitscape's advanced raster scenario on arrays: current sources, grounds and direct
connections given as grids, one solve."""
from __future__ import annotations

import numpy as np

from ..currents import node_currents
from ..grid import RasterGraph
from ..progress import current
from ..distribute import grounded_system
from ..solver.options import SolveOptions
from .raster import MapOptions, RasterResult


def advanced(graph: RasterGraph, sources: np.ndarray, ground_g: np.ndarray, direct: np.ndarray,
             options: SolveOptions | None = None, maps: MapOptions | None = None) -> RasterResult:
    """Sources (A per cell), finite grounds (conductance per cell) and direct grounds (bool) in one solve.

    Components without both a source and a ground are not solved (0 V, no current).
    """
    options = options or SolveOptions()
    maps = maps or MapOptions()
    node = graph.node
    comp = graph.components
    ncomp = int(comp.max()) + 1
    # a component is solved when its summed sources and summed grounds are both non-zero
    src_sum = np.bincount(comp[node], weights=sources[node], minlength=ncomp)
    gnd_sum = np.bincount(comp[node], weights=(ground_g + direct)[node], minlength=ncomp)
    ok = (src_sum != 0) & (gnd_sum != 0)
    ok[0] = False
    solve_mask = ok[comp] & node
    volts = np.zeros(graph.shape)
    stats = []
    if solve_mask.any():
        current().stage("setup")
        system = grounded_system(graph, fixed=direct & solve_mask, ground_g=np.where(direct, 0.0, ground_g),
                                 solve_mask=solve_mask, options=options)
        current().stage("solve", 1)
        volts = system.solve(np.where(solve_mask, sources, 0.0)[None])[0]
        current().advance()
        stats.append(system.stats)
        del system  # the maps need only the voltages
    cur = node_currents(graph, volts, np.where(solve_mask & ~direct, ground_g, 0.0)) if maps.currents else None
    return RasterResult([], np.array([]), voltages=graph.paint(volts),
                        current=None if cur is None else graph.paint(cur), stats=stats)
