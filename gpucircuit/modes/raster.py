"""Circuitscape's raster scenarios on arrays: pairwise, one-to-all, all-to-one, advanced.

Pairwise among k points takes about k solves, not k(k-1)/2: per component one focal node is
grounded and a unit current is injected at each other focal node; every pair's voltages and
resistance follow by superposition. One-to-all and all-to-one reuse the same solves through a
small dense system on the focal nodes. Focal regions in pairwise mode change the graph per pair
(the two regions are short-circuited), so that case solves each pair on its own graph.

Per-pair / per-point maps go to an optional ``sink(label, volts, currents)`` callback instead of
being kept in memory; cumulative and maximum current maps are accumulated here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..backend import array_module, to_host
from ..currents import CurrentMapper, node_currents
from ..grid import RasterGraph
from ..solver.system import GroundedSystem, SolveOptions
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


class _Accumulator:
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
        cur = self._currents(g, volts, ground_g) if self.maps.currents else None
        volts = g.paint(volts)
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
        if self.sink is not None and self.maps.per_pair:
            self.sink(label, to_host(volts), None if cur is None else to_host(cur))

    def result(self):
        """(cumulative, maximum) current maps on the host (zeros when nothing flowed)."""
        if not self.maps.currents:
            return None, None
        if self.cum is None:
            zero = np.zeros(self.graph.shape)
            return zero, (zero.copy() if self.maps.max_map else None)
        return to_host(self.cum), (None if self.max is None else to_host(self.max))


def _at(a, flat_index: int) -> float:
    """One value of a grid (NumPy or CuPy) by flat index, as a Python float."""
    return float(a.ravel()[int(flat_index)])


def _grounded_solves(graph: RasterGraph, focal: FocalNodes, use: np.ndarray, options: SolveOptions):
    """Per component with >= 2 distinct focal nodes among ``use``: ground the first, solve for the others.

    Returns (system, key_order, X) where X[j] are grid voltages for +1 A at key_order[j] (ground
    keys map to a zero vector), or None when nothing needs solving.
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
    system = GroundedSystem(graph, fixed=fixed.reshape(graph.shape), solve_mask=solve_mask, options=options,
                            rhs_hint=len(inject))
    order = list(inject)
    # on a GPU the solutions stay on the device when they fit: current maps are made there
    X = system.solve_units([inject[k] for k in order], on_device=True)
    return system, {k: j for j, k in enumerate(order)}, X, grounds


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
    acc = _Accumulator(graph, maps, sink)
    use = include.any(axis=1) & (focal.key != -1)
    system, col, X, _ = _grounded_solves(graph, focal, use, options)
    bad_keys = _failed_keys(system, col)
    failed = {}
    xp = np if X is None else array_module(X)
    zero = xp.zeros(graph.shape)
    masks: dict = {}

    def volts_of(key):
        return X[col[key]] if key in col else zero

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
            v -= _at(v, focal.rep[a])
            R[a, b] = R[b, a] = _at(v, focal.rep[b])
            if acc.wants_maps:
                no_cur = _node_cells(graph, focal, (a, b)) if focal_currents_zero else None
                ca = int(focal.comp[a])
                if ca not in masks:
                    masks[ca] = xp.asarray(graph.components == ca)
                acc.add(label, xp.where(masks[ca], v, 0.0), zero_cells=no_cur)
            del v
    stats = [system.stats] if system else []
    return RasterResult(focal.ids, R, *acc.result(), stats=stats, failed=failed)


def _failed_keys(system, col) -> dict:
    """Focal key -> residual for the right-hand sides whose solve failed (SolveOptions.keep_going)."""
    if system is None or not system.stats.failed:
        return {}
    return {key: system.stats.failed[j] for key, j in col.items() if j in system.stats.failed}


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
    acc = _Accumulator(graph, maps, sink)
    stats = []
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
            system = GroundedSystem(g2, fixed=fixed, solve_mask=g2.components == f2.comp[0], options=options)
            rhs = np.zeros((1,) + g2.shape)
            rhs[0].flat[f2.rep[1]] = 1.0
            v = system.solve(rhs)[0]
            stats.append(system.stats)
            if system.stats.failed:
                R[a, b] = R[b, a] = FAILED
                failed[label] = max(system.stats.failed.values())
                continue
            R[a, b] = R[b, a] = v.flat[f2.rep[1]]
            if acc.wants_maps:
                no_cur = _node_cells(g2, f2, (0, 1)) if focal_currents_zero else None
                acc.add(label, v, graph=g2, zero_cells=no_cur)
    return RasterResult(focal.ids, R, *acc.result(), stats=stats, failed=failed)


def _focal_setup(graph, cells):
    """One-to-all / all-to-one graph: all focal regions short-circuited at once."""
    focal0 = FocalNodes.locate(graph, cells)
    if focal0.has_regions:
        graph = graph.with_merged(focal0.region_labels(graph.shape))
    return graph, FocalNodes.locate(graph, cells)


def _strengths(focal: FocalNodes, strengths: dict[int, float] | None) -> np.ndarray:
    if not strengths:
        return np.ones(len(focal.ids))
    return np.array([float(strengths.get(pid, 1.0)) for pid in focal.ids])


def one_to_all(graph, cells, strengths=None, maps=None, sink=None, options=None) -> RasterResult:
    return _one_or_all(graph, cells, strengths, maps, sink, options, "one-to-all")


def all_to_one(graph, cells, strengths=None, maps=None, sink=None, options=None) -> RasterResult:
    return _one_or_all(graph, cells, strengths, maps, sink, options, "all-to-one")


