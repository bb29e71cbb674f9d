"""Circuitscape network mode: pairwise and advanced on an edge-list graph.

Pairwise uses the raster mode's superposition (one grounded solve per non-ground focal node
per component). Functions on a :class:`~gpucircuit.graph.Network` and options; the job that
reads the files and writes Circuitscape's text outputs is ``gpucircuit.network_job``. Networks
have no grid, so their solves are a sparse LU or pyamg smoothed aggregation + CG.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..graph import Network
from ..solver.choice import pick_method
from ..solver.options import SolveOptions, SolveStats
from ..solver.residual import record
from ..solver.sparse import sparse_solver


def grounded_solve(L: sp.csr_matrix, fixed: np.ndarray, ground_g: np.ndarray | None, rhs: np.ndarray,
                   options: SolveOptions) -> tuple[np.ndarray, SolveStats]:
    """Solve (L + diag(ground_g)) v = rhs with v = 0 on ``fixed`` (bool); rhs (k, n) -> (v (k, n), stats).

    The raster mode's solver classes on the network's matrix: networks have no grid, so ``mg``
    and a large ``auto`` run pyamg smoothed aggregation + CG (Circuitscape's cg+amg), ``direct``
    a sparse LU (:func:`~gpucircuit.solver.choice.pick_method`). ``stats.method`` names the
    solver that ran; every solve goes through the shared residual check.
    """
    n = L.shape[0]
    free = np.flatnonzero(~fixed)
    A = L[free][:, free]
    if ground_g is not None:
        A = A + sp.diags(ground_g[free])
    k = rhs.shape[0]
    stats = SolveStats(pick_method(options, free.size, k, on_grid=False), int(free.size))
    out = np.zeros((k, n))
    if not free.size:
        stats.solves = k
        return out, stats
    t0 = time.perf_counter()
    solver = sparse_solver(stats.method, A.tocsr(), options)
    t1 = time.perf_counter()
    x, info = solver.solve(rhs[:, free])
    stats.setup_s, stats.solve_s = t1 - t0, time.perf_counter() - t1
    record(stats, k, info.iterations, info.residuals, options.keep_going)
    out[:, free] = x
    return out, stats


def branch_currents(net: Network, v: np.ndarray) -> np.ndarray:
    """Signed current a -> b on every edge."""
    return net.g * (v[net.a] - v[net.b])


def node_currents(net: Network, v: np.ndarray, ground_g: np.ndarray | None = None) -> np.ndarray:
    """max(inflow, outflow) per node, counting current into finite grounds as outflow."""
    f = branch_currents(net, v)
    pos, neg = np.maximum(f, 0), np.maximum(-f, 0)
    n = net.n
    out = np.bincount(net.a, pos, n) + np.bincount(net.b, neg, n)
    inn = np.bincount(net.b, pos, n) + np.bincount(net.a, neg, n)
    if ground_g is not None:
        tg = ground_g * v
        out += np.maximum(tg, 0)
        inn += np.maximum(-tg, 0)
    return np.maximum(inn, out)


@dataclass
class NetworkPairwise:
    ids: list[int]
    resistances: np.ndarray
    cum_node: np.ndarray
    cum_branch: np.ndarray
    stats: list = field(default_factory=list)  # SolveStats of each solve (the method that ran)


def pairwise(net: Network, focal_ids, options: SolveOptions | None = None, sink=None,
             include: np.ndarray | None = None) -> NetworkPairwise:
    """Effective resistances among focal nodes (-1 across components) and cumulative currents.

    ``sink(a_id, b_id, volts, comp_mask)`` receives each solved pair (lower id at 0 V, 1 A at the higher).
    """
    options = options or SolveOptions()
    fids = sorted(set(int(i) for i in focal_ids))
    idx = net.index_of(fids, "focal node file")
    comp = net.components()
    k = len(fids)
    include = np.ones((k, k), bool) if include is None else include
    L = net.laplacian()
    fixed = np.zeros(net.n, bool)
    cols = {}
    ground_of = {}
    for c in np.unique(comp[idx]):
        members = [j for j in range(k) if comp[idx[j]] == c]
        if len(members) < 2:
            continue
        fixed[idx[members[0]]] = True
        ground_of[c] = members[0]
        for j in members[1:]:
            cols[j] = len(cols)
    X = np.zeros((0, net.n))
    stats = []
    if cols:
        rhs = np.zeros((len(cols), net.n))
        for j, col in cols.items():
            rhs[col, idx[j]] = 1.0
        # components without focal pairs are held at 0 V so the system stays non-singular
        solved = np.isin(comp, list(ground_of))
        X, st = grounded_solve(L, fixed | ~solved, None, rhs, options)
        stats.append(st)
    zero = np.zeros(net.n)
    R = np.full((k, k), -1.0)
    np.fill_diagonal(R, 0.0)
    cum_node = np.zeros(net.n)
    cum_branch = np.zeros(net.a.size)
    for a in range(k):
        for b in range(a + 1, k):
            if not include[a, b] or comp[idx[a]] != comp[idx[b]]:
                continue
            v = (X[cols[b]] if b in cols else zero) - (X[cols[a]] if a in cols else zero)
            v = v - v[idx[a]]
            R[a, b] = R[b, a] = v[idx[b]]
            cum_node += node_currents(net, v)
            cum_branch += np.abs(branch_currents(net, v))
            if sink:
                sink(fids[a], fids[b], v, comp == comp[idx[a]])
    return NetworkPairwise(fids, R, cum_node, cum_branch, stats)


def advanced(net: Network, sources: dict[int, float], grounds: dict[int, float], ground_is_resistance: bool,
             direct_grounds: bool = False, unit_currents: bool = False, policy: str = "keepall",
             options: SolveOptions | None = None):
    """Voltages, node currents, branch currents and solver stats for sources and grounds on a network."""
    options = options or SolveOptions()
    n = net.n
    s = np.zeros(n)
    for nid, val in sources.items():
        s[net.index_of([nid], "source file")[0]] += 1.0 if (unit_currents and val != 0) else val
    gg = np.zeros(n)
    direct = np.zeros(n, bool)
    for nid, val in grounds.items():
        i = net.index_of([nid], "ground file")[0]
        if ground_is_resistance:
            if val == 0:
                direct[i] = True
            else:
                gg[i] += 1.0 / val
        elif np.isinf(val):
            direct[i] = True
        else:
            gg[i] += val
    if direct_grounds:
        direct |= gg > 0
        gg[:] = 0
    both = (s != 0) & ((gg > 0) | direct)
    if policy in ("rmvsrc", "rmvall"):
        s[both] = 0
    if policy in ("rmvgnd", "rmvall"):
        gg[both] = 0
        direct[both] = False
    direct &= ~(s > 0)
    comp = net.components()
    nc = int(comp.max()) + 1
    ok = (np.bincount(comp, s, nc) != 0) & (np.bincount(comp, gg + direct, nc) != 0)
    solved = ok[comp]
    v = np.zeros(n)
    stats = []
    if solved.any():
        V, st = grounded_solve(net.laplacian(), direct | ~solved, np.where(solved, gg, 0), s[None], options)
        v = V[0]
        stats.append(st)
    return v, node_currents(net, v, gg), branch_currents(net, v), stats
