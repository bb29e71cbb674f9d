"""Include / exclude pairs in one-to-all and all-to-one, against a brute-force direct solve of
Circuitscape's rule: for focal point i only the points paired with i take part (grounded in
one-to-all, sources in all-to-one); the others are ordinary nodes; a point with no partner is
not solved (-1). With variable strengths an all-to-one point excluded for a solve still injects
1 A (Circuitscape's strength map defaults to 1 there)."""
import numpy as np
import pytest

import gpucircuit as gc
from gpucircuit.io.config import parse_config
from gpucircuit.pipeline import run_config
import rasters
from rasterio.transform import from_origin
from reference import RefCircuit, pick_points, random_landscape

TRANSFORM = from_origin(1000.0, 2000.0, 10.0, 10.0)


def brute_force(res, points, partners, scenario, strengths=None, polygons=None, excluded_unit=True):
    """(values, cumulative current) by one direct solve per point, each on its own graph when
    points are regions (only the regions taking part are merged)."""
    ids = sorted(points)
    k = len(ids)
    s = [1.0 if not strengths else strengths.get(p, 1.0) for p in ids]
    unit_extra = scenario == "all-to-one" and bool(strengths) and excluded_unit
    out = np.full(k, -1.0)
    cum = np.zeros(res.shape)
    for i in range(k):
        if not partners[i].any():
            continue
        taking_part = [j for j in range(k) if j == i or partners[i, j]]
        poly = np.zeros(res.shape, np.int64) if polygons is None else polygons.copy()
        base = int(poly.max()) + 1
        for j in taking_part:
            if len(points[ids[j]]) > 1:
                for rc in points[ids[j]]:
                    poly[tuple(rc)] = base + j
        ref = RefCircuit(res, polygons=poly if poly.any() else None)
        node = [ref.node_of.get(tuple(points[p][0])) for p in ids]
        ni = node[i]
        if ni is None:
            continue

        def near(j):
            return node[j] is not None and node[j] != ni and ref.comp[node[j]] == ref.comp[ni]

        if scenario == "one-to-all":
            grounds = sorted({node[j] for j in range(k) if partners[i, j] and near(j)})
            if not grounds:
                continue
            v = ref.solve({ni: s[i]}, grounds)
            out[i] = v[ni] / s[i]
        else:
            inj = {}
            for j in range(k):
                if j != i and near(j) and (partners[i, j] or unit_extra):
                    inj[node[j]] = inj.get(node[j], 0.0) + (s[j] if partners[i, j] else 1.0)
            if not inj:
                continue
            v = ref.solve(inj, [ni])
            out[i] = 0.0
        cum += ref.current_map(v)
    return out, cum


def partner_matrix(k, seed):
    rng = np.random.default_rng(seed)
    m = rng.random((k, k)) < 0.45
    m = m | m.T
    np.fill_diagonal(m, False)
    m[0, :] = m[:, 0] = False  # point 1 has no partner at all
    m[1, 2] = m[2, 1] = True
    return m


@pytest.fixture
def landscape():
    res = random_landscape((18, 22), seed=11)  # a nodata wall: two components
    pts = pick_points(res, 7, seed=12)
    pts[8] = [(3, 11)]  # on the nodata wall
    return res, pts


