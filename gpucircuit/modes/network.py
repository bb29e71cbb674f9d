"""Circuitscape network mode: pairwise and advanced on an edge-list graph.

Pairwise uses the raster mode's superposition (one grounded solve per non-ground focal node
per component). Outputs are Circuitscape's text files keyed by the input's node ids. Networks
have no grid, so their solves are a sparse LU or pyamg smoothed aggregation + CG.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..errors import InputError, SolverError
from ..graph import Network, read_network
from ..io.outputs import fmt, write_pairwise_resistances
from ..io.raster import write_text_atomic
from ..solver.cg import pcg
from ..solver.system import RESIDUAL_LIMIT, SolveOptions, SolveStats

BRANCH_WRITE_MIN = 1e-6  # branch currents at or below this are left out of every branch file


def grounded_solve(L: sp.csr_matrix, fixed: np.ndarray, ground_g: np.ndarray | None, rhs: np.ndarray,
                   options: SolveOptions) -> tuple[np.ndarray, SolveStats]:
    """Solve (L + diag(ground_g)) v = rhs with v = 0 on ``fixed`` (bool); rhs (k, n) -> (v (k, n), stats).

    Networks are not grids, so the grid multigrid does not apply: ``mg`` and ``amg`` both run
    pyamg smoothed aggregation + CG (Circuitscape's cg+amg), ``direct`` a sparse LU, and ``auto``
    picks LU up to ``direct_limit`` unknowns. ``stats.method`` names the solver that ran.
    """
    n = L.shape[0]
    free = np.flatnonzero(~fixed)
    A = L[free][:, free]
    if ground_g is not None:
        A = A + sp.diags(ground_g[free])
    A = A.tocsr()
    b = rhs[:, free]
    method = _network_method(options.method, free.size, options.direct_limit)
    stats = SolveStats(method, int(free.size), solves=rhs.shape[0])
    x = np.zeros_like(b)
    if free.size:
        t0 = time.perf_counter()
        if method == "direct":
            from scipy.sparse.linalg import splu

            lu = splu(A.tocsc())
            t1 = time.perf_counter()
            x = lu.solve(b.T).T
        else:
            import pyamg

            M = pyamg.smoothed_aggregation_solver(A, symmetry="symmetric").aspreconditioner(cycle="V")
            t1 = time.perf_counter()
            x, info = pcg(lambda v: (A @ v.T).T, b, precond=lambda r: np.stack([M @ ri for ri in r]),
                          rtol=options.rtol, maxiter=options.maxiter)
            stats.iterations = int(info.iterations)
        stats.setup_s, stats.solve_s = t1 - t0, time.perf_counter() - t1
        res = np.linalg.norm(b - (A @ x.T).T, axis=1) / np.maximum(np.linalg.norm(b, axis=1), 1e-300)
        stats.max_residual = float(res.max()) if res.size else 0.0
        if not np.isfinite(stats.max_residual) or stats.max_residual > RESIDUAL_LIMIT:
            raise SolverError(f"network solve ({method}) did not converge: relative residual "
                              f"{stats.max_residual:.2e} > {RESIDUAL_LIMIT:g} on {free.size} unknowns "
                              "(try --solver direct)")
    out = np.zeros((rhs.shape[0], n))
    out[:, free] = x
    return out, stats


def _network_method(requested: str, unknowns: int, direct_limit: int) -> str:
    if requested == "auto":
        return "direct" if unknowns <= direct_limit else "amg"
    if requested == "direct":
        return "direct"
    if requested in ("mg", "amg"):
        return "amg"
    raise SolverError(f"unknown solver method {requested!r}: use auto, direct, mg or amg")


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


def _read_id_values(path: Path, what: str) -> dict[int, float]:
    if not Path(path).exists():
        raise InputError(f"{what} not found: {path}")
    data = np.loadtxt(path, ndmin=2, comments=("#", ";"))
    if data.size == 0 or data.shape[1] < 2:
        raise InputError(f"{what} {path} must have rows 'node value'")
    out: dict[int, float] = {}
    for nid, val in data[:, :2]:
        out[int(nid)] = out.get(int(nid), 0.0) + float(val)
    return out


def _node_lines(ids, values, mask=None) -> str:
    sel = np.ones(len(ids), bool) if mask is None else mask
    return "".join(f"{int(i)} {fmt(v)}\n" for i, v in zip(np.asarray(ids)[sel], np.asarray(values)[sel]))


def _branch_lines(net: Network, cur: np.ndarray, mask=None) -> str:
    """Branch rows carrying more than BRANCH_WRITE_MIN, as Circuitscape writes every branch file
    (the cumulative one too, so components without focal nodes leave no rows)."""
    sel = np.abs(cur) > BRANCH_WRITE_MIN
    if mask is not None:
        sel &= mask[net.a]
    return "".join(
        f"{int(net.ids[a])} {int(net.ids[b])} {fmt(abs(c))}\n"
        for a, b, c in zip(net.a[sel], net.b[sel], cur[sel])
    )


def run_network_job(cfg, options: SolveOptions):
    """Network scenario from a typed config; writes Circuitscape's text outputs."""
    from ..io.points import read_included_pairs
    from ..pipeline import JobReport, _need

    net = read_network(_need(cfg.habitat_file, "graph file", "habitat_file"), cfg.habitat_map_is_resistances)
    prefix = cfg.output_prefix
    prefix.parent.mkdir(parents=True, exist_ok=True)
    report = JobReport(cfg.scenario)

    def out(name, text):
        p = Path(f"{prefix}_{name}.txt")
        write_text_atomic(p, text)
        report.outputs.append(p)

    if cfg.scenario == "advanced":
        src = _read_id_values(_need(cfg.source_file, "source file", "source_file"), "source file")
        gnd = _read_id_values(_need(cfg.ground_file, "ground file", "ground_file"), "ground file")
        v, nodec, br, report.stats = advanced(net, src, gnd, cfg.ground_file_is_resistances,
                                              cfg.use_direct_grounds, cfg.use_unit_currents,
                                              cfg.remove_src_or_gnd, options)
        if cfg.write_volt_maps:
            out("voltages", _node_lines(net.ids, v))
        if cfg.write_cur_maps:
            out("node_currents", _node_lines(net.ids, nodec))
            out("branch_currents", _branch_lines(net, br))
        return report
    ppath = _need(cfg.point_file, "focal node file", "point_file")
    focal = np.loadtxt(ppath, ndmin=1, comments=("#", ";")).ravel()
    if focal.size == 0:
        raise InputError(f"focal node file {ppath} holds no nodes")
    ids = sorted(set(int(i) for i in focal))
    include = None
    if cfg.use_included_pairs:
        ids, include = read_included_pairs(_need(cfg.included_pairs_file, "included pairs file",
                                                 "included_pairs_file"), ids)

    def sink(a, b, v, mask):
        if cfg.write_volt_maps:
            out(f"voltages_{a}_{b}", _node_lines(net.ids, v, mask))
        if cfg.write_cur_maps and not cfg.write_cum_cur_map_only:
            out(f"node_currents_{a}_{b}", _node_lines(net.ids, node_currents(net, v), mask))
            out(f"branch_currents_{a}_{b}", _branch_lines(net, branch_currents(net, v), mask))

    res = pairwise(net, ids, options, sink, include)
    report.outputs += write_pairwise_resistances(prefix, res.ids, res.resistances)
    if cfg.write_cur_maps or cfg.write_cum_cur_map_only:
        out("node_currents_cum", _node_lines(net.ids, res.cum_node))
        out("branch_currents_cum", _branch_lines(net, res.cum_branch))
    report.resistances, report.ids, report.stats = res.resistances, res.ids, res.stats
    return report
