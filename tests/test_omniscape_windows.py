"""The moving window against a brute-force Omniscape written from its rules here (explicit loops,
a dense solve per window), and the batched, shared-operator and tiled paths against each other."""
import numpy as np
import pytest

from gpucircuit.modes.omniscape import Condition, WindowRules, block_correction, find_targets, omniscape
from gpucircuit.modes.window_solves import solve_shared, solve_windows
from gpucircuit.modes.omniscape_tiles import omniscape_tiled
from reference import node_currents_of, random_landscape, raster_edge_list


def brute_window_current(g, src, cy, cx, four):
    """Node currents of one window: dense Laplacian over the centre's component, centre at 0 V."""
    h, w = g.shape
    edges = raster_edge_list(g, four)
    cur = np.zeros((h, w))
    if g[cy, cx] <= 0:
        return cur
    comp, todo = {(cy, cx)}, [(cy, cx)]
    nbrs = {}
    for p, q, _ in edges:
        nbrs.setdefault(p, []).append(q)
        nbrs.setdefault(q, []).append(p)
    while todo:
        for q in nbrs.get(todo.pop(), []):
            if q not in comp:
                comp.add(q)
                todo.append(q)
    unknown = sorted(comp - {(cy, cx)})
    idx = {p: k for k, p in enumerate(unknown)}
    A = np.zeros((len(unknown), len(unknown)))
    for p, q, wt in edges:
        for u, v in ((p, q), (q, p)):
            if u in idx:
                A[idx[u], idx[u]] += wt
                if v in idx:
                    A[idx[u], idx[v]] -= wt
    b = np.array([src[p] for p in unknown])
    volts = np.zeros((h, w))
    if unknown:
        x = np.linalg.solve(A, b)
        for p, k in idx.items():
            volts[p] = x[k]
    return node_currents_of([e for e in edges if e[0] in comp], volts)


def brute_omniscape(G, S, R, B, bs, four, conditions=(), flow_potential=False):
    m, n = G.shape
    d, br = R + B, (bs - 1) // 2
    cum, fp = np.zeros((m, n)), np.zeros((m, n))
    for y in range(br, m - br, bs):
        for x in range(br, n - br, bs):
            amps = S[y - br:y + br + 1, x - br:x + br + 1].sum()
            if amps <= 0:
                continue
            r0, r1, c0, c1 = max(y - d, 0), min(y + d, m - 1), max(x - d, 0), min(x + d, n - 1)
            cy, cx = y - r0, x - c0
            ii, jj = np.meshgrid(np.arange(r1 - r0 + 1), np.arange(c1 - c0 + 1), indexing="ij")
            dist = np.hypot(ii - cy, jj - cx)
            g = np.where(dist <= d, np.nan_to_num(G[r0:r1 + 1, c0:c1 + 1]), 0.0)
            s = np.where(dist <= R, S[r0:r1 + 1, c0:c1 + 1], 0.0)
            # Omniscape.jl zeroes the block at the nominal centre of the unclipped window
            s[d - br:min(d + br, m - 1) + 1, d - br:min(d + br, n - 1) + 1] = 0.0
            if s.sum() > 0:
                s = s * amps / s.sum()
            for c in conditions:
                block = c.future[y - br:y + br + 1, x - br:x + br + 1].T.ravel()
                block = block[~np.isnan(block)]
                present = c.present[r0:r1 + 1, c0:c1 + 1]
                if c.comparison == "within":
                    diff = present - np.median(block)
                    s[(diff > c.upper) | (diff < c.lower)] = 0.0
                else:
                    vals, counts = [], []
                    for v in block:  # first most frequent, in column-major order
                        if v in vals:
                            counts[vals.index(v)] += 1
                        else:
                            vals.append(v)
                            counts.append(1)
                    target = vals[int(np.argmax(counts))]
                    s[~np.isnan(present) & (present != target)] = 0.0
            cum[r0:r1 + 1, c0:c1 + 1] += brute_window_current(g, s, cy, cx, four)
            if flow_potential:
                fp[r0:r1 + 1, c0:c1 + 1] += brute_window_current(np.ones_like(g), s, cy, cx, four)
    return cum, fp


def conductance_and_sources(shape, seed, split):
    """A random conductance raster with nodata and sources on 60 % of its valid cells."""
    res = random_landscape(shape, seed=seed, contrast=100, nodata=0.12, split=split)
    rng = np.random.default_rng(seed + 1)
    src = np.where(rng.random(res.shape) < 0.6, rng.random(res.shape), 0.0)
    src[np.isnan(res)] = 0.0
    return 1.0 / res, src


@pytest.fixture(scope="module")
def landscape():
    return conductance_and_sources((17, 19), 5, split=False)


