"""Circuitscape's pairwise raster scenario on arrays.

Pairwise among k points takes about k solves, not k(k-1)/2: per component one focal node is
grounded and a unit current is injected at each other focal node; every pair's voltages and
resistance follow by superposition. Focal regions change the graph per pair (the two regions
are short-circuited), so that case solves each pair on its own graph.
"""
from __future__ import annotations

import numpy as np

from ..backend import array_module
from ..grid import RasterGraph
from ..progress import current
from ..distribute import grounded_system
from ..solver.options import SolveOptions
from .focal import FocalNodes
from .raster import FAILED, MapAccumulator, MapOptions, RasterResult, Sink, grounded_solves, value_at


def pairwise(graph: RasterGraph, cells: dict[int, np.ndarray], include: np.ndarray | None = None,
             maps: MapOptions | None = None, sink: Sink | None = None,
             options: SolveOptions | None = None, focal_currents_zero: bool = False) -> RasterResult:
    """Effective resistance between every pair of focal points (-1 = not connected) and current maps.

    For pair (a, b) with a < b, 1 A enters at b and a is held at 0 V (Circuitscape's polarity).
    """
    maps = maps or MapOptions()
    options = options or SolveOptions()
    focal = FocalNodes.locate(graph, cells)
    k = len(focal.ids)
    include = np.ones((k, k), bool) if include is None else include
    if focal.has_regions:
        return _pairwise_regions(graph, focal, include, maps, sink, options, focal_currents_zero)
    R = np.full((k, k), -1.0)
    np.fill_diagonal(R, 0.0)
    acc = MapAccumulator(graph, maps, sink)
    use = include.any(axis=1) & (focal.key != -1)
    solve_stats, col, X, _ = grounded_solves(graph, focal, use, options)
    bad_keys = _failed_keys(solve_stats, col)
    failed = {}
    xp = np if X is None else array_module(X)
    zero = xp.zeros(graph.shape)
    masks: dict = {}

    def volts_of(key):
        return X[col[key]] if key in col else zero

    current().stage("maps" if acc.wants_maps else "pairs", k * (k - 1) // 2)
    for a in range(k):
        for b in range(a + 1, k):
            if not include[a, b] or focal.key[a] == -1 or focal.key[b] == -1 or focal.comp[a] != focal.comp[b]:
                continue
            ka, kb = int(focal.key[a]), int(focal.key[b])
            label = f"{focal.ids[a]}_{focal.ids[b]}"
            if ka == kb:
                R[a, b] = R[b, a] = 0.0
                if acc.wants_maps:
                    acc.add(label, None)
                continue
            if ka in bad_keys or kb in bad_keys:
                R[a, b] = R[b, a] = FAILED
                failed[label] = max(bad_keys.get(ka, 0.0), bad_keys.get(kb, 0.0))
                continue
            v = volts_of(kb) - volts_of(ka)
            v -= value_at(v, focal.rep[a])
            R[a, b] = R[b, a] = value_at(v, focal.rep[b])
            if acc.wants_maps:
                no_cur = _node_cells(graph, focal, (a, b)) if focal_currents_zero else None
                ca = int(focal.comp[a])
                if ca not in masks:
                    masks[ca] = xp.asarray(graph.components == ca)
                acc.add(label, xp.where(masks[ca], v, 0.0), zero_cells=no_cur)
            del v
        current().advance(k - 1 - a)
    stats = [solve_stats] if solve_stats else []
    return RasterResult(focal.ids, R, *acc.result(), stats=stats, failed=failed)



def _failed_keys(stats, col) -> dict:
    """Focal key -> residual for the right-hand sides whose solve failed (SolveOptions.keep_going)."""
    if stats is None or not stats.failed:
        return {}
    return {key: stats.failed[j] for key, j in col.items() if j in stats.failed}



def _node_cells(graph: RasterGraph, focal: FocalNodes, which) -> np.ndarray:
    """Flat indices of every cell of the nodes of focal points ``which`` (positions)."""
    out = []
    merge = graph.merge.ravel()
    regions = merge if graph.regions is None else graph.regions.ravel()
    for i in which:
        r = int(focal.rep[i])
        out.append(np.flatnonzero(regions == merge[r]) if merge[r] > 0 else np.array([r]))
    return np.concatenate(out)



def _pairwise_regions(graph, focal, include, maps, sink, options, focal_currents_zero=False) -> RasterResult:
    """Pairwise with focal regions: each pair's two regions are short-circuited on its own graph."""
    k = len(focal.ids)
    R = np.full((k, k), -1.0)
    np.fill_diagonal(R, 0.0)
    acc = MapAccumulator(graph, maps, sink)
    stats = []
    current().stage("solve", k * (k - 1) // 2)  # one system per pair: set up and solved together
    failed = {}
    for a in range(k):
        for b in range(a + 1, k):
            if not include[a, b]:
                continue
            pa, pb = focal.ids[a], focal.ids[b]
            g2 = graph.with_merged(focal.region_labels(graph.shape, which={pa, pb}))
            f2 = FocalNodes.locate(g2, {pa: focal.cells[pa], pb: focal.cells[pb]})
            if (f2.key == -1).any() or f2.comp[0] != f2.comp[1]:
                continue
            label = f"{pa}_{pb}"
            if f2.key[0] == f2.key[1]:
                R[a, b] = R[b, a] = 0.0
                if acc.wants_maps:
                    acc.add(label, None, graph=g2)
                continue
            fixed = np.zeros(g2.shape, bool)
            fixed.flat[f2.rep[0]] = True
            system = grounded_system(g2, fixed=fixed, solve_mask=g2.components == f2.comp[0], options=options)
            rhs = np.zeros((1,) + g2.shape)
            rhs[0].flat[f2.rep[1]] = 1.0
            v = system.solve(rhs)[0]
            st = system.stats
            del system  # the maps need only the voltages
            stats.append(st)
            if st.failed:
                R[a, b] = R[b, a] = FAILED
                failed[label] = max(st.failed.values())
                continue
            R[a, b] = R[b, a] = v.flat[f2.rep[1]]
            if acc.wants_maps:
                no_cur = _node_cells(g2, f2, (0, 1)) if focal_currents_zero else None
                acc.add(label, v, graph=g2, zero_cells=no_cur)
        current().advance(k - 1 - a)
    return RasterResult(focal.ids, R, *acc.result(), stats=stats, failed=failed)
