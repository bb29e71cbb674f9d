import itertools

import numpy as np
import pytest
from affine import Affine

from gpucircuit.analysis.patches import (
    label_patches, landuse_summary, patch_table, patches_to_polygons)
from gpucircuit.errors import InputError


def _brute_max_length(ids, p, xres, yres):
    r, c = np.nonzero(ids == p)
    pts = np.column_stack((c * xres, r * yres)).astype(float)
    best = 0.0
    for a, b in itertools.combinations(range(len(pts)), 2):
        best = max(best, float(np.hypot(*(pts[a] - pts[b]))))
    return best


def _random_mask(seed, shape=(40, 50), p=0.35):
    return np.random.default_rng(seed).random(shape) < p


def test_label_is_eight_connected():
    m = np.array([[1, 0, 0, 1],
                  [0, 1, 0, 1],
                  [0, 0, 0, 0],
                  [1, 1, 0, 0]], dtype=bool)
    ids, n = label_patches(m)
    assert ids.dtype == np.int32 and n == 3
    assert ids[0, 0] == ids[1, 1] != 0          # diagonal contact joins
    assert ids[0, 3] == ids[1, 3] != ids[0, 0]
    assert ids[3, 0] == ids[3, 1]


def test_areas_and_counts_against_counted_cells():
    m = _random_mask(0)
    ids, n = label_patches(m)
    rows = patch_table(ids, (30.0, -30.0))
    assert len(rows) == n
    assert [r["patch"] for r in rows] == list(range(1, n + 1))
    for r in rows:
        cells = int((ids == r["patch"]).sum())
        assert r["cells"] == cells
        assert r["area_km2"] == pytest.approx(cells * 900 / 1e6)
    assert sum(r["cells"] for r in rows) == int(m.sum())


@pytest.mark.parametrize("seed", [1, 2])
def test_max_length_against_brute_force(seed):
    m = _random_mask(seed, (30, 30), 0.45)
    ids, n = label_patches(m)
    xres, yres = 30.0, 20.0                      # non-square cells exercise both spacings
    rows = patch_table(ids, (xres, yres))
    for r in rows:
        want = _brute_max_length(ids, r["patch"], xres, yres)
        assert r["max_length_km"] == pytest.approx(want / 1000.0, rel=1e-12, abs=1e-12)


def test_max_length_large_patch_uses_hull_and_special_shapes():
    ids = np.zeros((200, 200), dtype=np.int32)
    yy, xx = np.mgrid[:200, :200]
    ids[(yy - 100) ** 2 + (xx - 100) ** 2 <= 90 ** 2] = 1      # disc: hull path
    ids[5, 2:150] = 2                                             # horizontal line (collinear)
    ids[199, 199] = 3                                             # single cell
    rows = {r["patch"]: r for r in patch_table(ids, 10.0)}
    r, c = np.nonzero(ids == 1)
    # brute force on the disc's boundary cells only (diameter is attained there)
    edge = (ids == 1) & ~(np.roll(ids == 1, 1, 0) & np.roll(ids == 1, -1, 0)
                          & np.roll(ids == 1, 1, 1) & np.roll(ids == 1, -1, 1))
    er, ec = np.nonzero(edge)
    pts = np.column_stack((ec, er)) * 10.0
    d = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)).max()
    assert rows[1]["max_length_km"] == pytest.approx(d / 1000)
    assert rows[2]["max_length_km"] == pytest.approx(147 * 10 / 1000)
    assert rows[3]["max_length_km"] == 0.0


def test_values_and_landuse_shares_against_counts():
    rng = np.random.default_rng(3)
    m = _random_mask(3, (25, 25), 0.4)
    ids, n = label_patches(m)
    values = rng.random(m.shape)
    values[0, :] = np.nan
    landuse = rng.integers(1, 5, size=m.shape)
    names = {1: "forest", 2: "cropland", 3: "water"}               # 4 has no name
    rows = patch_table(ids, 30, values=values, landuse=landuse, landuse_names=names)
    present = np.unique(landuse[ids > 0])
    keys = [f"landuse_{names.get(int(c), str(int(c)))}_pct" for c in present]
    for r in rows:
        sel = ids == r["patch"]
        v = values[sel]
        v = v[np.isfinite(v)]
        if v.size:
            assert r["mean_value"] == pytest.approx(v.mean())
            assert r["max_value"] == pytest.approx(v.max())
        else:
            assert np.isnan(r["mean_value"]) and np.isnan(r["max_value"])
        total = 0.0
        for c, key in zip(present, keys):
            want = 100.0 * np.sum(landuse[sel] == c) / sel.sum()
            assert r[key] == pytest.approx(want)
            total += r[key]
        assert total == pytest.approx(100.0)


def test_landuse_summary():
    m = np.array([[1, 1, 0], [1, 0, 1]], dtype=bool)
    lu = np.array([[10, 20, 30], [10, 99, 30]])
    rows = landuse_summary(m, lu, {10: "forest"}, cell_size=100)
    assert [(r["code"], r["name"], r["cells"]) for r in rows] == [
        (10, "forest", 2), (20, "20", 1), (30, "30", 1)]
    assert [r["share_pct"] for r in rows] == pytest.approx([50.0, 25.0, 25.0])
    assert rows[0]["area_km2"] == pytest.approx(0.02)


def test_patches_to_polygons_areas_match():
    m = _random_mask(5, (20, 20), 0.4)
    ids, n = label_patches(m)
    polys = patches_to_polygons(ids, Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4000000.0))
    assert [pid for _, pid in polys] == list(range(1, n + 1))
    for geom, pid in polys:
        assert geom.area == pytest.approx((ids == pid).sum() * 900.0)


def test_bad_inputs():
    with pytest.raises(InputError):
        patch_table(np.zeros((3, 3)), 30)                 # float ids
    with pytest.raises(InputError):
        patch_table(np.zeros((3, 3), dtype=np.int32), 0)  # zero cell size
    with pytest.raises(InputError):
        patch_table(np.ones((3, 3), dtype=np.int32), 30, values=np.zeros((2, 2)))
    assert patch_table(np.zeros((3, 3), dtype=np.int32), 30) == []