@pytest.mark.parametrize("bs,buffer,four", [(1, 0, False), (3, 1, False), (3, 2, True), (5, 0, False)])
def test_equals_brute_force(landscape, bs, buffer, four):
    g, src = landscape
    rules = WindowRules(3, buffer, bs, four, correct_artifacts=False, flow_potential=True)
    maps = omniscape(g, src, rules, method="direct", batch=7)
    cum, fp = brute_omniscape(g, src, 3, buffer, bs, four, flow_potential=True)
    assert cum.max() > 0 and fp.max() > 0
    np.testing.assert_allclose(maps.cum_currmap, cum, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(maps.flow_potential, fp, rtol=1e-9, atol=1e-12)
    assert maps.windows == len(find_targets(src, bs))


def test_conditions_equal_brute_force(landscape):
    g, src = landscape
    rng = np.random.default_rng(8)
    temp = rng.normal(size=g.shape)
    temp[0, 3] = np.nan
    classes = rng.integers(0, 3, size=g.shape).astype(float)
    future = classes.copy()
    future[rng.random(g.shape) < 0.3] = 2.0
    conds = [Condition(temp, temp + 0.3, "within", -0.8, 0.5), Condition(classes, future, "equal")]
    rules = WindowRules(3, 1, 3, False, correct_artifacts=False)
    ours = omniscape(g, src, rules, conds, method="direct").cum_currmap
    ref, _ = brute_omniscape(g, src, 3, 1, 3, False, conds)
    plain, _ = brute_omniscape(g, src, 3, 1, 3, False)
    assert not np.allclose(ref, plain)  # the conditions remove sources
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)