@pytest.mark.parametrize("scenario", ["one-to-all", "all-to-one"])
@pytest.mark.parametrize("variable", [False, True])
@pytest.mark.parametrize("solver", ["direct", "mg"])
def test_points_matches_brute_force(landscape, scenario, variable, solver):
    res, pts = landscape
    k = len(pts)
    partners = partner_matrix(k, seed=13)
    strengths = {p: 0.5 + 0.7 * n for n, p in enumerate(sorted(pts))} if variable else None
    fn = gc.one_to_all if scenario == "one-to-all" else gc.all_to_one
    out = fn(res, pts, include=partners, strengths=strengths, solver=solver)
    expect, cum = brute_force(res, pts, partners, scenario, strengths)
    assert (expect == -1).any() and (expect != -1).any()  # both kinds occur
    np.testing.assert_allclose(out.resistances, expect, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(out.cum_current, cum, rtol=1e-5, atol=1e-7 * cum.max())
    if variable and scenario == "all-to-one":  # the excluded points' unit sources matter here
        _, plain = brute_force(res, pts, partners, scenario, strengths, excluded_unit=False)
        assert np.abs(plain - cum).max() > 1e-3 * cum.max()


@pytest.mark.parametrize("scenario", ["one-to-all", "all-to-one"])
def test_full_include_matrix_changes_nothing(landscape, scenario):
    res, pts = landscape
    fn = gc.one_to_all if scenario == "one-to-all" else gc.all_to_one
    k = len(pts)
    a = fn(res, pts, solver="direct")
    b = fn(res, pts, include=np.ones((k, k), bool), solver="direct")
    np.testing.assert_allclose(a.resistances, b.resistances, rtol=1e-12)
    np.testing.assert_allclose(a.cum_current, b.cum_current, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("scenario", ["one-to-all", "all-to-one"])
def test_focal_regions_merge_only_while_taking_part(scenario):
    res = random_landscape((16, 18), seed=21, split=False, nodata=0.05)
    res[np.isnan(res)] = 3.0
    pts = {1: [(1, 1), (1, 2), (2, 1)], 2: [(8, 8), (8, 9), (9, 9), (9, 8)], 3: [(14, 2)],
           4: [(2, 15), (3, 15), (4, 15)], 5: [(13, 14), (14, 14)]}
    partners = np.zeros((5, 5), bool)
    for a, b in [(0, 1), (0, 2), (1, 3), (3, 4), (2, 4)]:
        partners[a, b] = partners[b, a] = True
    strengths = {1: 2.0, 2: 0.5, 3: 1.5, 4: 3.0, 5: 1.0}
    fn = gc.one_to_all if scenario == "one-to-all" else gc.all_to_one
    out = fn(res, pts, include=partners, strengths=strengths, solver="direct")
    expect, cum = brute_force(res, pts, partners, scenario, strengths)
    np.testing.assert_allclose(out.resistances, expect, rtol=1e-6)
    np.testing.assert_allclose(out.cum_current, cum, rtol=1e-5, atol=1e-7 * cum.max())
    if scenario == "one-to-all":
        # the same regions all merged at once give other answers: the rule is not a no-op here
        merged = fn(res, pts, strengths=strengths, solver="direct")
        assert not np.allclose(merged.resistances, out.resistances, rtol=1e-3)


@pytest.fixture
def job(tmp_path, landscape):
    res, pts = landscape
    praster = np.zeros(res.shape)
    for pid, cells in pts.items():
        praster[cells[0]] = pid
    habitat = rasters.write_tif(tmp_path / "res.tif", res, TRANSFORM, "EPSG:32633", -9999.0)
    points = rasters.write_tif(tmp_path / "pts.tif", praster, TRANSFORM, "EPSG:32633", 0)

    def run(**extra):
        values = {"habitat_file": str(habitat), "point_file": str(points), "use_included_pairs": "True",
                  "output_file": str(tmp_path / "out" / "job.out"), "write_as_tif": "True"}
        values.update({k: str(v) for k, v in extra.items()})
        return run_config(parse_config(values))

    return res, pts, run, tmp_path


def read_point_table(path):
    rows = np.loadtxt(path, ndmin=2)
    return {int(r[0]): r[1] for r in rows}


@pytest.mark.parametrize("scenario", ["one-to-all", "all-to-one"])
def test_ini_include_list(job, scenario):
    res, pts, run, tmp = job
    ids = sorted(pts)
    a, b, c, d = ids[1], ids[2], ids[3], ids[5]
    (tmp / "inc.txt").write_text(f"mode include\n{a} {b}\n{b} {c}\n{d} {d}\n")
    rep = run(scenario=scenario, included_pairs_file=tmp / "inc.txt")
    assert rep.ids == [a, b, c, d]  # ids the file does not name are dropped
    sub = {p: pts[p] for p in rep.ids}
    partners = np.zeros((4, 4), bool)
    partners[0, 1] = partners[1, 0] = partners[1, 2] = partners[2, 1] = True
    expect, _ = brute_force(res, sub, partners, scenario)
    np.testing.assert_allclose(rep.resistances, expect, rtol=1e-6)
    assert rep.resistances[3] == -1  # paired only with itself: not solved
    table = read_point_table(tmp / "out" / "job_resistances.out")
    assert sorted(table) == rep.ids


def test_ini_exclude_list_drops_unnamed_ids_in_one_to_all(job):
    res, pts, run, tmp = job
    ids = sorted(pts)
    (tmp / "exc.txt").write_text(f"mode exclude\n{ids[1]} {ids[2]}\n{ids[2]} {ids[4]}\n{ids[4]} {ids[6]}\n")
    rep = run(scenario="one-to-all", included_pairs_file=tmp / "exc.txt")
    kept = [ids[1], ids[2], ids[4], ids[6]]
    assert rep.ids == kept  # Circuitscape's one-to-all prunes to the ids the file names, in both modes
    partners = np.ones((4, 4), bool)
    for x, y in [(0, 1), (1, 2), (2, 3)]:
        partners[x, y] = partners[y, x] = False
    np.fill_diagonal(partners, False)
    expect, _ = brute_force(res, {p: pts[p] for p in kept}, partners, "one-to-all")
    np.testing.assert_allclose(rep.resistances, expect, rtol=1e-6)


def test_ini_matrix_format(job):
    res, pts, run, tmp = job
    ids = sorted(pts)
    vals = np.zeros((len(ids), len(ids)))
    vals[1, 3] = vals[3, 1] = 5
    vals[3, 5] = vals[5, 3] = 7
    vals[1, 5] = vals[5, 1] = 20  # above max
    lines = ["min 3", "max 10", " ".join(["0"] + [str(i) for i in ids])]
    lines += [" ".join([str(i)] + [f"{v:g}" for v in row]) for i, row in zip(ids, vals)]
    (tmp / "mat.txt").write_text("\n".join(lines) + "\n")
    rep = run(scenario="one-to-all", included_pairs_file=tmp / "mat.txt", write_cur_maps="True")
    kept = [ids[1], ids[3], ids[5]]
    assert rep.ids == kept
    partners = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], bool)
    expect, _ = brute_force(res, {p: pts[p] for p in kept}, partners, "one-to-all")
    np.testing.assert_allclose(rep.resistances, expect, rtol=1e-6)


def test_pairwise_point_on_nodata_keeps_its_row(job):
    """Circuitscape.jl keeps every focal id the include file names in the resistance table (its
    pairwise solver never removes points whose node is 0), so a point on nodata stays as -1."""
    res, pts, run, tmp = job
    ids = sorted(pts)
    assert np.isnan(res[pts[8][0]])
    (tmp / "inc.txt").write_text(f"mode include\n{ids[1]} 8\n{ids[1]} {ids[2]}\n")
    rep = run(scenario="pairwise", included_pairs_file=tmp / "inc.txt")
    assert rep.ids == sorted([ids[1], ids[2], 8])
    at = rep.ids.index(8)
    other = [x for x in range(3) if x != at]
    assert (rep.resistances[at, other] == -1).all() and (rep.resistances[other, at] == -1).all()
    full = RefCircuit(res).pairwise({p: pts[p] for p in (ids[1], ids[2])})[0]
    got = rep.resistances[rep.ids.index(ids[1]), rep.ids.index(ids[2])]
    assert got == pytest.approx(full[0, 1], rel=1e-6)
