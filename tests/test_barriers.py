"""Barrier Mapper: disc focal minimum and improvement scores against brute-force loops."""
import math

import numpy as np
import pytest

from gpucircuit.analysis import barriers as B
from gpucircuit.analysis.corridors import LinkageOptions, linkage_pathways
from gpucircuit.errors import InputError


def brute_disc_reduce(a, radius, dx, dy, reduce=min, empty=np.inf):
    """reduce(a[y]) over cells y whose centre lies within ``radius`` of x's centre, by explicit loops."""
    m, n = a.shape
    out = np.full(a.shape, empty, dtype=float)
    for i in range(m):
        for j in range(n):
            vals = [a[p, q] for p in range(m) for q in range(n)
                    if math.hypot((p - i) * dy, (q - j) * dx) <= radius * (1 + 1e-12)]
            out[i, j] = reduce(vals) if vals else empty
    return out


@pytest.mark.parametrize("cellsize", [1.0, (1.0, 1.5), (2.0, 1.0)])
@pytest.mark.parametrize("radius", [0.5, 1.0, 1.5, 2.3, 3.0, 4.7])
def test_focal_min_disc_brute_force(cellsize, radius):
    rng = np.random.default_rng(2)
    a = rng.random((9, 13))
    a[2, 3] = np.inf
    dx, dy = (cellsize, cellsize) if np.ndim(cellsize) == 0 else cellsize
    ref = brute_disc_reduce(a, radius, dx, dy)
    np.testing.assert_array_equal(B.focal_min_disc(a, radius, cellsize, np), ref)
    # batch axis and focal maximum
    stack = np.stack([a, -a])
    got = B.focal_min_disc(stack, radius, cellsize, np)
    np.testing.assert_array_equal(got[0], ref)
    np.testing.assert_array_equal(B.focal_max_disc(a, radius, cellsize, np), brute_disc_reduce(a, radius, dx, dy, max, -np.inf))


def test_disc_mask_is_circular():
    m = B.disc_mask(2.0, 1.0)
    assert m.shape == (5, 5) and m.sum() == 13 and not m[0, 0] and m[0, 2] and m[2, 0]
    assert B.disc_mask(400.0, 399.89).sum() == 5  # the demo's smallest radius: a plus sign


def small_landscape():
    rng = np.random.default_rng(4)
    r = rng.uniform(1, 5, (14, 18))
    r[6:8, 3:15] = 60.0  # a barrier ridge between north and south cores
    r[12, 0] = np.nan
    labels = np.zeros(r.shape, dtype=np.int64)
    labels[1:3, 2:5] = 1
    labels[11:13, 3:6] = 2
    labels[1:3, 13:16] = 3
    return r, labels


def brute_scores(cwds, links, radius, dx, dy, percent):
    mins = {c: brute_disc_reduce(cwds[c], radius, dx, dy) for c in cwds}
    shape = next(iter(cwds.values())).shape
    best = np.full(shape, np.nan)
    total = np.full(shape, np.nan)
    for i in range(shape[0]):
        for j in range(shape[1]):
            scores = []
            for lk in links:
                if not lk.active:
                    continue
                s = (lk.lcd - mins[lk.core_a][i, j] - mins[lk.core_b][i, j] - 2 * radius) / (2 * radius)
                if percent:
                    s = 100 * s / lk.lcd
                if np.isfinite(s):
                    scores.append(s)
            if scores:
                best[i, j] = max(scores)
                total[i, j] = sum(s for s in scores if s > 0)
    return best, total


@pytest.mark.parametrize("percent", [False, True])
def test_barrier_scores_brute_force(percent):
    r, labels = small_landscape()
    dx, dy = 10.0, 10.0
    res = linkage_pathways(r, labels, dx, LinkageOptions())
    assert len(res.active_links) >= 2
    radii = [10.0, 20.0, 30.0]
    out = B.barrier_analysis(res.cwd, res.links, radii, dx, valid=np.isfinite(r), percent=percent, want_sum=True)
    agg_max = np.full(r.shape, np.nan)
    agg_sum = np.full(r.shape, np.nan)
    circ = np.full(r.shape, np.nan)
    for rad in radii:
        best, total = brute_scores(res.cwd, res.links, rad, dx, dy, percent)
        best[~np.isfinite(r)] = np.nan
        total[~np.isfinite(r)] = np.nan
        np.testing.assert_allclose(out.max_by_radius[rad], best, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(out.sum_by_radius[rad], total, rtol=1e-12, atol=1e-12)
        agg_max = np.fmax(agg_max, best)
        agg_sum = np.fmax(agg_sum, total)
        spread = brute_disc_reduce(np.where(np.isnan(best), -np.inf, best), rad, dx, dy, max, -np.inf)
        circ = np.fmax(circ, np.where(np.isfinite(spread), spread, np.nan))
    circ[~np.isfinite(r)] = np.nan
    np.testing.assert_allclose(out.maximum, agg_max, rtol=1e-12)
    np.testing.assert_allclose(out.total, agg_sum, rtol=1e-12)
    np.testing.assert_allclose(out.circles_max, circ, rtol=1e-12)
    # the ridge between the cores is where restoration pays off most
    top = np.unravel_index(np.nanargmax(out.maximum), r.shape)
    assert 5 <= top[0] <= 8


def test_radii_and_errors():
    assert B.radii_list(400, 1200, 400) == [400.0, 800.0, 1200.0]
    assert B.radii_list(0.1, 0.3, 0.1) == pytest.approx([0.1, 0.2, 0.3])
    assert B.radii_list(5, 5, 0) == [5.0]
    with pytest.raises(InputError):
        B.radii_list(0, 10, 1)
    with pytest.raises(InputError):
        B.radii_list(10, 5, 1)
    with pytest.raises(InputError):
        B.radii_list(1, 5, 0)
    r, labels = small_landscape()
    res = linkage_pathways(r, labels, 1.0, LinkageOptions(max_cwd=1e-9))
    with pytest.raises(InputError, match="no active links"):
        B.barrier_analysis(res.cwd, res.links, [1.0])
