"""Batched nested dissection against a direct sparse solve of each window's grounded Laplacian,
built here independently (scipy.sparse, explicit loops over the stencil), and the window path
built on it against the stacked sparse path and a brute-force node-current sum."""
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spl
from scipy.sparse.csgraph import connected_components

from gpucircuit.modes.window_solves import solve_windows, solve_windows_nd
from gpucircuit.solver.nested_dissection import dissection, factor_stats, pattern_cells
from devices import cupy_or_none
from reference import node_currents_of, raster_edge_list


def grounded_system(g, four):
    """(Laplacian (n, n), unknown cells) of one window grounded at its centre: links
    (g_a + g_b) / 2 (over sqrt 2 on diagonals), unknowns = the centre's component less the centre."""
    size = g.shape[0]
    n = size * size
    steps = [(0, 1), (1, 0)] if four else [(0, 1), (1, 0), (1, 1), (1, -1)]
    rows, cols, vals = [], [], []
    for i in range(size):
        for j in range(size):
            for di, dj in steps:
                a, b = i + di, j + dj
                if 0 <= a < size and 0 <= b < size and g[i, j] > 0 and g[a, b] > 0:
                    rows.append(i * size + j)
                    cols.append(a * size + b)
                    vals.append((g[i, j] + g[a, b]) / 2 / (np.sqrt(2) if di and dj else 1))
    adj = sp.coo_matrix((vals, (rows, cols)), shape=(n, n)).tocsr()
    adj = adj + adj.T
    lap = sp.diags(np.asarray(adj.sum(axis=1)).ravel()) - adj
    centre = (size // 2) * size + size // 2
    if g.ravel()[centre] <= 0:
        return lap, np.zeros(0, int)
    _, comp = connected_components(adj, directed=False)
    unknown = np.flatnonzero((comp == comp[centre]) & (g.ravel() > 0))
    return lap, unknown[unknown != centre]


def grounded_solve(g, src, four):
    """Potentials (S, S) of one window grounded at its centre, by spsolve."""
    lap, unknown = grounded_system(g, four)
    volts = np.zeros(g.size)
    if unknown.size:
        a = lap[unknown][:, unknown].tocsc()
        volts[unknown] = spl.spsolve(a, src.ravel()[unknown]) if unknown.size > 1 else \
            src.ravel()[unknown] / a.toarray()[0, 0]
    return volts.reshape(g.shape)


def node_currents(g, volts, four):
    """max(inflow, outflow) per cell, branches under 1e-8 of the largest dropped (loops)."""
    return node_currents_of(raster_edge_list(g, four), volts)


def windows(size, k, contrast, seed):
    """k windows with holes (several components), one clipped, one with an isolated centre,
    one with a nodata centre, conductances spanning ``contrast`` decades either way."""
    rng = np.random.default_rng(seed)
    g = 10.0 ** rng.uniform(-contrast, contrast, (k, size, size))
    g[rng.random(g.shape) < 0.25] = 0.0
    d = size // 2
    g[0, :, :d // 2] = 0.0  # clipped at the left edge
    g[0, :2] = 0.0  # and at the top
    g[1, d - 1:d + 2, d - 1:d + 2] = 0.0
    g[1, d, d] = 3.0  # isolated target
    g[2, d, d] = 0.0  # target on nodata
    g[3, :, d + 1] = 0.0  # a wall: the right part is another component
    g[3, d, d] = 1.0
    src = rng.random(g.shape) * (rng.random(g.shape) < 0.5)
    src[3, :, d + 2:] = 1.0  # sources off the grounded component are lost
    return g, src


@pytest.mark.parametrize("four", [False, True])
@pytest.mark.parametrize("size,contrast,disc", [(9, 4, False), (21, 4, False), (21, 4, True), (21, 6, False),
                                                (37, 6, True)])
def test_potentials_match_sparse_solve(four, size, contrast, disc):
    """Conductances over 8 decades: potentials agree to 1e-6 of the window's largest. Over 12
    decades both solves lose digits to conditioning (a weakly tied cluster's offset), so there
    ours must leave a residual no larger than spsolve's and give the same node currents."""
    from gpucircuit.modes.window_solves import grounded_component, window_edges
    from gpucircuit.solver.nested_dissection import solve_grid_batch

    g, src = windows(size, 6, contrast, seed=size + contrast + four)
    radius = None
    if disc:  # Omniscape's windows: conductance only within the disc, corners left out of the tree
        radius = size // 2
        g = g * pattern_cells(size, radius)
    edges = window_edges(g, four)
    volts = solve_grid_batch(edges, grounded_component(g, four), src[:, None], radius)[:, 0]
    solved = 0
    for i in range(len(g)):
        ref = grounded_solve(g[i], src[i], four)
        scale = np.abs(ref).max()
        if scale == 0:
            assert np.all(volts[i] == 0)
            continue
        solved += 1
        if contrast <= 4:
            np.testing.assert_allclose(volts[i], ref, rtol=0, atol=1e-6 * scale)
            continue
        lap, unknown = grounded_system(g[i], four)
        a, b = lap[unknown][:, unknown], src[i].ravel()[unknown]
        ours, theirs = (np.abs(a @ v.ravel()[unknown] - b).max() for v in (volts[i], ref))
        assert ours <= 10 * theirs + 1e-12 * np.abs(b).max()
        cur, ref_cur = node_currents(g[i], volts[i], four), node_currents(g[i], ref, four)
        np.testing.assert_allclose(cur, ref_cur, rtol=0, atol=1e-5 * np.abs(ref_cur).max())
        assert np.all(volts[i].ravel()[np.setdiff1d(np.arange(g[i].size), unknown)] == 0)
    assert solved >= 2
    assert np.all(volts[1:3] == 0)  # isolated target, target on nodata


@pytest.mark.parametrize("four", [False, True])
def test_currents_match_brute_force_and_stacked_path(four):
    g, src = windows(15, 6, 4, seed=3)
    ours = solve_windows_nd(g, src, four)
    stacked = solve_windows(g, src, four, "direct")
    for i in range(len(g)):
        ref = node_currents(g[i], grounded_solve(g[i], src[i], four), four)
        np.testing.assert_allclose(ours[i], ref, rtol=1e-7, atol=1e-9 * max(np.abs(ref).max(), 1e-300))
    np.testing.assert_allclose(ours, stacked, rtol=1e-7, atol=1e-9 * np.abs(stacked).max())
    assert np.abs(ours[3]).max() > 0 and np.all(ours[1:3] == 0)


@pytest.mark.parametrize("four", [False, True])
@pytest.mark.parametrize("size", [5, 12, 33, 64])
@pytest.mark.parametrize("disc", [False, True])
def test_dissection_eliminates_every_cell_once_and_children_fit(four, size, disc):
    radius = size // 2 if disc else None
    nodes = dissection(size, four, 16, radius)
    own = np.concatenate([n.own for n in nodes])
    assert np.array_equal(np.sort(own), np.flatnonzero(pattern_cells(size, radius)))
    done = np.zeros(size * size, bool)
    for node in nodes:  # children before parents: a ring cell is never eliminated yet
        assert not done[node.ring].any()
        done[node.own] = True
    assert nodes[-1].ring.size == 0
    assert factor_stats(size, four)["flops"] > 0


def group_frames(size, span, four, seed):
    """Windows (discs of radius size // 2) of two groups of neighbours on frames of size + span
    cells, each group cut from its own raster (holes, so several components); in group 0 one
    window's conductance is changed inside the core, which its neighbours must not share."""
    rng = np.random.default_rng(seed)
    d, frame = size // 2, size + span
    gs, srcs, oys, oxs, groups = [], [], [], [], []
    for group in (0, 1):
        raster = 10.0 ** rng.uniform(-2, 2, (frame, frame))
        raster[rng.random(raster.shape) < 0.2] = 0.0
        for oy, ox in [(0, 0), (0, span), (span, 0), (span, span), (1, 2), (2, 1)]:
            g = np.zeros((frame, frame))
            g[oy:oy + size, ox:ox + size] = raster[oy:oy + size, ox:ox + size] * pattern_cells(size, d)
            g[oy + d, ox + d] = max(g[oy + d, ox + d], 1.0)  # targets on conductance
            gs.append(g)
            srcs.append(rng.random((frame, frame)) * (g > 0))
            oys.append(oy)
            oxs.append(ox)
            groups.append(group)
    from gpucircuit.solver.nested_dissection import shared_nodes

    nodes = dissection(frame, four, radius=d, span=span)
    inside = np.concatenate([n.own for n, s in zip(nodes, shared_nodes(frame, four, d, span)) if s])
    cell = inside[gs[1].ravel()[inside] > 0][0]
    gs[1].ravel()[cell] *= 7.0  # in a subtree inside every disc of the group: it is not the group's
    return np.array(gs), np.array(srcs), (np.array(oys), np.array(oxs)), np.array(groups)


@pytest.mark.parametrize("four", [False, True])
def test_windows_of_a_group_share_subtrees_and_match_sparse_solves(four, monkeypatch):
    """Windows laid on their group's frame, the subtrees inside every disc eliminated once per
    group: each window's potentials equal an independent spsolve of that window alone."""
    from gpucircuit.modes.window_solves import grounded_component, window_edges
    from gpucircuit.solver import nested_dissection as nd

    size, span = 41, 3
    d = size // 2
    assert nd.shared_nodes(size + span, four, d, span).sum() >= 10
    g, src, (oy, ox), groups = group_frames(size, span, four, seed=11 + four)
    split = []
    check = nd._split_groups
    monkeypatch.setattr(nd, "_split_groups", lambda *a: split.append(check(*a)) or split[-1])
    active = grounded_component(g, four, (oy + d, ox + d))
    volts = nd.solve_grid_batch(window_edges(g, four), active, src[:, None], d, span, groups)[:, 0]
    (after, reps), = split
    assert len(reps) <= 4 and np.sum(after == after[1]) == 1  # shared, but not with the changed window
    for i in range(len(g)):
        window = (slice(oy[i], oy[i] + size), slice(ox[i], ox[i] + size))
        ref = grounded_solve(g[i][window], src[i][window], four)
        assert np.abs(ref).max() > 0
        np.testing.assert_allclose(volts[i][window], ref, rtol=0, atol=1e-10 * np.abs(ref).max())
        outside = np.ones(g[i].shape, bool)
        outside[window] = False
        assert np.all(volts[i][outside] == 0)


def test_a_window_unlike_its_group_is_not_given_the_groups_subtrees(monkeypatch):
    """The comparison bites: share the subtrees without checking that the windows agree on them
    and the window changed inside the core gets its neighbours' potentials, not its own."""
    from gpucircuit.modes.window_solves import grounded_component, window_edges
    from gpucircuit.solver import nested_dissection as nd

    size, span = 41, 3
    d = size // 2
    g, src, (oy, ox), groups = group_frames(size, span, False, seed=11)
    args = (window_edges(g, False), grounded_component(g, False, (oy + d, ox + d)), src[:, None], d, span, groups)
    good = nd.solve_grid_batch(*args)
    alone = nd.solve_grid_batch(*args[:3], d, span)  # no groups: every window its own elimination
    np.testing.assert_allclose(good, alone, rtol=0, atol=1e-11 * np.abs(alone).max())
    unchecked = lambda values, groups, used: (groups, np.unique(groups, return_index=True)[1])
    monkeypatch.setattr(nd, "_split_groups", unchecked)
    bad = nd.solve_grid_batch(*args)
    assert np.abs(bad[1] - good[1]).max() > 1e-6 * np.abs(good[1]).max()
    np.testing.assert_allclose(bad[2:], good[2:], rtol=0, atol=1e-11 * np.abs(good).max())


def test_skipping_an_extend_add_changes_the_answer(monkeypatch):
    """The comparison bites: drop one child's update matrix and the potentials move."""
    from gpucircuit.modes.window_solves import grounded_component, window_edges
    from gpucircuit.solver import nested_dissection as nd

    g, src = windows(21, 4, 2, seed=9)
    edges, active = window_edges(g, False), grounded_component(g, False)
    good = nd.solve_grid_batch(edges, active, src[:, None])
    nodes = list(nd.dissection(21, False))
    root = nodes[-1]
    broken = nodes[:-1] + [nd.FrontNode(root.own, root.ring, root.gather, root.put, root.take, root.children[:1])]
    monkeypatch.setattr(nd, "dissection", lambda *a, **k: tuple(broken))
    bad = nd.solve_grid_batch(edges, active, src[:, None])
    assert np.abs(bad - good).max() > 1e-3 * np.abs(good).max()


def test_a_matrix_that_is_not_positive_definite_is_a_solver_error():
    """Negative link weights (never made from conductances, which are checked on input) make an
    indefinite matrix: one SolverError, not a LinAlgError or NaNs."""
    from gpucircuit.edges import GridEdges
    from gpucircuit.errors import SolverError
    from gpucircuit.solver.nested_dissection import solve_grid_batch

    w = -np.ones((2, 9, 9))
    active = np.ones((2, 9, 9), bool)
    active[:, 4, 4] = False
    with pytest.raises(SolverError, match="not positive definite"):
        solve_grid_batch(GridEdges(w, w.copy()), active, np.ones((2, 1, 9, 9)))


@pytest.mark.parametrize("radius", [10, 30])
def test_a_default_batch_stays_within_its_memory_budget(radius):
    """The batch is sized by memory: a batch's peak (tracemalloc) stays within the budget and
    within the bytes per cell the Omniscape job plans for a batch in flight."""
    import tracemalloc

    from gpucircuit.modes.omniscape import ND_BATCH_BYTES, WindowRules, default_batch
    from gpucircuit.omniscape_job import BATCH_BYTES_PER_CELL

    rules = WindowRules(radius)
    k, size = default_batch(rules), rules.size
    assert k > 1
    rng = np.random.default_rng(radius)
    g = 10.0 ** rng.uniform(-3, 3, (k, size, size)) * pattern_cells(size, radius)
    src = rng.random(g.shape)
    dissection(size, False, radius=radius)  # the symbolic tree is cached per size, not per batch
    tracemalloc.start()
    try:
        solve_windows_nd(g, src, False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= ND_BATCH_BYTES
    assert peak <= BATCH_BYTES_PER_CELL * k * size * size


def test_a_default_batch_in_groups_stays_within_its_memory_budget():
    """Windows solved in groups on their frames (radius 50, block 1): the batch's peak stays
    within the budget and the bytes per cell the Omniscape job plans, as alone."""
    import tracemalloc

    from gpucircuit.modes.omniscape import (ND_BATCH_BYTES, Targets, WindowRules, WindowSource, default_batch,
                                            target_groups)
    from gpucircuit.omniscape_job import BATCH_BYTES_PER_CELL

    rules = WindowRules(50)
    k, size = default_batch(rules), rules.size
    rng = np.random.default_rng(50)
    cond = 10.0 ** rng.uniform(-3, 3, (160, 160))
    rows, cols = np.meshgrid(np.arange(52, 108), np.arange(52, 108), indexing="ij")
    targets = Targets(rows.ravel(), cols.ravel(), np.ones(rows.size))
    ordered, key, (oy, ox), span = target_groups(targets, rules)
    part = ordered.take(slice(0, k))
    g, src, _, _ = WindowSource(cond, rng.random(cond.shape), rules).cut(part)
    groups = np.unique(key[:k], return_inverse=True)[1].ravel()
    solve_windows_nd(g[:2], src[:2], False, groups[:2], (oy[:2], ox[:2]), span)  # the trees, cached
    tracemalloc.start()
    try:
        solve_windows_nd(g, src, False, groups, (oy[:k], ox[:k]), span)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= ND_BATCH_BYTES
    assert peak <= BATCH_BYTES_PER_CELL * k * size * size


@pytest.mark.gpu
@pytest.mark.skipif(cupy_or_none() is None, reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("four", [False, True])
def test_the_same_code_on_cupy_matches_numpy(four):
    """One algorithm on the array namespace: CuPy's batched Cholesky and matmul give NumPy's potentials."""
    from gpucircuit.edges import GridEdges
    from gpucircuit.modes.window_solves import grounded_component, window_edges
    from gpucircuit.solver.nested_dissection import solve_grid_batch

    cp = cupy_or_none()
    g, src = windows(37, 6, 4, seed=5)
    g = g * pattern_cells(37, 18)
    edges, active = window_edges(g, four), grounded_component(g, four)
    want = solve_grid_batch(edges, active, src[:, None], 18)
    dev = GridEdges(*(None if w is None else cp.asarray(w) for w, _, _ in edges.all_directions()))
    got = solve_grid_batch(dev, cp.asarray(active), cp.asarray(src[:, None]), 18)
    np.testing.assert_allclose(cp.asnumpy(got), want, rtol=0, atol=1e-9 * np.abs(want).max())


@pytest.mark.gpu
@pytest.mark.skipif(cupy_or_none() is None, reason="needs CuPy and a CUDA device")
def test_groups_on_cupy_match_numpy():
    """The group path on the array namespace: CuPy's potentials equal NumPy's."""
    from gpucircuit.edges import GridEdges
    from gpucircuit.modes.window_solves import grounded_component, window_edges
    from gpucircuit.solver.nested_dissection import solve_grid_batch

    cp = cupy_or_none()
    size, span = 41, 3
    d = size // 2
    g, src, (oy, ox), groups = group_frames(size, span, False, seed=11)
    edges, active = window_edges(g, False), grounded_component(g, False, (oy + d, ox + d))
    want = solve_grid_batch(edges, active, src[:, None], d, span, groups)
    dev = GridEdges(*(None if w is None else cp.asarray(w) for w, _, _ in edges.all_directions()))
    got = solve_grid_batch(dev, cp.asarray(active), cp.asarray(src[:, None]), d, span, cp.asarray(groups))
    np.testing.assert_allclose(cp.asnumpy(got), want, rtol=0, atol=1e-10 * np.abs(want).max())
