"""What the raster scenarios share: map options, the result, the current-map accumulator, and the
grounded solves (per component one focal node grounded, a unit current at each other one) that
pairwise, one-to-all and all-to-one build on (:mod:`.pairwise`, :mod:`.one_to_all`,
:mod:`.advanced`).

Per-pair / per-point maps go to an optional ``sink(label, volts, currents)`` callback instead of
being kept in memory, each as soon as it is made: ``(label, volts, None)`` before the current map is
computed (so its writing overlaps that work), then ``(label, None, currents)``; a solve where
nothing flows gives ``(label, zeros, zeros)``. Cumulative and maximum current maps are accumulated here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..backend import array_module, to_host
from ..currents import CurrentMapper
from ..grid import RasterGraph
from ..progress import current
from ..distribute import grounded_system
from ..solver.options import SolveOptions
from .focal import FocalNodes

Sink = Callable[[str, np.ndarray, np.ndarray], None]

FAILED = -777.0  # Circuitscape's resistance for a pair / point whose solve failed its residual check


@dataclass
class MapOptions:
    """Which maps to produce (the modes compute currents only when something needs them)."""

    currents: bool = True  # cumulative (and per-pair when a sink is given) current maps
    voltages: bool = False  # per-pair / per-point voltage maps (to the sink)
    max_map: bool = False
    per_pair: bool = True  # pass per-pair maps to the sink


@dataclass
class RasterResult:
    ids: list[int]
    resistances: np.ndarray  # (k, k) for pairwise; (k,) for one-to-all / all-to-one
    cum_current: np.ndarray | None = None
    max_current: np.ndarray | None = None
    voltages: np.ndarray | None = None  # advanced mode
    current: np.ndarray | None = None  # advanced mode
    stats: list = field(default_factory=list)
    # label ("1_3" or "2") -> relative residual of the solves that failed (SolveOptions.keep_going):
    # their resistances are FAILED and they add nothing to the maps
    failed: dict = field(default_factory=dict)


class MapAccumulator:
    """Cumulative / maximum current maps, kept in the namespace of the voltages they are made from
    (on a GPU they stay on the device until ``maps()``); per-pair maps go to the sink on the host."""

    def __init__(self, graph: RasterGraph, maps: MapOptions, sink: Sink | None):
        self.graph, self.maps, self.sink = graph, maps, sink
        self.cum = self.max = None
        self._mapper = None

    @property
    def wants_maps(self) -> bool:
        return self.maps.currents or (self.sink is not None and self.maps.voltages)

    def _currents(self, g, volts, ground_g):
        xp = array_module(volts)
        if g is not self.graph:
            return CurrentMapper(g, xp)(volts, ground_g)
        if self._mapper is None or self._mapper.xp is not xp:
            self._mapper = CurrentMapper(g, xp)
        return self._mapper(volts, ground_g)

    def add(self, label: str, volts, ground_g=None, graph: RasterGraph | None = None, zero_cells=None):
        """Record one solve's voltages (None = nothing flows: zero maps).

        Maps are painted onto region cells without habitat; ``zero_cells`` (flat indices) get no
        current (set_focal_node_currents_to_zero).
        """
        g = graph or self.graph
        if volts is None:
            if self.sink is not None and self.maps.per_pair:
                zero = np.zeros(g.shape)
                self.sink(label, zero, zero if self.maps.currents else None)
            return
        xp = array_module(volts)
        per_pair = self.sink is not None and self.maps.per_pair
        if per_pair:
            self.sink(label, to_host(g.paint(volts)), None)
        cur = self._currents(g, volts, ground_g) if self.maps.currents else None
        if cur is not None:
            cur = g.paint(cur)
            if zero_cells is not None:
                cur.ravel()[xp.asarray(zero_cells)] = 0.0
            if self.cum is None:
                self.cum = xp.zeros(g.shape)
                self.max = xp.zeros(g.shape) if self.maps.max_map else None
            self.cum += cur
            if self.max is not None:
                xp.maximum(self.max, cur, out=self.max)
        if per_pair and cur is not None:
            self.sink(label, None, to_host(cur))

    def result(self):
        """(cumulative, maximum) current maps on the host (zeros when nothing flowed)."""
        if not self.maps.currents:
            return None, None
        if self.cum is None:
            zero = np.zeros(self.graph.shape)
            return zero, (zero.copy() if self.maps.max_map else None)
        return to_host(self.cum), (None if self.max is None else to_host(self.max))


def value_at(a, flat_index: int) -> float:
    """One value of a grid (NumPy or CuPy) by flat index, as a Python float."""
    return float(a.ravel()[int(flat_index)])


def grounded_solves(graph: RasterGraph, focal: FocalNodes, use: np.ndarray, options: SolveOptions):
    """Per component with >= 2 distinct focal nodes among ``use``: ground the first, solve for the others.

    Returns (stats, key_order, X, ground keys) where X[j] are grid voltages for +1 A at
    key_order[j] (ground keys map to a zero vector); stats and X are None when nothing needs
    solving. The system itself (operator, hierarchy or factorisation) is freed on return: the
    maps need only the solutions, and the solver's memory is the largest part of a job's peak.
    """
    by_comp: dict[int, list[int]] = {}
    for i in np.flatnonzero(use):
        if focal.key[i] >= 0 or focal.key[i] < -1:
            by_comp.setdefault(int(focal.comp[i]), []).append(i)
    fixed = np.zeros(graph.shape, bool).ravel()
    solve_mask = np.zeros(graph.shape, bool)
    inject: dict[int, int] = {}  # key -> rep cell to inject at
    grounds: set[int] = set()
    for c, members in by_comp.items():
        keys = list(dict.fromkeys(int(focal.key[i]) for i in members))
        if len(keys) < 2:
            continue
        first = members[0]
        fixed[focal.rep[first]] = True
        grounds.add(keys[0])
        solve_mask |= graph.components == c
        for i in members:
            k = int(focal.key[i])
            if k != keys[0] and k not in inject:
                inject[k] = int(focal.rep[i])
    if not inject:
        return None, {}, None, grounds
    current().stage("setup")
    # the solver may mask the graph's edges in place: release() gives them back for the maps
    system = grounded_system(graph, fixed=fixed.reshape(graph.shape), solve_mask=solve_mask, options=options,
                             rhs_hint=len(inject), lend_edges=True)
    del fixed, solve_mask
    order = list(inject)
    current().stage("solve", len(order))
    try:
        # on a GPU the solutions stay on the device when they fit: current maps are made there
        X = system.solve_units([inject[k] for k in order], on_device=True)
    finally:
        system.release()
    current().advance(len(order))
    return system.stats, {k: j for j, k in enumerate(order)}, X, grounds
