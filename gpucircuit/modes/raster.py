"""Circuitscape's raster scenarios on arrays: pairwise, one-to-all, all-to-one, advanced.

Pairwise among k points takes about k solves, not k(k-1)/2: per component one focal node is
grounded and a unit current is injected at each other focal node; every pair's voltages and
resistance follow by superposition. One-to-all and all-to-one reuse the same solves through a
small dense system on the focal nodes. Focal regions in pairwise mode change the graph per pair
(the two regions are short-circuited), so that case solves each pair on its own graph; so do
one-to-all / all-to-one with an include file and focal regions (only the regions taking part in
a point's solve are merged).

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
    system = grounded_system(graph, fixed=fixed.reshape(graph.shape), solve_mask=solve_mask, options=options,
                             rhs_hint=len(inject))
    order = list(inject)
    current().stage("solve", len(order))
    # on a GPU the solutions stay on the device when they fit: current maps are made there
    X = system.solve_units([inject[k] for k in order], on_device=True)
    current().advance(len(order))
    return system.stats, {k: j for j, k in enumerate(order)}, X, grounds


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
    solve_stats, col, X, _ = _grounded_solves(graph, focal, use, options)
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
            v -= _at(v, focal.rep[a])
            R[a, b] = R[b, a] = _at(v, focal.rep[b])
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
    acc = _Accumulator(graph, maps, sink)
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


def _focal_setup(graph, cells):
    """One-to-all / all-to-one graph: all focal regions short-circuited at once."""
    focal0 = FocalNodes.locate(graph, cells)
    if focal0.has_regions:
        graph = graph.with_merged(focal0.region_labels(graph.shape))
    return graph, FocalNodes.locate(graph, cells)


def one_to_all(graph, cells, strengths=None, maps=None, sink=None, options=None, include=None) -> RasterResult:
    return _one_or_all(graph, cells, strengths, maps, sink, options, "one-to-all", include)


def all_to_one(graph, cells, strengths=None, maps=None, sink=None, options=None, include=None) -> RasterResult:
    return _one_or_all(graph, cells, strengths, maps, sink, options, "all-to-one", include)


def _combine(X, rows, coefs):
    """sum_j coefs[j] * X[rows[j]] as one matrix-vector product: BLAS reads the solutions once,
    where a loop of axpys would read and write the result once per right-hand side."""
    xp = array_module(X)
    full = np.zeros(X.shape[0])
    full[np.asarray(rows, dtype=np.int64)] = coefs
    return (xp.asarray(full) @ X.reshape(X.shape[0], -1)).reshape(X.shape[1:])


def _outside_zero(v, outside):
    """``v`` with the cells of ``outside`` set to 0, in place (no full-grid temporary)."""
    array_module(v).copyto(v, 0.0, where=outside)
    return v


@dataclass
class _Frame:
    """A component's focal nodes in the common grounded frame, built once for all its points."""

    ground_key: int
    others: list  # keys with a solution row in X (every focal key of the component but the ground)
    rows: list  # X rows of ``others``
    Rf: np.ndarray  # Rf[a, b] = voltage at others[a] for 1 A at others[b]
    outside: object  # cells not in the component (in the solutions' namespace)


