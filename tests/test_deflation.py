"""Pocket deflation: finds walled-in conductive cells, keeps the preconditioner symmetric, cuts iterations."""
import numpy as np

from gpucircuit.grid import edges_from_conductance
from gpucircuit.operators import GridOperator
from gpucircuit.solver.cg import pcg
from gpucircuit.solver.deflation import PocketDeflation
from gpucircuit.solver.multigrid import GridMultigrid, MultigridOptions


def pocket_landscape(n=96, seed=0):
    """Resistive background (1e3) with conductive 1-3 cell pockets: the multigrid's hard case."""
    rng = np.random.default_rng(seed)
    g = np.full((n, n), 1e-3) * (1 + rng.random((n, n)))
    for _ in range(60):
        i, j = rng.integers(2, n - 3, 2)
        g[i:i + rng.integers(1, 3), j:j + rng.integers(1, 3)] = 1.0
    active = np.ones((n, n), bool)
    active[0, 0] = False  # ground
    return GridOperator.build(edges_from_conductance(g), active)


def test_detects_pockets_and_projects_exactly():
    op = pocket_landscape()
    Q = PocketDeflation(op)
    assert Q.count >= 30
    # Q A Q = Q: Q is the A-orthogonal projection onto the pockets' span, times A^-1
    rng = np.random.default_rng(1)
    r = rng.random((2,) + op.shape)
    np.testing.assert_allclose(Q(op.apply(Q(r))), Q(r), rtol=1e-8, atol=1e-12)


