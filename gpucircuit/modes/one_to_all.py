"""Circuitscape's one-to-all and all-to-one raster scenarios on arrays.

Both reuse the pairwise scenario's grounded solves through a small dense system on the focal
nodes. With an include file and focal regions, only the regions taking part in a point's solve
are merged, so each point is solved on its own graph.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backend import array_module
from ..progress import current
from ..solver.options import SolveOptions
from .focal import FocalNodes
from .raster import FAILED, MapAccumulator, MapOptions, RasterResult, grounded_solves, value_at


def focal_setup(graph, cells):
    """One-to-all / all-to-one graph: all focal regions short-circuited at once."""
    focal0 = FocalNodes.locate(graph, cells)
    if focal0.has_regions:
        graph = graph.with_merged(focal0.region_labels(graph.shape))
    return graph, FocalNodes.locate(graph, cells)



def one_to_all(graph, cells, strengths=None, maps=None, sink=None, options=None, include=None) -> RasterResult:
    return _one_or_all(graph, cells, strengths, maps, sink, options, "one-to-all", include)



def all_to_one(graph, cells, strengths=None, maps=None, sink=None, options=None, include=None) -> RasterResult:
    return _one_or_all(graph, cells, strengths, maps, sink, options, "all-to-one", include)



def _combine(X, rows_coefs):
    """For each (rows, coefs): sum_j coefs[j] * X[rows[j]], all from one matrix product, so BLAS
    reads the solutions once for the lot (per point it read all of them for each map: 43 points
    of 2 M cells, 4.4 s; a loop of axpys would also write the result once per right-hand side)."""
    xp = array_module(X)
    C = np.zeros((len(rows_coefs), X.shape[0]))
    for a, (rows, coefs) in enumerate(rows_coefs):
        C[a, np.asarray(rows, dtype=np.int64)] = coefs
    return (xp.asarray(C) @ X.reshape(X.shape[0], -1)).reshape((len(rows_coefs),) + X.shape[1:])


# points whose voltages are combined in one product: bounded by the memory they take together
COMBINE_BYTES = 1 << 27


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


@dataclass
class _Plan:
    """One point's voltages as a combination of the solutions: sum_j coefs[j] X[rows[j]] - shift,
    then (all-to-one) less its value at cell ``zero_at``; cells outside the component 0."""

    frame: _Frame
    coefs: list
    shift: float = 0.0
    zero_at: int | None = None



class _Circuit:
    """One graph with the focal regions of ``cells`` merged, solved once per component against a
    common ground; every one-to-all / all-to-one solve among these points follows by superposition."""

    def __init__(self, graph, cells, options):
        self.graph, self.focal = focal_setup(graph, cells)
        self.solve_stats, self.col, self.X, self.grounds = grounded_solves(self.graph, self.focal,
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
                Rf = np.array([[value_at(self.X[r], reps[kk]) for r in rows] for kk in others])
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

    def one_to_all(self, i: int, grounded, strength: float) -> _Plan | None:
        """How to make the voltages (component only) for ``strength`` A into point i with the points
        ``grounded`` (positions) held at 0 V; None when nothing in i's component is grounded."""
        fr = self.frame(i)
        ground_keys = list(self.keys_near(i, grounded)) if fr is not None else []
        if not ground_keys:
            return None
        coefs, shift = _one_to_all_coefficients(fr, int(self.focal.key[i]), ground_keys, strength)
        return _Plan(fr, coefs, shift=shift)

    def all_to_one(self, i: int, sources: dict[int, float]) -> _Plan | None:
        """How to make the voltages (component only) for the currents ``sources`` (position -> A)
        with point i grounded; None when no source lies in i's component."""
        fr = self.frame(i)
        near = self.keys_near(i, sources) if fr is not None else {}
        if not near:
            return None
        ki = int(self.focal.key[i])
        inj = {kk: 0.0 for kk in fr.others + [fr.ground_key]}
        for kk, js in near.items():
            inj[kk] += sum(sources[j] for j in js)
        inj[ki] -= sum(inj.values())
        return _Plan(fr, [inj[kk] for kk in fr.others], zero_at=int(self.focal.rep[i]))

    def voltages(self, plans: list) -> list:
        """The voltages of each plan (None stays None), several from one product over the solutions."""
        live = [p for p in plans if p is not None]
        V = _combine(self.X, [(p.frame.rows, p.coefs) for p in live]) if live else None
        out, a = [], 0
        for p in plans:
            if p is None:
                out.append(None)
                continue
            v = V[a].copy()  # its own array: a map in the writer queue must not hold the whole block
            a += 1
            v -= p.shift if p.zero_at is None else value_at(v, p.zero_at)
            out.append(_outside_zero(v, p.frame.outside))
        return out


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
    acc = MapAccumulator(graph if shared is None else shared.graph, maps, sink)
    failed = {}

    def plan(ctx, pos, i):
        mine = pos[i]
        if scenario == "one-to-all":
            return ctx.one_to_all(mine, [pos[j] for j in np.flatnonzero(partners[i])], s[i])
        src = {pos[j]: (s[j] if partners[i, j] else 1.0) for j in range(k)
               if j != i and (partners[i, j] or unit_extra)}
        return ctx.all_to_one(mine, src)

    # on the shared graph the voltages of the next few points come from one product (a block)
    block = max(1, COMBINE_BYTES // (8 * graph.shape[0] * graph.shape[1]))
    made: dict = {}
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
            if ctx is not shared:
                v = ctx.voltages([plan(ctx, pos, i)])[0]
            else:
                if i not in made:
                    ahead = [j for j in range(i, min(k, i + block)) if partners[j].any() and not shared.failures(j)]
                    made = dict(zip(ahead, shared.voltages([plan(shared, pos, j) for j in ahead])))
                v = made.pop(i)
            if v is not None:
                # Circuitscape reports 0 for every solved all-to-one point
                res[i] = value_at(v, ctx.focal.rep[mine]) / s[i] if scenario == "one-to-all" else 0.0
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