class _Circuit:
    """One graph with the focal regions of ``cells`` merged, solved once per component against a
    common ground; every one-to-all / all-to-one solve among these points follows by superposition."""

    def __init__(self, graph, cells, options):
        self.graph, self.focal = _focal_setup(graph, cells)
        self.solve_stats, self.col, self.X, self.grounds = _grounded_solves(self.graph, self.focal,
                                                                       self.focal.key != -1, options)
        self._frames: dict[int, _Frame | None] = {}

    @property
    def stats(self):
        return [self.solve_stats] if self.solve_stats else []

    def frame(self, i: int) -> _Frame | None:
        """The frame of focal position i's component (None: on nodata or alone in it)."""
        f = self.focal
        if f.key[i] == -1:
            return None
        c = int(f.comp[i])
        if c not in self._frames:
            members = [j for j in range(len(f.ids)) if f.key[j] != -1 and f.comp[j] == c]
            keys = list(dict.fromkeys(int(f.key[j]) for j in members))
            if len(keys) < 2:  # nothing to ground against / nothing to inject
                self._frames[c] = None
            else:
                ground = next(kk for kk in keys if kk in self.grounds)
                others = [kk for kk in keys if kk != ground]
                rows = [self.col[kk] for kk in others]
                reps = {int(f.key[j]): int(f.rep[j]) for j in members}
                Rf = np.array([[_at(self.X[r], reps[kk]) for r in rows] for kk in others])
                outside = array_module(self.X).asarray(self.graph.components != c)
                self._frames[c] = _Frame(ground, others, rows, Rf, outside)
        return self._frames[c]

    def failures(self, i: int) -> list[float]:
        """Residuals of failed solves that point i's voltages combine: every point of a component
        combines all of its solves, so one failure spoils them all (SolveOptions.keep_going)."""
        fr = self.frame(i)
        bad = {} if self.solve_stats is None else self.solve_stats.failed
        return [] if fr is None else [bad[r] for r in fr.rows if r in bad]

    def keys_near(self, i: int, positions) -> dict[int, list[int]]:
        """Focal keys of ``positions`` in i's component, other than i's own key -> their positions."""
        f = self.focal
        out: dict[int, list[int]] = {}
        for j in positions:
            kj = int(f.key[j])
            if kj != -1 and f.comp[j] == f.comp[i] and kj != f.key[i]:
                out.setdefault(kj, []).append(j)
        return out

    def one_to_all(self, i: int, grounded, strength: float):
        """Voltages (component only) for ``strength`` A into point i with the points ``grounded``
        (positions) held at 0 V; None when nothing in i's component is grounded."""
        fr = self.frame(i)
        ground_keys = list(self.keys_near(i, grounded)) if fr is not None else []
        if not ground_keys:
            return None
        coefs, shift = _one_to_all_coefficients(fr, int(self.focal.key[i]), ground_keys, strength)
        v = _combine(self.X, fr.rows, coefs)
        v -= shift
        return _outside_zero(v, fr.outside)

    def all_to_one(self, i: int, sources: dict[int, float]):
        """Voltages (component only) for the currents ``sources`` (position -> A) with point i
        grounded; None when no source lies in i's component."""
        fr = self.frame(i)
        near = self.keys_near(i, sources) if fr is not None else {}
        if not near:
            return None
        ki = int(self.focal.key[i])
        inj = {kk: 0.0 for kk in fr.others + [fr.ground_key]}
        for kk, js in near.items():
            inj[kk] += sum(sources[j] for j in js)
        inj[ki] -= sum(inj.values())
        v = _combine(self.X, fr.rows, [inj[kk] for kk in fr.others])
        v -= _at(v, self.focal.rep[i])
        return _outside_zero(v, fr.outside)


