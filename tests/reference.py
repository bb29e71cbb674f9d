"""An independent, deliberately plain Circuitscape: loops over cells, one direct solve per circuit.

Used only by tests, to check every solver path of the engine on small random landscapes.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import spsolve


def grid_direct(op, b, inactive_keep_b=False):
    """Reference solve of a grid operator: SciPy sparse LU on the active cells; inactive cells get
    0 (or keep ``b``, as the operator's identity rows give)."""
    act = op.active.ravel()
    A = op.to_csr()[act][:, act].tocsc()
    x = b.astype(np.float64).ravel().copy() if inactive_keep_b else np.zeros(b.size)
    x[act] = spsolve(A, b.astype(np.float64).ravel()[act])
    return x.reshape(b.shape)


def random_landscape(shape, seed, contrast=1e3, nodata=0.15, split=True):
    rng = np.random.default_rng(seed)
    r = np.exp(rng.random(shape) * np.log(contrast))
    r[rng.random(shape) < nodata] = np.nan
    if split:  # a nodata wall makes at least two components
        r[:, shape[1] // 2] = np.nan
    return r


def grounded_component(shape, seed, **options):
    """A random landscape's graph with one component grounded at its first cell, as a
    ``GroundedSystem`` (``options`` go to ``SolveOptions``; with ``client`` its solves are spread
    by ``gpucircuit.distribute``); returns (system, graph, cells of the component)."""
    from gpucircuit.distribute import grounded_system
    from gpucircuit.grid import build_raster_graph
    from gpucircuit.solver.options import SolveOptions

    res = random_landscape(shape, seed)
    graph = build_raster_graph(np.where(np.isfinite(res), 1 / res, 0))
    comp = graph.components == graph.components[graph.node].max()
    cells = np.flatnonzero(comp)
    fixed = np.zeros(res.shape, bool)
    fixed.flat[cells[0]] = True
    return grounded_system(graph, fixed=fixed, solve_mask=comp, options=SolveOptions(**options)), graph, cells


def pick_points(res, k, seed):
    rng = np.random.default_rng(seed)
    valid = np.argwhere(~np.isnan(res))
    pick = valid[rng.choice(len(valid), size=k, replace=False)]
    return {i + 1: [tuple(p)] for i, p in enumerate(pick)}


class RefCircuit:
    """Nodes = valid cells (polygon cells merged); edges by Circuitscape's rules."""

    def __init__(self, res, four=False, avg_res=False, polygons=None):
        m, n = res.shape
        self.shape = res.shape
        node_of = {}
        count = 0
        poly_node = {}
        for i in range(m):
            for j in range(n):
                if np.isnan(res[i, j]):
                    continue
                p = 0 if polygons is None else polygons[i, j]
                if p:
                    if p not in poly_node:
                        poly_node[p] = count
                        count += 1
                    node_of[(i, j)] = poly_node[p]
                else:
                    node_of[(i, j)] = count
                    count += 1
        self.node_of, self.n = node_of, count
        # Circuitscape shows a region's node value on its cells without habitat too
        self.paint_of = {(i, j): poly_node[polygons[i, j]] for i in range(m) for j in range(n)
                         if polygons is not None and np.isnan(res[i, j]) and polygons[i, j] in poly_node}
        offs = [(0, 1, 1.0), (1, 0, 1.0)] + ([] if four else [(1, 1, np.sqrt(2)), (1, -1, np.sqrt(2))])
        rows, cols, vals = [], [], []
        self.edges = []
        for (i, j), a in node_of.items():
            for di, dj, div in offs:
                q = (i + di, j + dj)
                if q not in node_of:
                    continue
                b = node_of[q]
                r1, r2 = res[i, j], res[q]
                w = (2.0 / (r1 + r2) if avg_res else (1 / r1 + 1 / r2) / 2) / div
                self.edges.append(((i, j), q, w))
                if a == b:
                    continue
                rows += [a, b, a, b]
                cols += [b, a, a, b]
                vals += [-w, -w, w, w]
        self.L = sp.csr_matrix((vals, (rows, cols)), shape=(count, count))
        _, self.comp = connected_components(self.L, directed=False)

    def solve(self, inject: dict[int, float], grounded: list[int], ground_g=None) -> np.ndarray:
        """Node voltages with ``grounded`` nodes at 0 V; only their components are solved."""
        comps = {self.comp[g] for g in grounded} | ({self.comp[k] for k in (ground_g or {})})
        keep = [u for u in range(self.n) if self.comp[u] in comps and u not in set(grounded)]
        idx = {u: t for t, u in enumerate(keep)}
        A = self.L[keep][:, keep].tolil()
        for u, gval in (ground_g or {}).items():
            if u in idx:
                A[idx[u], idx[u]] += gval
        b = np.zeros(len(keep))
        for u, c in inject.items():
            if u in idx:
                b[idx[u]] += c
        x = spsolve(A.tocsc(), b) if keep else np.zeros(0)
        v = np.zeros(self.n)
        v[keep] = x
        return v

    def current_map(self, v: np.ndarray, ground_g=None) -> np.ndarray:
        inflow, outflow = np.zeros(self.n), np.zeros(self.n)
        for p, q, w in self.edges:
            a, b = self.node_of[p], self.node_of[q]
            f = w * (v[a] - v[b])
            if f > 0:
                outflow[a] += f
                inflow[b] += f
            else:
                inflow[a] -= f
                outflow[b] -= f
        for u, gval in (ground_g or {}).items():
            outflow[u] += max(gval * v[u], 0)
            inflow[u] += max(-gval * v[u], 0)
        node_cur = np.maximum(inflow, outflow)
        out = np.zeros(self.shape)
        for cell, u in list(self.node_of.items()) + list(self.paint_of.items()):
            out[cell] = node_cur[u]
        return out

    def pairwise(self, points):
        ids = sorted(points)
        k = len(ids)
        R = np.full((k, k), -1.0)
        np.fill_diagonal(R, 0)
        cum = np.zeros(self.shape)
        nodes = [self.node_of.get(tuple(points[i][0])) for i in ids]
        for a in range(k):
            for b in range(a + 1, k):
                na, nb = nodes[a], nodes[b]
                if na is None or nb is None or self.comp[na] != self.comp[nb]:
                    continue
                if na == nb:
                    R[a, b] = R[b, a] = 0
                    continue
                v = self.solve({nb: 1.0}, [na])
                R[a, b] = R[b, a] = v[nb]
                cum += self.current_map(v)
        return R, cum

    def one_to_all(self, points):
        ids = sorted(points)
        nodes = [self.node_of.get(tuple(points[i][0])) for i in ids]
        out = np.full(len(ids), -1.0)
        cum = np.zeros(self.shape)
        for i, ni in enumerate(nodes):
            if ni is None:
                continue
            others = [u for u in nodes if u is not None and u != ni and self.comp[u] == self.comp[ni]]
            if not others:
                continue
            v = self.solve({ni: 1.0}, sorted(set(others)))
            out[i] = v[ni]
            cum += self.current_map(v)
        return out, cum

    def all_to_one(self, points):
        ids = sorted(points)
        nodes = [self.node_of.get(tuple(points[i][0])) for i in ids]
        out = np.full(len(ids), -1.0)
        cum = np.zeros(self.shape)
        for i, ni in enumerate(nodes):
            if ni is None:
                continue
            inj = {}
            for u in nodes:
                if u is not None and u != ni and self.comp[u] == self.comp[ni]:
                    inj[u] = inj.get(u, 0) + 1.0
            if not inj:
                continue
            v = self.solve(inj, [ni])
            out[i] = 0.0
            cum += self.current_map(v)
        return out, cum


def raster_edge_list(g, four):
    """((i, j), (a, b), conductance) of every link between node cells (g > 0), by plain loops:
    average conductance, diagonals over sqrt(2), Circuitscape's rule."""
    h, w = g.shape
    steps = [(0, 1), (1, 0)] if four else [(0, 1), (1, 0), (1, 1), (1, -1)]
    edges = []
    for i in range(h):
        for j in range(w):
            for di, dj in steps:
                a, b = i + di, j + dj
                if 0 <= a < h and 0 <= b < w and g[i, j] > 0 and g[a, b] > 0:
                    edges.append(((i, j), (a, b), (g[i, j] + g[a, b]) / 2 / (np.sqrt(2) if di and dj else 1)))
    return edges


def node_currents_of(edges, volts):
    """max(inflow, outflow) per cell from the branch flows, branches under 1e-8 of the largest dropped."""
    flows = [(p, q, wt * (volts[p] - volts[q])) for p, q, wt in edges]
    top = max((abs(f) for _, _, f in flows), default=0.0)
    inflow, outflow = np.zeros(volts.shape), np.zeros(volts.shape)
    for p, q, f in flows:
        if abs(f) >= 1e-8 * top:
            hi, lo = (p, q) if f > 0 else (q, p)
            outflow[hi] += abs(f)
            inflow[lo] += abs(f)
    return np.maximum(inflow, outflow)
