"""Circuitscape options the reference cases do not exercise, checked against independent computations."""
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

import gpucircuit as gc
from gpucircuit.io.config import parse_config
from gpucircuit.pipeline import run_config
import rasters
from reference import RefCircuit, pick_points, random_landscape

TRANSFORM = from_origin(1000.0, 2000.0, 10.0, 10.0)


def write_tif(path, data, nodata=-9999.0):
    return rasters.write_tif(path, data, TRANSFORM, "EPSG:32633", nodata)


@pytest.fixture
def job(tmp_path):
    res = random_landscape((20, 24), seed=7)
    pts = pick_points(res, 5, seed=8)
    praster = np.zeros(res.shape)
    for pid, cells in pts.items():
        praster[cells[0]] = pid
    habitat = write_tif(tmp_path / "res.tif", res)
    points = write_tif(tmp_path / "pts.tif", praster, nodata=0)

    def config(**extra):
        values = {"habitat_file": str(habitat), "point_file": str(points), "scenario": "pairwise",
                  "output_file": str(tmp_path / "out" / "job.out"), "write_as_tif": "True"}
        values.update({k: str(v) for k, v in extra.items()})
        return parse_config(values)

    return res, pts, config, tmp_path


def read(path):
    with rasterio.open(path) as ds:
        return ds.read(1, masked=True).filled(np.nan), ds.crs, ds.transform


def test_include_list_prunes_ids_and_solves_only_listed_pairs(job):
    res, pts, config, tmp = job
    ids = sorted(pts)
    (tmp / "inc.txt").write_text(f"mode include\n{ids[0]} {ids[2]}\n{ids[2]} {ids[3]}\n")
    rep = run_config(config(use_included_pairs=True, included_pairs_file=tmp / "inc.txt"))
    full = RefCircuit(res).pairwise(pts)[0]
    assert rep.ids == [ids[0], ids[2], ids[3]]
    R = rep.resistances
    pos = {i: k for k, i in enumerate(ids)}
    assert R[0, 1] == pytest.approx(full[pos[ids[0]], pos[ids[2]]], rel=1e-6)
    assert R[1, 2] == pytest.approx(full[pos[ids[2]], pos[ids[3]]], rel=1e-6)
    assert R[0, 2] == -1  # not listed: not solved


def test_exclude_list_keeps_ids_and_marks_excluded_pairs(job):
    res, pts, config, tmp = job
    ids = sorted(pts)
    (tmp / "exc.txt").write_text(f"mode exclude\n{ids[0]} {ids[1]}\n")
    rep = run_config(config(use_included_pairs=True, included_pairs_file=tmp / "exc.txt"))
    full = RefCircuit(res).pairwise(pts)[0]
    expect = full.copy()
    expect[0, 1] = expect[1, 0] = -1
    np.testing.assert_allclose(rep.resistances, expect, rtol=1e-6)


def test_matrix_format_selects_pairs_between_min_and_max(job):
    res, pts, config, tmp = job
    ids = sorted(pts)
    vals = np.zeros((len(ids), len(ids)))
    vals[0, 3] = vals[3, 0] = 5
    vals[1, 4] = vals[4, 1] = 2  # below min
    lines = ["min 3", "max 10", " ".join(["0"] + [str(i) for i in ids])]
    lines += [" ".join([str(i)] + [f"{v:g}" for v in row]) for i, row in zip(ids, vals)]
    (tmp / "mat.txt").write_text("\n".join(lines) + "\n")
    rep = run_config(config(use_included_pairs=True, included_pairs_file=tmp / "mat.txt"))
    full = RefCircuit(res).pairwise(pts)[0]
    assert rep.ids == [ids[0], ids[3]]
    assert rep.resistances[0, 1] == pytest.approx(full[0, 3], rel=1e-6)