def benchmark_landscape_operator(n, seed):
    """The benchmark generator's landscape (1e4 contrast, roads, holes), grounded like bench_solver."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from landscape import make_landscape, operator_from_resistance, pick_focal_points

    res = make_landscape((n, n), seed=seed)
    pts = pick_focal_points(res, 2, seed)
    op, _, _ = operator_from_resistance(res, grounds=pts[1:2])
    b = np.zeros(res.shape)
    b[pts[0, 0], pts[0, 1]] = 1.0
    return op, b[None]


def test_balanced_preconditioner_is_symmetric_and_helps():
    op, b = benchmark_landscape_operator(300, seed=1)  # measured: 12 -> 7 iterations
    # a real hierarchy, not a direct solve; without tile solves, which take out much of what the pockets
    # do at this size (9 iterations with or without them)
    mg = GridMultigrid(op, dtype=np.float64, max_coarse=256, tile_levels=())
    P = PocketDeflation(op).balance(mg)
    rng = np.random.default_rng(2)
    u, v = np.where(op.active, rng.random((2, 1) + op.shape), 0)
    assert np.isclose((u * P(v)).sum(), (v * P(u)).sum(), rtol=1e-8)
    _, plain = pcg(op.apply, b, mg, rtol=1e-8)
    x, deflated = pcg(op.apply, b, P, rtol=1e-8)
    assert deflated.converged and deflated.iterations < plain.iterations
    from scipy.sparse.linalg import spsolve

    ref = spsolve(op.to_csr().tocsc(), b[0].ravel()).reshape(op.shape)
    np.testing.assert_allclose(x[0], ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())


def dense_balanced(op, Q, M, r):
    """(I - QA) M (I - AQ) r + Q r with full-grid operator applies: the formula, written out."""
    z = M(r - op.apply(Q(r)))
    return z - Q(op.apply(z)) + Q(r)


def test_sparse_balanced_preconditioner_equals_dense_formula():
    op = pocket_landscape(seed=3)
    Q = PocketDeflation(op)
    assert Q.count >= 30
    mg = GridMultigrid(op, dtype=np.float64, max_coarse=256)
    P = Q.balance(mg)
    rng = np.random.default_rng(4)
    r = np.where(op.active, rng.standard_normal((3,) + op.shape), 0)
    r0 = r.copy()
    got = P(r)
    assert np.array_equal(r, r0)  # restored bitwise, not by adding back
    want = dense_balanced(op, Q, mg, r0)
    assert got.shape == want.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10 * np.abs(want).max())
    # each right-hand side on its own: the batch does not mix them
    np.testing.assert_allclose(P(r[1:2])[0], want[1], rtol=0, atol=1e-10 * np.abs(want).max())
    # the pocket modes are solved exactly: P A Z = Z
    ind = np.zeros((1,) + op.shape)
    ind.reshape(-1)[Q._cells[Q._col == 0]] = 1.0  # the first pocket's indicator
    np.testing.assert_allclose(P(op.apply(ind)), ind, atol=1e-8)


def test_balanced_preconditioner_with_a_preconditioner_returning_its_input():
    """M = I hands back the array it was given (r itself, temporarily holding r - AQr)."""
    op = pocket_landscape(seed=5)
    Q = PocketDeflation(op)
    P = Q.balance(lambda v: v)
    r = np.where(op.active, np.random.default_rng(6).random((2,) + op.shape), 0)
    r.flags.writeable = False  # a read-only r is not written to
    got = P(r)
    want = dense_balanced(op, Q, lambda v: v, r)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10 * np.abs(want).max())
    assert not np.shares_memory(got, r)


def test_float32_edges_with_float64_diagonal():
    """Setup sums in float64: float32 edge weights give the same pockets and preconditioner."""
    from gpucircuit.operators import GridEdges

    op = pocket_landscape(seed=7)
    e = op.edges
    e32 = GridEdges(*(None if w is None else w.astype(np.float32) for w in (e.e, e.s, e.se, e.sw)))
    e64 = GridEdges(*(None if w is None else w.astype(np.float64) for w in (e32.e, e32.s, e32.se, e32.sw)))
    op32 = GridOperator(e32, op.diag.astype(np.float64), op.active)
    op64 = GridOperator(e64, op.diag.astype(np.float64), op.active)
    Q32, Q64 = PocketDeflation(op32), PocketDeflation(op64)
    assert Q32.count == Q64.count >= 30
    r = np.where(op.active, np.random.default_rng(8).random((1,) + op.shape), 0)
    M = lambda v: v / op32.diag  # noqa: E731
    want = dense_balanced(op64, Q64, M, r)
    np.testing.assert_allclose(Q32.balance(M)(r), want, rtol=0, atol=1e-10 * np.abs(want).max())


def peninsula_landscape(n=192, seed=0, count=24):
    """Islands of a conductive core in a resistive ring, walled off by nodata and hanging on the
    map by a one-cell resistive neck: the core and the ring fall into different strong clusters,
    the ring alone is not a pocket, but the whole island is a slow mode (as the 16 M-cell
    landscapes' peninsulas are, benchmarks/README.md)."""
    rng = np.random.default_rng(seed)
    g = 10 ** rng.uniform(-1, 0, (n, n))
    islands = []
    while len(islands) < count:
        i, j = rng.integers(4, n - 16, 2)
        if (g[i - 4:i + 14, j - 4:j + 14] <= 0.01).any():
            continue  # too close to an island placed before: each neck must reach the open map
        g[i - 2:i + 12, j - 2:j + 12] = 0.0  # nodata moat, two cells wide
        g[i:i + 10, j:j + 10] = 1e-4  # resistive ring, three cells thick
        g[i + 3:i + 7, j + 3:j + 7] = 1.0  # conductive core
        g[i + 10:i + 12, j + 5] = 1e-4  # the neck through the moat
        island = np.zeros((n, n), bool)
        island[i:i + 10, j:j + 10] = True
        island[i + 10, j + 5] = True  # the neck's inner cell joins the ring's cluster
        islands.append(island)
    active = g > 0
    active[0, 0] = False  # ground
    return GridOperator.build(edges_from_conductance(g), active), islands


def _parts(Q, shape):
    pid = np.full(shape[0] * shape[1], -1)
    if Q.count:
        pid[np.asarray(Q._cells)] = np.asarray(Q._col)
    return pid.reshape(shape)


def _in_span(pid, island):
    """The island's indicator is a sum of deflation columns: every cell deflated, and every part
    that touches the island lies inside it."""
    touching = np.unique(pid[island])
    return (touching >= 0).all() and all(island[pid == p].all() for p in touching)


def _grounded(g):
    """The operator of conductances ``g`` (0: nodata), grounded at the corner cell."""
    active = g > 0
    active[0, 0] = False
    return GridOperator.build(edges_from_conductance(g), active)


def _square(n, lo, hi):
    mask = np.zeros((n, n), bool)
    mask[lo:hi, lo:hi] = True
    return mask


def test_weakly_linked_regions_are_deflated_as_a_whole():
    op, islands = peninsula_landscape()
    # necks kept whole: the islands' necks join them to the ring's cluster, as the test assumes
    pockets_only = PocketDeflation(op, regions=dict(max_cells=0), split_necks=False, absorb_dead_ends=False)
    with_regions = PocketDeflation(op, split_necks=False, absorb_dead_ends=False)
    assert not any(_in_span(_parts(pockets_only, op.shape), isl) for isl in islands)
    assert all(_in_span(_parts(with_regions, op.shape), isl) for isl in islands)
    # E = Z^T A Z from the cluster graph agrees with A Z from the cells: Q A Q = Q
    r = np.random.default_rng(1).random((2,) + op.shape)
    np.testing.assert_allclose(with_regions(op.apply(with_regions(r))), with_regions(r), rtol=1e-8, atol=1e-12)
    # six levels, without tile solves: they take out what the regions do here (7 iterations either way)
    mg = GridMultigrid(op, dtype=np.float64, max_coarse=64, tile_levels=())
    assert len(mg.levels) >= 5
    b = np.zeros((1,) + op.shape)
    b[0, 100, 100] = 1.0
    _, before = pcg(op.apply, b, pockets_only.balance(mg), rtol=1e-8)
    x, after = pcg(op.apply, b, with_regions.balance(mg), rtol=1e-8)
    assert after.converged and after.iterations <= before.iterations - 2  # measured: 11 -> 8
    from scipy.sparse.linalg import spsolve

    ref = spsolve(op.to_csr().tocsc(), b[0].ravel()).reshape(op.shape)
    np.testing.assert_allclose(x[0], ref, rtol=1e-6, atol=1e-8 * np.abs(ref).max())


def test_weak_unions_keeps_nested_weak_regions():
    from gpucircuit.solver.weak_regions import weak_unions

    # clusters 0-1 strongly joined, hanging on 2-3 by 1e-6; 3 is grounded; 4 is alone and ungrounded
    a, b, W = np.array([0, 1, 2]), np.array([1, 2, 3]), np.array([1.0, 1e-6, 1.0])
    inner = np.full(5, 10.0)
    ground = np.array([0, 0, 0, 1.0, 0])
    label = weak_unions(a, b, W, 5, inner, ground, np.ones(5), np.ones(5, bool), max_cells=10)
    assert label[0] == label[1] >= 0  # {0, 1}: leak 1e-6 against 20
    assert label[2] == label[3] == -1  # {2, 3} and {0..3} leak through the ground
    assert label[4] >= 0 and label[4] != label[0]  # an isolated cluster with no ground at all
    small = weak_unions(a, b, W, 5, inner, ground, np.ones(5), np.ones(5, bool), max_cells=1)
    assert small[0] == small[1] == -1 and small[4] >= 0  # {0, 1} has two cells


def test_necks_are_the_cells_whose_neighbours_fall_apart_without_them():
    from gpucircuit.solver.weak_regions import necks

    def of(g, four=False):
        e = edges_from_conductance(g, four)
        return necks(list(e.directions()), g.shape)

    g = np.zeros((7, 9))
    g[1:3, 1:8] = 1.0
    g[4:6, 1:8] = 1.0
    g[3, 4] = 0.5  # the one cell joining two blocks
    assert np.argwhere(of(g)).tolist() == [[3, 4]]
    g[3, 5] = 0.5  # two cells wide: no neck
    assert not of(g).any()
    diagonal = np.zeros((6, 6))
    diagonal[:3, :3] = 1.0
    diagonal[3:, 3:] = 1.0  # blocks touching at one corner: (2, 2) and (3, 3) are the necks
    assert np.argwhere(of(diagonal)).tolist() == [[2, 2], [3, 3]]
    assert not of(np.ones((5, 5))).any()
    assert not of(g, four=True).any()  # 4 neighbours: not used


def test_a_peninsula_behind_a_one_cell_neck_is_deflated():
    """A mixed-class peninsula whose neck is as conductive as what it joins: strong-edge clusters run
    through the neck into the map, so only split necks let the peninsula be deflated on its own."""
    rng = np.random.default_rng(4)
    n = 64
    g = 10 ** rng.uniform(-1, 0, (n, n))
    g[20:34, 20:34] = 0.0  # a nodata moat around the peninsula
    g[22:32, 22:32] = rng.choice([1.0, 0.3, 3e-4], size=(10, 10))  # mixed classes
    g[32:34, 27] = 0.3  # the neck
    op = _grounded(g)
    island = _square(n, 22, 32)
    whole = PocketDeflation(op)
    split = PocketDeflation(op, split_necks=True)
    assert not _in_span(_parts(whole, op.shape), island)
    inside = _parts(split, op.shape)[island]
    assert (inside >= 0).all()


def _walled_area(n):
    """Conductances 0.1-1 with the area [31, 81)^2 walled in: three classes (2,304 cells) behind a
    resistive rim, a one-cell nodata moat and one resistive neck."""
    rng = np.random.default_rng(9)
    g = 10 ** rng.uniform(-1, 0, (n, n))
    g[30:82, 30:82] = 0.0  # a nodata moat
    g[31:81, 31:81] = 1e-4  # a resistive rim...
    g[32:80, 32:80] = rng.choice([1.0, 0.3, 3e-3], size=(48, 48))  # ...around three classes
    g[30, 55] = 1e-4  # the neck (edges average the conductances of their ends)
    return g


def test_a_large_weakly_linked_region_is_deflated_at_the_cost_of_its_boundary():
    """A walled-in area of mixed classes holding a sixth of the map (regions were once capped at
    1 % of it): deflated as a whole, with A Z stored on its boundary only, and no part holds more
    than a quarter of the map (the rest is the near-constant mode the coarsest grid resolves)."""
    from gpucircuit.solver.weak_regions import MAX_SHARE

    n = 120
    op = _grounded(_walled_area(n))
    island = _square(n, 31, 81)
    Q = PocketDeflation(op)
    pid = _parts(Q, op.shape)
    assert _in_span(pid, island)
    assert np.bincount(pid[pid >= 0]).max() <= MAX_SHARE * n * n
    # A Z on the island's rim (and whatever else is deflated), not on its 2,500 cells
    assert Q._az_val.size < 0.5 * island.sum()
    # with less memory than that, narrower regions (the island is not one of them) or pockets alone
    tight = PocketDeflation(op, max_bytes=Q.nbytes - 1)
    assert not _in_span(_parts(tight, op.shape), island) and tight.nbytes < Q.nbytes
    r = np.random.default_rng(10).random((2,) + op.shape)
    np.testing.assert_allclose(Q(op.apply(Q(r))), Q(r), rtol=1e-8, atol=1e-12)
    mg = GridMultigrid(op, dtype=np.float64, max_coarse=64, tile_levels=())
    rr = np.where(op.active, np.random.default_rng(11).standard_normal((1,) + op.shape), 0)
    want = dense_balanced(op, Q, mg, rr)
    np.testing.assert_allclose(Q.balance(mg)(rr), want, rtol=0, atol=1e-10 * np.abs(want).max())


def test_dead_ends_follow_the_region_they_hang_on():
    """Resistive tips reaching from a walled-in area's resistive rim into its moat: each is a cluster
    of its own tied only to the area, by a link weaker than any threshold that keeps the area apart
    from the map. It joins the area's part (``weak_regions.absorb``): the slowest modes at
    contrast 1e8 sit on areas whose dead ends were left out."""
    rng = np.random.default_rng(12)
    n = 64
    g = 10 ** rng.uniform(-1, 0, (n, n))
    g[10:40, 10:40] = 0.0  # moat
    g[12:38, 12:38] = 1e-4  # resistive rim
    g[13:37, 13:37] = rng.choice([1.0, 0.3], size=(24, 24))
    g[10:12, 25] = 1e-4  # the neck
    tips = [(11, 30), (24, 11), (38, 20)]
    for i, j in tips:  # a stub into the moat: a resistive tip beside the resistive rim
        g[i, j] = 1e-8
    op = _grounded(g)
    area = _square(n, 12, 38)
    for i, j in tips:
        area[i, j] = True
    area[11, 25] = True  # the neck's inner cell: more than half its links go to the rim, so it follows too
    without = _parts(PocketDeflation(op, absorb_dead_ends=False), op.shape)
    with_ = PocketDeflation(op)
    pid = _parts(with_, op.shape)
    assert not _in_span(without, area) and any(without[t] < 0 for t in tips)
    assert _in_span(pid, area) and all(pid[t] == pid[20, 20] >= 0 for t in tips)
    r = np.random.default_rng(13).random((1,) + op.shape)
    np.testing.assert_allclose(with_(op.apply(with_(r))), with_(r), rtol=1e-8, atol=1e-12)


def test_a_job_short_of_memory_deflates_smaller_regions(monkeypatch):
    """The grid solver hands the deflation what the memory plan leaves free: with room, the 2,500-cell
    area is one part; with a few kilobytes to spare, regions of 1 % of the map or pockets alone."""
    import gpucircuit.solver.grid_solver as gs
    from gpucircuit.grid import build_raster_graph
    from gpucircuit.memory import HEADROOM, need_bytes
    from gpucircuit.solver.options import SolveOptions

    n = 120
    graph = build_raster_graph(_walled_area(n), four_neighbors=False)
    active = graph.node.copy()
    active[0, 0] = False  # the ground
    area = _square(n, 31, 81)
    made = []
    monkeypatch.setattr(gs, "PocketDeflation", lambda op, **kw: made.append(PocketDeflation(op, **kw)) or made[-1])

    def deflated(free):
        monkeypatch.setattr(gs, "host_free_bytes", lambda: free)
        gs.GridMultigridSolver(graph, active, None, SolveOptions(method="mg", multigrid=MultigridOptions(max_coarse=256)))
        return made[-1]

    roomy = deflated(None)
    assert _in_span(_parts(roomy, (n, n)), area)
    tight = deflated(int((need_bytes(active.size, 1) + 4096) / HEADROOM))
    assert not _in_span(_parts(tight, (n, n)), area) and tight.nbytes < roomy.nbytes
