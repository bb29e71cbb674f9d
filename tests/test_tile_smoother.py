"""Exact tile solves on multigrid levels (``solver/tile_smoother.py``, ``MultigridOptions.tile_levels``).

Independent checks: a group's sweep against per-tile dense solves of the residual (NumPy's solver on
the level's sparse matrix); the cycle with tiles against its own transpose (PCG needs a symmetric
preconditioner); CG with tiles against a sparse LU, with fewer iterations than without them on a
six-level hierarchy.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from gpucircuit.operators import GridEdges, GridOperator
from gpucircuit.solver.cg import pcg
from gpucircuit.solver.coarsening import Stencil, galerkin, interpolation
from gpucircuit.solver.deflation import PocketDeflation
from gpucircuit.memory import HEADROOM
from gpucircuit.solver.multigrid import GridMultigrid, MultigridOptions
from gpucircuit.solver.redblack import grid_preconditioner
from gpucircuit.solver.tile_smoother import FINEST_SHARE, TileSmoother, tile_rule

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from landscape import make_landscape, operator_from_resistance, pick_focal_points  # noqa: E402

from devices import cupy_or_none  # noqa: E402
from reference import grid_direct  # noqa: E402


def _level(four: bool, coarse: bool, shape=(61, 53)):
    res = make_landscape(shape, seed=3, contrast=1e4)
    op, _, _ = operator_from_resistance(res, four_neighbors=four, grounds=np.array([[5, 5]]))
    st = Stencil.from_operator(op, dtype=np.float64)
    return galerkin(st, interpolation(st)) if coarse else st


def _matrix(st):
    return GridOperator(GridEdges(st.e, st.s, st.se, st.sw), st.diag, None).to_csr().toarray()


@pytest.mark.parametrize("four,coarse,size", [(False, False, 8), (False, True, 8), (True, False, 8),
                                              (False, False, 16), (True, True, 4)])
def test_each_group_solves_its_tiles_exactly(four, coarse, size):
    st = _level(four, coarse)
    tiles = TileSmoother(st, dtype=np.float64, tile=size, min_contrast=0, max_share=1)
    m, n = st.shape
    assert len(tiles.groups) == 8 and tiles.count >= (m // size) * (n // size)
    A = _matrix(st)
    rng = np.random.default_rng(0)
    b = rng.standard_normal((2, m, n))
    width, P, B = tiles.padded[1], tiles.pad, tiles.tile
    groups = tiles.groups
    for g in (0, 5):
        x = rng.standard_normal((2, m, n))
        expected = x.reshape(2, -1).copy()
        r = b.reshape(2, -1) - expected @ A.T
        for o in groups[g][0]:
            pr, pc = divmod(int(o), width)
            cells = np.array([(pr - P + a) * n + (pc - P + c) for a in range(B) for c in range(B)
                              if 0 <= pr - P + a < m and 0 <= pc - P + c < n])
            expected[:, cells] += np.linalg.solve(A[np.ix_(cells, cells)], r[:, cells].T).T
        tiles.groups = [groups[g]]
        tiles.sweep(x, b)
        tiles.groups = groups
        np.testing.assert_allclose(x.reshape(2, -1), expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())


def test_only_high_contrast_tiles_are_kept():
    st = _level(False, True)
    every = TileSmoother(st, min_contrast=0, max_share=1).count
    some = TileSmoother(st, min_contrast=1e3).count
    assert 0 < some < every
    assert TileSmoother(st, min_contrast=np.inf).count == 0


def test_at_most_a_share_of_the_tiles_is_kept_those_of_highest_contrast():
    """The memory the tiles keep is bounded whatever the landscape: past ``max_share`` of the tiles,
    only the highest-contrast ones stay."""
    st = _level(False, True)
    m, n = st.shape
    every = TileSmoother(st, min_contrast=0, max_share=1)
    capped = TileSmoother(st, min_contrast=0, max_share=0.1)
    most = int(0.1 * (-(-m // 8) * -(-n // 8) + -(-(m + 4) // 8) * -(-(n + 4) // 8)))  # both tilings
    assert 0 < capped.count <= most < every.count
    width, P = every.padded[1], every.pad

    def contrasts(tiles):  # largest over smallest diagonal of each kept tile's cells
        out = []
        for origin, *_ in tiles.groups:
            for o in origin:
                r, c = divmod(int(o), width)
                d = st.diag[max(r - P, 0):r - P + 8, max(c - P, 0):c - P + 8]
                out.append(d.max() / d.min())
        return np.sort(out)

    assert contrasts(capped).min() >= np.sort(contrasts(every))[-most]


def test_tiles_holding_a_nearly_floating_piece_are_left_out(monkeypatch):
    """Two cells tied to each other but to the rest by 1e-9 links make their tile nearly singular:
    its exact solve would put a near-constant value there that a float32 residual cannot see (CG did
    not converge at 1 M cells, 1-1e8), so such tiles are dropped; a well-posed high-contrast tile is kept."""
    import gpucircuit.solver.tile_smoother as ts

    m = n = 16
    diag = np.zeros((m, n))
    e, s = np.ones((m, n)), np.ones((m, n))
    e[:, -1] = 0
    s[-1, :] = 0
    e[2, 1] = e[2, 3] = s[1, 2] = s[2, 2] = s[1, 3] = s[2, 3] = 1e-9  # cells (2, 2)-(2, 3): a floating pair
    e[10, 10] = e[10, 9] = s[10, 10] = s[9, 10] = 1e4  # cell (10, 10): high contrast, well linked
    full = {"e": e, "s": s}
    for a, (di, dj) in (("e", (0, 1)), ("s", (1, 0))):
        w = full[a]
        diag += w
        diag[max(di, 0):, max(dj, 0):] += w[:m - di, :n - dj]
    diag[0, 0] += 1.0  # one ground keeps the whole grid non-singular
    st = Stencil(diag, e, s, np.zeros((m, n)), np.zeros((m, n)))
    kept = TileSmoother(st, dtype=np.float64, min_contrast=0, max_share=1)
    monkeypatch.setattr(ts, "MIN_PIVOT", 0.0)
    every = TileSmoother(st, dtype=np.float64, min_contrast=0, max_share=1)
    # 2 tilings: 4 + 9 tiles; the floating pair lies inside one tile of each
    assert every.count == 13 and kept.count == 11


def _landscape(side=384, seed=0, four=False):
    res = make_landscape((side, side), seed=seed, contrast=1e4)
    pts = pick_focal_points(res, 2, seed)
    op, _, _ = operator_from_resistance(res, four_neighbors=four, grounds=pts[1:2])
    b = np.zeros(res.shape)
    b[pts[0, 0], pts[0, 1]] = 1.0
    return op, b


def test_cycle_with_tiles_is_symmetric():
    op, _ = _landscape(160, 1)
    M = GridMultigrid(op, max_coarse=64, tile_levels=(1, 2), tile_contrast=0, dtype=np.float64)
    assert M.levels[1].tiles is not None and M.levels[2].tiles is not None
    rng = np.random.default_rng(1)
    u, v = (rng.standard_normal(op.shape) * op.active for _ in range(2))
    a, b = float((u * M(v)).sum()), float((v * M(u)).sum())
    assert abs(a - b) <= 1e-10 * abs(a)
    assert float((u * M(u)).sum()) > 0


def test_each_tile_level_gets_its_own_size():
    op, _ = _landscape(160, 1)
    M = GridMultigrid(op, max_coarse=64, tile_levels=(1, 3), tile_sizes=(8, 16), tile_contrast=0)
    assert (M.levels[1].tiles.tile, M.levels[3].tiles.tile) == (8, 16)
    assert M.levels[2].tiles is None
    for bad in (dict(tile_sizes=(8,)), dict(tile_sizes=(8, 7))):
        with pytest.raises(ValueError, match="tile"):
            GridMultigrid(op, max_coarse=64, tile_levels=(1, 3), **bad)


def test_tiles_cut_iterations_and_keep_the_solution():
    """Six levels; measured 16 CG iterations without tiles, 12 with them on levels 1-2."""
    op, b = _landscape()
    ref = grid_direct(op, b)
    pockets = PocketDeflation(op)
    counts = []
    for levels in ((), (1, 2)):
        M = GridMultigrid(op, max_coarse=256, tile_levels=levels)
        assert len(M.levels) >= 5
        x, info = pcg(op.apply, b[None], pockets.balance(M), rtol=1e-6, maxiter=200)
        assert info.converged
        np.testing.assert_allclose(x[0], ref, rtol=0, atol=1e-4 * np.abs(ref).max())
        counts.append(info.iterations)
    assert counts[1] <= counts[0] - 3, counts


def test_a_schur_complement_is_tiled_on_its_finest_level_too_at_lower_contrast():
    """4 neighbours: the red-black Schur complement's finest level gets 4 x 4 tiles of contrast
    ``SCHUR_CONTRAST`` (at most ``FINEST_SHARE`` of them); an 8-neighbour grid's finest level gets none."""
    four, _ = _landscape(160, 1, four=True)
    eight, _ = _landscape(160, 1)
    S = grid_preconditioner(four, MultigridOptions(max_coarse=64)).multigrid
    assert S.levels[0].tiles is not None and S.levels[1].tiles is not None
    m, n = S.levels[0].shape
    B = S.levels[0].tiles.tile
    both = -(-m // B) * -(-n // B) + -(-(m + B // 2) // B) * -(-(n + B // 2) // B)
    assert B == 4 and S.levels[0].tiles.count <= FINEST_SHARE * both
    M = GridMultigrid(eight, max_coarse=64)
    assert M.levels[0].tiles is None and M.levels[1].tiles is not None
    # the lower contrast is what brings most of the finest level's tiles in (measured 1148 against 175 at 1e3)
    strict = grid_preconditioner(four, MultigridOptions(max_coarse=64, tile_contrast=tile_rule(1)[0])).multigrid
    assert S.levels[0].tiles.count > 3 * strict.levels[0].tiles.count


def test_four_neighbours_need_the_schur_complements_finest_tiles():
    """Seven levels; measured 17 CG iterations without tiles, 17 with those of contrast 1e3 on levels 1-4
    only, 11 with the default (4 x 4 tiles on the finest level too, contrast 30 on all)."""
    op, b = _landscape(300, 0, four=True)
    ref = grid_direct(op, b)
    pockets = PocketDeflation(op)
    counts = []
    for extra in (dict(tile_levels=()), dict(tile_levels=(1, 2, 3, 4), tile_contrast=1e3), {}):
        M = grid_preconditioner(op, MultigridOptions(max_coarse=256, **extra))
        assert len(M.levels) >= 7
        x, info = pcg(op.apply, b[None], pockets.balance(M), rtol=1e-6, maxiter=200)
        assert info.converged
        np.testing.assert_allclose(x[0], ref, rtol=0, atol=1e-4 * np.abs(ref).max())
        counts.append(info.iterations)
    assert counts[2] <= min(counts[:2]) - 5, counts


@pytest.mark.gpu
@pytest.mark.skipif(cupy_or_none() is None, reason="needs CuPy and a CUDA device")
def test_the_same_tiles_on_cupy_match_numpy():
    """One algorithm on the array namespace: CuPy's batched Cholesky, inverses and products give NumPy's sweep."""
    cp = cupy_or_none()
    st = _level(False, True)
    dev = Stencil(*(cp.asarray(a) for a in (st.diag, st.e, st.s, st.se, st.sw, st.active)))
    host, gpu = TileSmoother(st, dtype=np.float64, min_contrast=0), TileSmoother(dev, dtype=np.float64, min_contrast=0)
    assert host.count == gpu.count
    rng = np.random.default_rng(2)
    b, x = rng.standard_normal((2, 1) + st.shape)
    xd = cp.asarray(x)
    host.sweep(x, b)
    gpu.sweep(xd, cp.asarray(b))
    np.testing.assert_allclose(cp.asnumpy(xd), x, rtol=1e-9, atol=1e-9 * np.abs(x).max())


def test_a_job_short_of_memory_for_the_tiles_runs_without_them(monkeypatch):
    """Tiles are built only where the memory holds them beside the solve; an explicit choice stands."""
    import gpucircuit.solver.grid_solver as gs
    from gpucircuit.grid import build_raster_graph
    from gpucircuit.memory import need_bytes
    from gpucircuit.solver.options import SolveOptions

    res = make_landscape((200, 200), seed=1, contrast=1e4)
    graph = build_raster_graph(np.where(np.isfinite(res), 1 / res, 0), four_neighbors=False)
    active = graph.components == np.bincount(graph.components[graph.node]).argmax()
    active[np.argwhere(active)[0][0], np.argwhere(active)[0][1]] = False  # one ground cell
    cells = active.size

    def tiled(free, **mg):
        monkeypatch.setattr(gs, "host_free_bytes", lambda: free)
        options = SolveOptions(method="mg", multigrid=MultigridOptions(max_coarse=256, **mg))
        levels = gs.GridMultigridSolver(graph, active, None, options).multigrid.levels
        return any(lvl.tiles is not None for lvl in levels)

    between = (need_bytes(cells, 1) + need_bytes(cells, 1, tiles=True)) // 2
    assert tiled(None) and tiled(10 * need_bytes(cells, 1, tiles=True))
    assert not tiled(int(between / HEADROOM))
    assert tiled(int(between / HEADROOM), tile_levels=(1, 2))


def test_the_compiled_group_solve_matches_the_array_code():
    """On the host a large job's tile levels solve their groups in one compiled loop (numba): the same
    sweep as the array code (in float64 here, where both are exact to rounding)."""
    pytest.importorskip("numba")
    for four, size in ((False, 8), (True, 16)):
        st = _level(four, True)
        tiles = TileSmoother(st, dtype=np.float64, tile=size, min_contrast=0, max_share=1)
        rng = np.random.default_rng(5)
        x0 = rng.standard_normal((2,) + st.shape)
        b = rng.standard_normal((2,) + st.shape)
        out = []
        for compiled in (False, True):
            tiles.compiled = compiled
            x = x0.copy()
            tiles.sweep(x, b, forward=True)
            tiles.sweep(x, b, forward=False)
            out.append(x - x0)
        np.testing.assert_allclose(out[1], out[0], rtol=0, atol=1e-9 * np.abs(out[0]).max())