@pytest.mark.parametrize("scenario", ["one-to-all", "all-to-one"])
def test_variable_source_strengths(job, scenario):
    res, pts, config, tmp = job
    ids = sorted(pts)
    strengths = {pid: 0.5 + k for k, pid in enumerate(ids)}
    (tmp / "s.txt").write_text("".join(f"{pid} {s}\n" for pid, s in strengths.items()))
    rep = run_config(config(scenario=scenario, use_variable_source_strengths=True,
                            variable_source_file=tmp / "s.txt", write_cur_maps=True))
    cum, crs, transform = read(tmp / "out" / "job_cum_curmap.tif")
    ref = RefCircuit(res)
    nodes = [ref.node_of.get(tuple(pts[i][0])) for i in ids]
    expect = np.zeros(res.shape)
    for i, ni in enumerate(nodes):
        others = [u for u in nodes if u is not None and u != ni and ref.comp[u] == ref.comp[ni]]
        if ni is None or not others:
            continue
        if scenario == "one-to-all":
            v = ref.solve({ni: strengths[ids[i]]}, sorted(set(others)))
            assert rep.resistances[i] == pytest.approx(v[ni] / strengths[ids[i]], rel=1e-6)
        else:
            inj = {}
            for j, u in enumerate(nodes):
                if u in others:
                    inj[u] = inj.get(u, 0) + strengths[ids[j]]
            v = ref.solve(inj, [ni])
        expect += ref.current_map(v)
    np.testing.assert_allclose(np.nan_to_num(cum), expect, rtol=1e-5, atol=1e-8 * expect.max())
    assert crs.to_epsg() == 32633 and transform == TRANSFORM


def test_mask_removes_cells_like_nodata(job):
    res, pts, config, tmp = job
    mask = np.ones(res.shape)
    mask[5:9, 3:15] = 0
    for cells in pts.values():
        mask[cells[0]] = 1
    write_tif(tmp / "mask.tif", mask)
    rep = run_config(config(use_mask=True, mask_file=tmp / "mask.tif"))
    masked = np.where(mask > 0, res, np.nan)
    np.testing.assert_allclose(rep.resistances, RefCircuit(masked).pairwise(pts)[0], rtol=1e-6)


def test_log_transform_and_null_currents(job):
    res, pts, config, tmp = job
    run_config(config(write_cur_maps=True, log_transform_maps=True, set_null_currents_to_nodata=True))
    logged, _, _ = read(tmp / "out" / "job_cum_curmap.tif")
    cum = RefCircuit(res).pairwise(pts)[1]
    valid = ~np.isnan(res) & (cum > 0)
    np.testing.assert_allclose(logged[valid], np.log10(cum[valid]), rtol=1e-5, atol=1e-6)
    assert np.isnan(logged[np.isnan(res)]).all()  # cells without habitat are nodata


@pytest.mark.parametrize("policy", ["keepall", "rmvsrc", "rmvgnd", "rmvall"])
def test_advanced_source_ground_conflicts(policy):
    res = np.ones((6, 8))
    src = np.zeros(res.shape)
    gnd = np.zeros(res.shape)
    src[1, 1] = 2.0
    src[4, 6] = 1.0
    gnd[4, 6] = 0.5  # conflict cell: source and finite ground
    gnd[0, 7] = 1.0
    from gpucircuit.pipeline import _resolve_conflicts
    from gpucircuit.grid import build_raster_graph

    graph = build_raster_graph(1 / res)
    s2, g2, d2 = _resolve_conflicts(graph, src, gnd, np.zeros(res.shape, bool), policy)
    keep_src = policy in ("keepall", "rmvgnd")
    keep_gnd = policy in ("keepall", "rmvsrc")
    assert (s2[4, 6] == 1.0) == keep_src and (g2[4, 6] == 0.5) == keep_gnd
    assert s2[1, 1] == 2.0 and g2[0, 7] == 1.0  # cells without a conflict are untouched
    out = gc.advanced(res, s2, g2)
    ref = RefCircuit(res)
    inj = {ref.node_of[tuple(p)]: s2[tuple(p)] for p in np.argwhere(s2 != 0)}
    gg = {ref.node_of[tuple(p)]: g2[tuple(p)] for p in np.argwhere(g2 > 0)}
    v = ref.solve(inj, [], ground_g=gg)
    np.testing.assert_allclose(out.voltages.ravel()[[ref.node_of[(1, 1)]]], v[[ref.node_of[(1, 1)]]], rtol=1e-8)


def test_direct_ground_on_positive_source_is_dropped():
    from gpucircuit.grid import build_raster_graph
    from gpucircuit.pipeline import _resolve_conflicts

    graph = build_raster_graph(np.ones((4, 4)))
    src = np.zeros((4, 4))
    src[1, 1] = 1.0
    direct = np.zeros((4, 4), bool)
    direct[1, 1] = direct[3, 3] = True
    _, _, d2 = _resolve_conflicts(graph, src, np.zeros((4, 4)), direct, "keepall")
    assert not d2[1, 1] and d2[3, 3]
