import itertools

import numpy as np
import pytest

from gpucircuit.analysis.classify import breaks, classify, jenks_breaks, sdcm
from gpucircuit.errors import InputError


def _ssd_of_partition(sorted_x, ends):
    """Within-class SSD for classes ending at positions ``ends`` (exclusive bounds)."""
    total, start = 0.0, 0
    for e in list(ends) + [sorted_x.size]:
        part = sorted_x[start:e]
        total += float(((part - part.mean()) ** 2).sum())
        start = e
    return total


def _exhaustive_jenks(x, k):
    """Best partition of sorted values (ties kept together) by trying every break combination."""
    xs = np.sort(x)
    # breaks may only fall between distinct values
    cuts = [i for i in range(1, xs.size) if xs[i] != xs[i - 1]]
    best, best_ends = np.inf, None
    for ends in itertools.combinations(cuts, k - 1):
        s = _ssd_of_partition(xs, ends)
        if s < best - 1e-12:
            best, best_ends = s, ends
    edges = [xs[0]] + [xs[e - 1] for e in best_ends] + [xs[-1]]
    return np.array(edges), best


@pytest.mark.parametrize("seed,n,k", [(0, 9, 3), (1, 12, 4), (2, 14, 5), (3, 10, 2), (4, 13, 5)])
def test_jenks_matches_exhaustive_search(seed, n, k):
    rng = np.random.default_rng(seed)
    x = rng.lognormal(size=n)
    want_edges, want_ssd = _exhaustive_jenks(x, k)
    got = breaks(x, k)
    assert got.shape == (k + 1,)
    assert sdcm(x, got) == pytest.approx(want_ssd, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(got, want_edges)


def test_jenks_with_repeated_values_matches_exhaustive():
    rng = np.random.default_rng(7)
    x = rng.integers(0, 9, size=16).astype(float)   # many ties: weights matter
    want_edges, want_ssd = _exhaustive_jenks(x, 4)
    got = breaks(x, 4)
    assert sdcm(x, got) == pytest.approx(want_ssd, rel=1e-9, abs=1e-12)


def test_jenks_clear_clusters_and_nan_ignored():
    x = np.array([1.0, 1.1, 0.9, np.nan, 10.0, 10.2, 9.8, 100.0, 101.0, -9999.0])
    e = breaks(x, 3, nodata=-9999.0)
    np.testing.assert_allclose(e, [0.9, 1.1, 10.2, 101.0])


def test_histogram_approximation_within_one_bin_of_exact():
    rng = np.random.default_rng(42)
    # a skewed, current-density-like mixture with 200,000 distinct values
    x = np.concatenate([rng.lognormal(0.0, 0.8, 150_000), rng.normal(12.0, 1.5, 50_000)])
    x = x[x > 0]
    exact = jenks_breaks(x, 5, max_exact=10**6)
    bins = 4096
    approx = jenks_breaks(x, 5, max_exact=1000, bins=bins)
    width = (x.max() - x.min()) / bins
    assert approx[0] == exact[0] and approx[-1] == exact[-1]
    assert np.all(np.abs(approx - exact) <= width)
    # quality of the partition is essentially optimal
    assert sdcm(x, approx) <= sdcm(x, exact) * (1 + 1e-4)
    # the reported breaks are data values
    assert np.all(np.isin(approx, x))


def test_fewer_distinct_values_than_classes():
    e = breaks([1.0, 2.0, 2.0, 3.0], k=5)
    assert e.shape == (6,)
    np.testing.assert_allclose(e, [1, 1, 2, 3, 3, 3])
    cls = classify(np.array([1.0, 2.0, 3.0]), e)
    assert cls.tolist() == [1, 2, 3]


def test_quantile_and_equal_interval():
    x = np.arange(101, dtype=float)
    np.testing.assert_allclose(breaks(x, 4, "quantile"), [0, 25, 50, 75, 100])
    np.testing.assert_allclose(breaks(x, 5, "equal_interval"), [0, 20, 40, 60, 80, 100])


def test_classify_raster_conventions():
    r = np.array([[0.0, 1.0, 1.5], [2.0, np.nan, 3.0], [-5.0, 99.0, -9999.0]])
    cls = classify(r, [0.0, 1.0, 2.0, 3.0], nodata=-9999.0)
    assert cls.dtype == np.uint8
    # upper edge is inclusive; min goes to class 1; below-min -> 1, above-max -> k; NaN/nodata -> 0
    assert cls.tolist() == [[1, 1, 2], [2, 0, 3], [1, 3, 0]]


def test_bad_inputs():
    with pytest.raises(InputError):
        breaks([1.0, 2.0], k=1)
    with pytest.raises(InputError):
        breaks([np.nan, np.nan])
    with pytest.raises(InputError):
        breaks([1.0, 2.0, 3.0], method="natural")
    with pytest.raises(InputError):
        classify(np.zeros(3), [2.0, 1.0])


def test_histogram_chunking_gives_same_breaks(monkeypatch):
    import gpucircuit.analysis.classify as mod

    x = np.random.default_rng(9).gamma(2.0, 3.0, 60_000)
    whole = jenks_breaks(x, 5, max_exact=100, bins=1024)
    monkeypatch.setattr(mod, "_CHUNK", 7_777)
    chunked = jenks_breaks(x, 5, max_exact=100, bins=1024)
    np.testing.assert_allclose(chunked, whole)
