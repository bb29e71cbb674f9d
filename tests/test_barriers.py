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


def test_published_scores_rule():
    a = np.array([-2.5, -1e-12, 0.0, 1e-12, 3.0, np.nan, -np.inf])
    got = B.published_scores(a)
    # Barrier Mapper's SetNull(VALUE < 0): below 0 is nodata, 0 itself is kept
    np.testing.assert_array_equal(got, [np.nan, np.nan, 0.0, 1e-12, 3.0, np.nan, np.nan])


def read_tif(path):
    import rasterio

    with rasterio.open(path) as ds:
        return ds.read(1, masked=True).astype(float).filled(np.nan)


@pytest.mark.parametrize("raw", [False, True])
def test_written_maps_follow_barrier_mapper(tmp_path, raw):
    """The GeoTIFFs against Barrier Mapper's own order of steps, by brute force: per radius the
    centre scores with SetNull(VALUE < 0), circles = focal maximum of those nulled centres, then
    the maximum over radii of the nulled maps (nodata ignored)."""
    from affine import Affine

    from gpucircuit.io.raster import GridSpec
    from gpucircuit.linkage.files import write_barrier_outputs

    r, labels = small_landscape()
    dx = dy = 10.0
    res = linkage_pathways(r, labels, dx, LinkageOptions())
    radii = [10.0, 20.0]
    out = B.barrier_analysis(res.cwd, res.links, radii, dx, valid=np.isfinite(r))
    spec = GridSpec(r.shape, Affine(dx, 0, 0, 0, -dy, 0), None)
    files = write_barrier_outputs(tmp_path, out, spec, want_sum=False, raw=raw)
    centres = circles = np.full(r.shape, np.nan)
    negative_seen = False
    for rad in radii:
        best, _ = brute_scores(res.cwd, res.links, rad, dx, dy, False)
        best[~np.isfinite(r)] = np.nan
        negative_seen |= bool(np.nanmin(best) < 0)
        nulled = np.where(best >= 0, best, np.nan)
        np.testing.assert_allclose(read_tif(tmp_path / f"barriers_max_r{int(rad)}.tif"), nulled, rtol=1e-12)
        spread = brute_disc_reduce(np.where(np.isnan(nulled), -np.inf, nulled), rad, dx, dy, max, -np.inf)
        circles = np.fmax(circles, np.where(np.isfinite(spread), spread, np.nan))
        centres = np.fmax(centres, nulled)
    assert negative_seen  # the rule has something to blank
    circles[~np.isfinite(r)] = np.nan
    np.testing.assert_allclose(read_tif(tmp_path / "barriers_max.tif"), centres, rtol=1e-12)
    np.testing.assert_allclose(read_tif(tmp_path / "barriers_max_circles.tif"), circles, rtol=1e-12)
    raws = sorted(p.name for p in files if p.name.endswith("_raw.tif"))
    if raw:  # the raw twins hold the scores as computed, negatives included
        assert raws == ["barriers_max_circles_raw.tif", "barriers_max_r10_raw.tif", "barriers_max_r20_raw.tif",
                        "barriers_max_raw.tif"]
        np.testing.assert_allclose(read_tif(tmp_path / "barriers_max_raw.tif"), out.maximum, rtol=1e-12)
        assert np.nanmin(read_tif(tmp_path / "barriers_max_raw.tif")) < 0
    else:
        assert raws == [] and not list(tmp_path.glob("*_raw.tif"))
