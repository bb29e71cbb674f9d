"""Circuitscape's modes as functions on arrays.

>>> import numpy as np, gpucircuit as gc
>>> res = np.ones((50, 60)); res[20:30, 10:50] = 100.0          # a barrier
>>> pts = {1: [(5, 5)], 2: [(45, 55)], 3: [(5, 55)]}             # id -> [(row, col), ...]
>>> out = gc.pairwise(res, pts)
>>> out.resistances.shape, out.cum_current.shape
((3, 3), (50, 60))

Resistance arrays use NaN for nodata. Points are ``{id: [(row, col), ...]}`` (several cells =
a focal region) or an integer raster of ids (cells > 0). ``multigrid`` takes a
``gpucircuit.solver.multigrid.MultigridOptions`` for the ``mg`` solver (hierarchy depth, cycle, sweeps).
"""
from __future__ import annotations

import numpy as np

from .errors import InputError
from .grid import build_raster_graph, conductance_from_habitat, relabel
from .modes import advanced as advanced_mode, one_to_all as one_to_all_mode, pairwise as pairwise_mode
from .modes.raster import MapOptions, RasterResult
from .solver.multigrid import MultigridOptions
from .solver.options import SolveOptions


def _graph(resistance, conductance, four_neighbors, avg_resistances, polygons):
    g = conductance_from_habitat(np.asarray(resistance, dtype=np.float64), not conductance, "resistance array")
    merge = None
    if polygons is not None:
        p = np.asarray(polygons, dtype=np.float64)
        if p.shape != g.shape:
            raise InputError(f"polygons have shape {p.shape}, the resistance array {g.shape}")
        merge = relabel(p)
    return build_raster_graph(g, four_neighbors, avg_resistances, merge=merge)


def _cells(points, shape) -> dict[int, np.ndarray]:
    m, n = shape
    if isinstance(points, dict):
        out = {}
        for pid, cells in points.items():
            rc = np.atleast_2d(np.asarray(cells, dtype=np.int64))
            if rc.shape[1] != 2:
                raise InputError(f"point {pid}: give cells as (row, col) pairs")
            bad = (rc[:, 0] < 0) | (rc[:, 0] >= m) | (rc[:, 1] < 0) | (rc[:, 1] >= n)
            if bad.any():
                r, c = rc[bad][0]
                raise InputError(f"point {pid} at row {r}, column {c} lies outside the {m} x {n} raster")
            out[int(pid)] = rc[:, 0] * n + rc[:, 1]
        return dict(sorted(out.items()))
    from .io.points import point_cells_from_raster

    arr = np.asarray(points, dtype=np.float64)
    if arr.shape != shape:
        raise InputError(f"point raster has shape {arr.shape}, the resistance array {shape}")
    return point_cells_from_raster(arr)


def _solve_options(solver, precision, multigrid) -> SolveOptions:
    return SolveOptions(method=solver, precision=precision, multigrid=multigrid or MultigridOptions())


def _run(fn, resistance, points, *, conductance=False, four_neighbors=False, avg_resistances=False,
         polygons=None, solver="auto", precision="double", multigrid=None, max_map=False, **kw) -> RasterResult:
    graph = _graph(resistance, conductance, four_neighbors, avg_resistances, polygons)
    cells = _cells(points, graph.shape)
    if len(cells) < 2:
        raise InputError(f"{len(cells)} focal point{'' if len(cells) == 1 else 's'} given; "
                         f"{fn.__name__.replace('_', '-')} needs at least two")
    maps = MapOptions(currents=True, max_map=max_map, per_pair=False)
    return fn(graph, cells, maps=maps, options=_solve_options(solver, precision, multigrid), **kw)


def pairwise(resistance, points, *, include=None, **options) -> RasterResult:
    """Resistance matrix (-1 = not connected) and cumulative current map over all pairs."""
    return _run(pairwise_mode.pairwise, resistance, points, include=include, **options)


def one_to_all(resistance, points, *, strengths=None, **options) -> RasterResult:
    """Per point: resistance with all other points grounded; cumulative current map."""
    return _run(one_to_all_mode.one_to_all, resistance, points, strengths=strengths, **options)


def all_to_one(resistance, points, *, strengths=None, **options) -> RasterResult:
    """Per point: grounded, 1 A (or its strength) injected at every other point; cumulative current map."""
    return _run(one_to_all_mode.all_to_one, resistance, points, strengths=strengths, **options)


def advanced(resistance, sources, grounds, *, direct_grounds=None, conductance=False, four_neighbors=False,
             avg_resistances=False, polygons=None, solver="auto", precision="double",
             multigrid=None) -> RasterResult:
    """Sources (A per cell), ground conductances per cell and optional direct grounds (bool) in one solve."""
    graph = _graph(resistance, conductance, four_neighbors, avg_resistances, polygons)
    src = np.nan_to_num(np.asarray(sources, dtype=np.float64))
    gnd = np.nan_to_num(np.asarray(grounds, dtype=np.float64))
    direct = np.zeros(graph.shape, bool) if direct_grounds is None else np.asarray(direct_grounds, bool)
    for name, a in (("sources", src), ("grounds", gnd), ("direct_grounds", direct)):
        if a.shape != graph.shape:
            raise InputError(f"{name} have shape {a.shape}, the resistance array {graph.shape}")
    return advanced_mode.advanced(graph, src, gnd, direct, _solve_options(solver, precision, multigrid))


def network_pairwise(edges, focal_nodes, *, resistances=True, solver="auto"):
    """Network mode: ``edges`` rows (node, node, value); resistances among ``focal_nodes``."""
    from .graph import Network
    from .modes import network as _net

    e = np.asarray(edges, dtype=np.float64)
    g = 1.0 / e[:, 2] if resistances else e[:, 2]
    return _net.pairwise(Network.from_edges(e[:, 0], e[:, 1], g), focal_nodes, SolveOptions(method=solver))