def test_batched_equals_one_window_at_a_time(landscape):
    g, src = landscape
    rules = WindowRules(4, 1, 3, False, correct_artifacts=True, flow_potential=True)
    one = omniscape(g, src, rules, method="direct", batch=1)
    many = omniscape(g, src, rules, method="direct", batch=500)
    np.testing.assert_allclose(many.cum_currmap, one.cum_currmap, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(many.flow_potential, one.flow_potential, rtol=1e-10, atol=1e-13)


def test_shared_operator_equals_stacked_windows(landscape):
    _, src = landscape
    rng = np.random.default_rng(3)
    size = 9
    sources = rng.random((5, size, size)) * (rng.random((5, size, size)) < 0.5)
    g = np.ones((size, size))
    g[:, :2] = 0.0  # a clipped window: only part of the square is in the raster
    shared = solve_shared(g, sources, False)
    stacked = solve_windows(np.broadcast_to(g, sources.shape).copy(), sources, False)
    np.testing.assert_allclose(shared, stacked, rtol=1e-10, atol=1e-13)


def test_multigrid_equals_direct(landscape):
    g, src = landscape
    rules = WindowRules(3, 0, 3, False, correct_artifacts=True)
    direct = omniscape(g, src, rules, method="direct").cum_currmap
    mg = omniscape(g, src, rules, method="mg").cum_currmap
    np.testing.assert_allclose(mg, direct, rtol=1e-4, atol=1e-8)


def test_correction_is_one_off_the_block_scale():
    """Block size 1 needs no correction: the blocked and per-cell solves are the same circuit."""
    corr = block_correction(WindowRules(4, 0, 3))
    assert corr.shape == (9, 9) and np.all(corr > 0)
    assert not np.allclose(corr, 1.0)
    np.testing.assert_allclose(corr, corr[::-1, :], rtol=1e-10)  # the disc is symmetric
    np.testing.assert_allclose(corr, corr.T, rtol=1e-10)


@pytest.mark.parametrize("tiles", [(2, 2), (3, 1), (4, 5)])
def test_tiled_equals_untiled(landscape, tiles, tmp_path):
    g, src = landscape
    rules = WindowRules(3, 1, 3, False, correct_artifacts=True, flow_potential=True)
    corr = block_correction(rules)
    whole = omniscape(g, src, rules, method="direct")
    done = []
    tiled = omniscape_tiled(g, src, rules, tiles=tiles, correction=corr, checkpoint=tmp_path / "ck",
                            progress=done.append)
    assert sum(done) == whole.windows == tiled.windows
    np.testing.assert_allclose(tiled.cum_currmap, whole.cum_currmap, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(tiled.flow_potential, whole.flow_potential, rtol=1e-12, atol=1e-14)
    saved = sorted(p.name for p in (tmp_path / "ck").glob("tile_*"))
    assert saved and all(p.startswith("tile_") for p in saved)
    # a resumed run reads the finished tiles instead of solving them again
    (tmp_path / "ck" / saved[0]).unlink()
    again = omniscape_tiled(g, src, rules, tiles=tiles, correction=corr, checkpoint=tmp_path / "ck")
    np.testing.assert_allclose(again.cum_currmap, whole.cum_currmap, rtol=1e-12, atol=1e-14)
    kept = tmp_path / "ck" / saved[-1]
    with np.load(kept) as z:
        np.savez(kept, cum=z["cum"] + 1.0, fp=z["fp"])
    marked = omniscape_tiled(g, src, rules, tiles=tiles, correction=corr, checkpoint=tmp_path / "ck")
    assert np.isclose((marked.cum_currmap - whole.cum_currmap).max(), 1.0)  # the saved tile was used


def test_checkpoint_of_another_run_is_refused(landscape, tmp_path):
    from gpucircuit.errors import InputError

    g, src = landscape
    rules = WindowRules(3, 0, 3, False, correct_artifacts=False)
    omniscape_tiled(g, src, rules, tiles=(2, 2), checkpoint=tmp_path)
    with pytest.raises(InputError, match="another run"):
        omniscape_tiled(g, src * 2, rules, tiles=(2, 2), checkpoint=tmp_path)


def test_tiles_on_dask_workers_equal_untiled(landscape):
    distributed = pytest.importorskip("distributed")
    g, src = landscape
    rules = WindowRules(3, 1, 3, False, correct_artifacts=True, flow_potential=True)
    corr = block_correction(rules)
    whole = omniscape(g, src, rules)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        spread = omniscape_tiled(g, src, rules, tiles=(2, 2), correction=corr, client=client)
    np.testing.assert_allclose(spread.cum_currmap, whole.cum_currmap, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(spread.flow_potential, whole.flow_potential, rtol=1e-12, atol=1e-14)


def test_raster_narrower_than_the_window_equals_brute_force():
    """Windows clipped on both sides of an axis (the raster is narrower than 2 (radius + buffer) + 1)."""
    rng = np.random.default_rng(12)
    res = np.exp(rng.random((6, 23)) * np.log(50))
    res[rng.random(res.shape) < 0.1] = np.nan
    g = 1.0 / res
    src = np.where(np.isnan(res), 0.0, rng.random(res.shape))
    rules = WindowRules(4, 1, 3, False, correct_artifacts=False, flow_potential=True)
    maps = omniscape(g, src, rules)
    cum, fp = brute_omniscape(g, src, 4, 1, 3, False, flow_potential=True)
    assert cum.max() > 0
    np.testing.assert_allclose(maps.cum_currmap, cum, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(maps.flow_potential, fp, rtol=1e-9, atol=1e-12)


@pytest.fixture(scope="module")
def wide_landscape():
    return conductance_and_sources((34, 37), 12, split=True)


def shares_subtrees(rules, monkeypatch):
    """Whether windows of these rules are grouped (small ones too, here) and their frames have
    subtrees to share."""
    import gpucircuit.modes.omniscape as om
    from gpucircuit.solver.nested_dissection import shared_nodes

    monkeypatch.setattr(om, "GROUP_MIN_SIZE", 1)  # in production only wider windows, where it pays
    span = om.GROUP_SPAN // rules.block_size * rules.block_size
    return span > 0 and shared_nodes(rules.size + span, rules.four_neighbors, rules.half, span).any()


@pytest.mark.parametrize("bs,four,conditional", [(1, False, False), (3, True, True)])
def test_windows_solved_in_groups_equal_windows_alone(wide_landscape, monkeypatch, bs, four, conditional):
    """Neighbouring targets solved on their group's frame, sharing the subtrees inside all their
    discs: the same maps as every window eliminated on its own (clipped windows at the edges,
    holes, several components, flow potential, block correction, a condition)."""
    import gpucircuit.modes.omniscape as om

    g, src = wide_landscape
    conds = ()
    if conditional:
        temp = np.random.default_rng(14).normal(size=g.shape)
        conds = [Condition(temp, temp + 0.2, "within", -0.7, 0.6)]
    rules = WindowRules(20, 0, bs, four, correct_artifacts=bs > 1, flow_potential=bs > 1)
    assert shares_subtrees(rules, monkeypatch)
    grouped = omniscape(g, src, rules, conds, method="direct", batch=40)
    monkeypatch.setattr(om, "GROUP_SPAN", 0)
    alone = omniscape(g, src, rules, conds, method="direct", batch=40)
    assert grouped.cum_currmap.max() > 0
    np.testing.assert_allclose(grouped.cum_currmap, alone.cum_currmap, rtol=1e-10, atol=1e-12)
    if rules.flow_potential:
        np.testing.assert_allclose(grouped.flow_potential, alone.flow_potential, rtol=1e-10, atol=1e-12)


def test_windows_solved_in_groups_equal_brute_force(monkeypatch):
    """Block 3 in 2 x 2 groups at radius 15 (frames that share subtrees) against the brute force."""
    res = random_landscape((22, 25), seed=15, contrast=100, nodata=0.12, split=True)
    rng = np.random.default_rng(16)
    src = np.where(rng.random(res.shape) < 0.6, rng.random(res.shape), 0.0)
    src[np.isnan(res)] = 0.0
    g = 1.0 / res
    rules = WindowRules(15, 0, 3, False, correct_artifacts=False)  # flow potential: not solved in groups
    assert shares_subtrees(rules, monkeypatch)
    maps = omniscape(g, src, rules, method="direct", batch=16)
    cum, _ = brute_omniscape(g, src, 15, 0, 3, False)
    assert cum.max() > 0
    np.testing.assert_allclose(maps.cum_currmap, cum, rtol=1e-9, atol=1e-12)