def _one_or_all(graph, cells, strengths, maps, sink, options, scenario, include=None) -> RasterResult:
    """For each focal point i: one-to-all injects at i and grounds the others; all-to-one grounds i
    and injects at the others. Both come from the pairwise solves by superposition.

    ``include`` (k x k, bool) restricts each solve as Circuitscape does: for point i only the
    points paired with i are grounded (one-to-all) or inject (all-to-one); the others stay
    ordinary nodes, and a point with no partner is not solved (-1).
    """
    maps = maps or MapOptions()
    options = options or SolveOptions()
    ids = sorted(cells)
    k = len(ids)
    s = _strengths(ids, strengths)
    partners = np.ones((k, k), bool) if include is None else np.array(include, bool)
    np.fill_diagonal(partners, False)
    # Circuitscape (and Circuitscape 4 before it) gives a point excluded from an all-to-one solve a
    # unit source when variable strengths are on: its strength map defaults to 1 there
    unit_extra = scenario == "all-to-one" and bool(strengths) and include is not None
    res = np.full(k, -1.0)
    per_point_graph = (include is not None and any(len(cells[p]) > 1 for p in ids)
                       and not partners[~np.eye(k, dtype=bool)].all())
    shared = None if per_point_graph else _Circuit(graph, cells, options)
    stats = [] if shared is None else shared.stats
    acc = _Accumulator(graph if shared is None else shared.graph, maps, sink)
    failed = {}
    current().stage("maps" if acc.wants_maps else "points", k)
    for i in range(k):
        label = str(ids[i])
        ctx, pos = shared, list(range(k))
        if per_point_graph and partners[i].any():
            # focal regions merge only while they take part: this solve has its own graph
            sub = {ids[j]: (cells[ids[j]] if (j == i or partners[i, j]) else np.asarray(cells[ids[j]])[:1])
                   for j in range(k) if j == i or partners[i, j] or unit_extra}
            ctx = _Circuit(graph, sub, options)
            stats += ctx.stats
            pos = [ctx.focal.ids.index(ids[j]) if ids[j] in sub else -1 for j in range(k)]
        v = None
        if partners[i].any():
            mine = pos[i]
            bad = ctx.failures(mine)
            if bad:
                res[i] = FAILED
                failed[label] = max(bad)
                current().advance()
                continue
            if scenario == "one-to-all":
                v = ctx.one_to_all(mine, [pos[j] for j in np.flatnonzero(partners[i])], s[i])
                if v is not None:
                    res[i] = _at(v, ctx.focal.rep[mine]) / s[i]
            else:
                src = {pos[j]: (s[j] if partners[i, j] else 1.0) for j in range(k)
                       if j != i and (partners[i, j] or unit_extra)}
                v = ctx.all_to_one(mine, src)
                if v is not None:
                    res[i] = 0.0  # Circuitscape reports 0 for every solved all-to-one point
        if acc.wants_maps:
            acc.add(label, v, graph=None if ctx is None or ctx is shared else ctx.graph)
        del v
        current().advance()
    return RasterResult(ids, res, *acc.result(), stats=stats, failed=failed)


def _strengths(ids, strengths: dict[int, float] | None) -> np.ndarray:
    if not strengths:
        return np.ones(len(ids))
    return np.array([float(strengths.get(pid, 1.0)) for pid in ids])


def _one_to_all_coefficients(fr: _Frame, ki: int, grounded: list, strength: float):
    """Injections at ``fr.others`` (and a potential shift) that put ``strength`` A into key ki with
    the keys ``grounded`` held at 0 V and no net current anywhere else:
    voltages = sum_j coefs[j] X[rows[j]] - shift.

    In the common frame the ground key g0 is where injected current leaves. Unknowns: the
    injections at the source and grounded keys other than g0, and the shift V0. Equations: grounded
    keys sit at V0 (V0 = 0 when g0 is grounded itself); the source injects ``strength`` (when the
    source is g0, the others absorb it); when g0 takes no part its net current is zero.
    """
    idx = {kk: a for a, kk in enumerate(fr.others)}
    gset = set(grounded)
    U = [kk for kk in fr.others if kk in gset or kk == ki]
    u = {kk: a for a, kk in enumerate(U)}
    m = len(U)
    M = np.zeros((m + 1, m + 1))
    rhs = np.zeros(m + 1)
    r = 0
    for kk in grounded:
        if kk == fr.ground_key:
            M[r, m] = 1.0
        else:
            M[r, :m] = fr.Rf[idx[kk], [idx[x] for x in U]]
            M[r, m] = -1.0
        r += 1
    if ki == fr.ground_key:
        M[r, :m] = 1.0
        rhs[r] = -strength
    else:
        M[r, u[ki]] = 1.0
        rhs[r] = strength
        if fr.ground_key not in gset:
            r += 1
            M[r, :m] = 1.0
    sol = np.linalg.solve(M, rhs)
    coefs = np.zeros(len(fr.others))
    for kk, a in u.items():
        coefs[idx[kk]] = sol[a]
    return coefs, sol[m]


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
