"""Nested-dissection ordering for the direct solver: a true dissection of the grid, less fill than
the natural order, and LU solves in that order that match a direct SciPy solve."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from gpucircuit.grid import build_raster_graph
from gpucircuit.solver.dissection import dissection_order, grid_rank
from gpucircuit.solver.options import SolveOptions
from gpucircuit.solver.sparse import DirectSolver
from gpucircuit.solver.system import GroundedSystem
from gpucircuit.solver.unknowns import reduced_laplacian, to_grid, to_unknowns
from reference import random_landscape


def eight_neighbour_pairs(shape):
    m, n = shape
    idx = np.arange(m * n).reshape(m, n)
    pairs = [(idx[:, :-1], idx[:, 1:]), (idx[:-1, :], idx[1:, :]), (idx[:-1, :-1], idx[1:, 1:]),
             (idx[:-1, 1:], idx[1:, :-1])]
    return np.concatenate([a.ravel() for a, _ in pairs]), np.concatenate([b.ravel() for _, b in pairs])


def symbolic_fill(order, a, b, size):
    """Nonzeros of the Cholesky factor of the graph (a, b) eliminated in ``order``: the elimination
    game, played by brute force on sets."""
    pos = np.empty(size, np.int64)
    pos[order] = np.arange(size)
    adj = [set() for _ in range(size)]
    for u, v in zip(pos[a], pos[b]):
        adj[u].add(v)
        adj[v].add(u)
    fill = 0
    for k in range(size):
        later = [v for v in adj[k] if v > k]
        fill += len(later)
        for v in later:
            adj[v].update(w for w in later if w != v)
    return fill


def test_rank_is_a_permutation_and_each_separator_follows_the_halves_it_cuts():
    for shape in [(1, 1), (3, 70), (37, 29), (64, 64)]:
        rank = grid_rank(shape, leaf=8)
        assert np.array_equal(np.sort(rank.ravel()), np.arange(rank.size))
    rank = grid_rank((37, 29), leaf=8)
    mid = 37 // 2  # the first cut: the longer side (rows), at the middle row
    assert set(rank[mid]) == set(range(rank.size - 29, rank.size))
    # the top half is numbered wholly before the bottom half
    assert rank[:mid].max() < rank[mid + 1:].min()


def test_dissection_fills_less_than_the_natural_order():
    shape = (24, 24)
    a, b = eight_neighbour_pairs(shape)
    size = shape[0] * shape[1]
    nd = symbolic_fill(np.argsort(grid_rank(shape, leaf=8).ravel()), a, b, size)
    natural = symbolic_fill(np.arange(size), a, b, size)
    assert nd < 0.8 * natural


def test_order_drops_cells_without_unknowns_and_puts_merged_regions_last():
    res = random_landscape((30, 40), 5)
    regions = np.zeros(res.shape, np.int32)
    regions[3:6, 3:6], regions[20:24, 30:33] = 1, 2
    graph = build_raster_graph(np.where(np.isfinite(res), 1 / res, 0)).with_merged(regions)
    fixed = np.zeros(res.shape, bool)
    fixed[graph.node & (graph.merge == 0)] = True
    fixed.flat[np.flatnonzero(fixed)[1::2]] = False  # every other plain cell held at 0 V: holes
    s = GroundedSystem(graph, fixed=fixed, options=SolveOptions(method="direct"), setup=False)
    order = dissection_order(s.uid, graph.merge, s.n)
    assert np.array_equal(np.sort(order), np.arange(s.n))
    merged = np.unique(s.uid[(graph.merge > 0) & (s.uid >= 0)])
    assert len(merged) == 2 and set(order[-2:]) == set(merged)
    # the plain unknowns follow the grid's ranks
    rank = grid_rank(res.shape)
    plain = (s.uid >= 0) & (graph.merge == 0)
    cell_of = np.empty(s.n, np.int64)
    cell_of[s.uid[plain]] = np.flatnonzero(plain.ravel())
    assert np.all(np.diff(rank.ravel()[cell_of[order[:-2]]]) > 0)


def test_direct_solves_in_dissection_order_match_scipy_with_holes_and_merged_regions():
    res = random_landscape((41, 35), 7)
    regions = np.zeros(res.shape, np.int32)
    regions[10:14, 5:9] = 1
    graph = build_raster_graph(np.where(np.isfinite(res), 1 / res, 0)).with_merged(regions)
    comp = graph.components == graph.components[graph.node].max()
    fixed = np.zeros(res.shape, bool)
    fixed.flat[np.flatnonzero(comp)[0]] = True
    s = GroundedSystem(graph, fixed=fixed, solve_mask=comp, options=SolveOptions(method="direct"))
    assert s.solver.order is not None
    rng = np.random.default_rng(1)
    rhs = np.where(comp, rng.standard_normal((5,) + res.shape), 0.0)
    got = s.solve(rhs)
    A = reduced_laplacian(graph, s.uid, s.n, None)
    want = to_grid(s.uid, spla.spsolve(A.tocsc(), to_unknowns(s.uid, s.n, rhs).T).T)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert s.stats.max_residual < 1e-10


def test_direct_solver_with_any_order_solves_the_unpermuted_system():
    rng = np.random.default_rng(2)
    M = sp.random(60, 60, density=0.1, random_state=3)
    A = (M @ M.T + 60 * sp.identity(60)).tocsr()
    B = rng.standard_normal((6, 60))
    X, info = DirectSolver(A, order=rng.permutation(60)).solve(B)
    np.testing.assert_allclose(X, spla.spsolve(A.tocsc(), B.T).T, rtol=1e-10)
    assert np.all(info.residuals < 1e-12)


def test_order_is_made_on_the_unknowns_box_and_left_to_minimum_degree_when_they_are_sparse():
    uid = np.full((300, 400), -1, dtype=np.int64)
    block = uid[100:130, 200:260]
    block.T[...] = np.arange(block.size).reshape(block.T.shape)  # column-major, as unknown_index
    merge = np.zeros(uid.shape, np.int32)
    order = dissection_order(uid, merge, block.size)
    rank = grid_rank(block.shape)
    # the box is ranked as if it were the whole grid: unknowns in the box's rank order
    np.testing.assert_array_equal(order, block.ravel()[np.argsort(rank.ravel())])
    uid[5, 5], uid[290, 390] = block.size, block.size + 1  # two far-off unknowns: a box of mostly holes
    assert dissection_order(uid, merge, block.size + 2) is None