def _combine(X, rows, coefs):
    """sum_j coefs[j] * X[rows[j]] without stacking copies of the solution grids."""
    v = array_module(X).zeros(X.shape[1:])
    for r, c in zip(rows, coefs):
        if c:
            v += c * X[r]
    return v


@dataclass
class _Frame:
    """A component's focal nodes in the common grounded frame, built once for all its points."""

    keys: list  # distinct focal keys, the grounded one included
    ground_key: int
    others: list  # keys with a solution row in X
    rows: list  # X rows of ``others``
    Rf: np.ndarray  # Rf[a, b] = voltage at others[a] for 1 A at others[b]
    members: list  # focal positions in the component
    mask: object  # cells of the component (in the solutions' namespace)


def _frame(graph, focal, comp, X, col, grounds) -> _Frame | None:
    members = [j for j in range(len(focal.ids)) if focal.key[j] != -1 and focal.comp[j] == comp]
    keys = list(dict.fromkeys(int(focal.key[j]) for j in members))
    if len(keys) < 2:  # nothing to ground against / nothing to inject
        return None
    ground_key = next(kk for kk in keys if kk in grounds)
    others = [kk for kk in keys if kk != ground_key]
    rows = [col[kk] for kk in others]
    reps = {int(focal.key[j]): int(focal.rep[j]) for j in members}
    Rf = np.array([[_at(X[r], reps[kk]) for r in rows] for kk in others])
    return _Frame(keys, ground_key, others, rows, Rf, members, array_module(X).asarray(graph.components == comp))


def _one_or_all(graph, cells, strengths, maps, sink, options, scenario) -> RasterResult:
    """For each focal point i: one-to-all injects at i and grounds the others; all-to-one grounds i
    and injects at the others. Both come from the pairwise solves by superposition."""
    maps = maps or MapOptions()
    options = options or SolveOptions()
    graph, focal = _focal_setup(graph, cells)
    s = _strengths(focal, strengths)
    k = len(focal.ids)
    res = np.full(k, -1.0)
    acc = _Accumulator(graph, maps, sink)
    system, col, X, grounds = _grounded_solves(graph, focal, focal.key != -1, options)
    bad_rows = {} if system is None else system.stats.failed
    failed = {}
    frames: dict[int, _Frame | None] = {}
    for i in range(k):
        label = str(focal.ids[i])
        c = int(focal.comp[i])
        if focal.key[i] != -1 and c not in frames:
            frames[c] = _frame(graph, focal, c, X, col, grounds)
        fr = frames.get(c) if focal.key[i] != -1 else None
        if fr is None:  # on nodata, or alone in its component: not solved, zero maps
            if acc.wants_maps:
                acc.add(label, None)
            continue
        # every point of a component combines all of its solves: one failure spoils them all
        bad = [bad_rows[r] for r in fr.rows if r in bad_rows]
        if bad:
            res[i] = FAILED
            failed[label] = max(bad)
            continue
        ki = int(focal.key[i])
        if scenario == "one-to-all":
            coefs, shift = _one_to_all_coefficients(fr, ki, s[i])
            v = _combine(X, fr.rows, coefs)
            v -= shift
            res[i] = _at(v, focal.rep[i]) / s[i]
        else:
            inj = {kk: 0.0 for kk in fr.keys}
            for j in fr.members:
                if int(focal.key[j]) != ki:
                    inj[int(focal.key[j])] += s[j]
            inj[ki] -= sum(inj.values())
            v = _combine(X, fr.rows, [inj[kk] for kk in fr.others])
            v -= _at(v, focal.rep[i])
            res[i] = 0.0  # Circuitscape reports 0 for every solved all-to-one point
        if acc.wants_maps:
            acc.add(label, array_module(v).where(fr.mask, v, 0.0))
        del v
    stats = [system.stats] if system else []
    return RasterResult(focal.ids, res, *acc.result(), stats=stats, failed=failed)


def _one_to_all_coefficients(fr: _Frame, ki: int, strength: float):
    """Injections at ``fr.others`` (and a potential shift) that put ``strength`` A into key ki with
    every other focal key held at 0 V: voltages = sum_j coefs[j] X[rows[j]] - shift."""
    p = len(fr.others)
    Rf = fr.Rf
    if ki != fr.ground_key:
        i = fr.others.index(ki)
        rest = [j for j in range(p) if j != i]
        c = np.zeros(p)
        c[i] = strength
        if rest:
            c[rest] = np.linalg.solve(Rf[np.ix_(rest, rest)], -Rf[rest, i] * strength)
        return c, 0.0
    # the source is the frame's ground: all other keys share one potential V0, injections sum to -s
    M = np.zeros((p + 1, p + 1))
    M[:p, :p] = Rf
    M[:p, p] = -1.0
    M[p, :p] = 1.0
    rhs = np.zeros(p + 1)
    rhs[p] = -strength
    sol = np.linalg.solve(M, rhs)
    return sol[:p], sol[p]


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
        system = GroundedSystem(graph, fixed=direct & solve_mask, ground_g=np.where(direct, 0.0, ground_g),
                                solve_mask=solve_mask, options=options)
        volts = system.solve(np.where(solve_mask, sources, 0.0)[None])[0]
        stats.append(system.stats)
    cur = node_currents(graph, volts, np.where(solve_mask & ~direct, ground_g, 0.0)) if maps.currents else None
    return RasterResult([], np.array([]), voltages=graph.paint(volts),
                        current=None if cur is None else graph.paint(cur), stats=stats)
