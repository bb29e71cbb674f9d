"""Omniscape.jl's own test cases: our maps against its reference outputs, and its bad INIs.

Upstream's rule: the whole arrays, nodata as -9999, agree norm-wise to a relative 1e-6
(``isapprox(A, B; rtol = 1e-6)``). We apply that rule, and more: the nodata pattern exactly,
the valid cells alone norm-wise to 2e-5 (1e-4 against the single-precision reference) and cell
by cell to 1e-3 (plus 1e-6 of the map's largest value). The references come from
CG + AMG solves stopped at a residual of 1e-6 (single precision for test1_32bit), so they are
only that good themselves: our direct solves differ from them by up to 3.4e-6 norm-wise over
the valid cells (test1; 4.0e-5 for test1_32bit) and 5.5e-4 in the worst cell (test1_32bit).
"""
import numpy as np
import pytest
from typer.testing import CliRunner

from gpucircuit._cli.main import app
from gpucircuit.io.omniscape_config import load_omniscape_config
from gpucircuit.io.raster import read_raster
from gpucircuit.omniscape_job import run_omniscape_config
from shared_data import DATA

OMNI = DATA / "omniscape"
INPUT = OMNI / "input"
VERIFY = OMNI / "output_verify"

CASES = [("config.ini", "test1"), ("config_32bit.ini", "test1_32bit"), ("config2.ini", "test2"),
         ("config3.ini", "test3"), ("config4a.ini", "test4a"), ("config_reclass.ini", "test_reclass")]


def assert_matches(ours: np.ndarray, ref_path, valid_rtol=2e-5, skip=None):
    ref, _ = read_raster(ref_path)
    if skip is not None:
        ours, ref = np.where(skip, 0.0, ours), np.where(skip, 0.0, ref)
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg=f"nodata differs from {ref_path}")
    whole_ours, whole_ref = np.nan_to_num(ours, nan=-9999.0), np.nan_to_num(ref, nan=-9999.0)
    assert np.linalg.norm(whole_ours - whole_ref) <= 1e-6 * np.linalg.norm(whole_ref)  # upstream's isapprox
    valid = ~np.isnan(ref)
    a, b = ours[valid], ref[valid]
    assert np.linalg.norm(a - b) <= valid_rtol * np.linalg.norm(b), (ref_path, np.linalg.norm(a - b) / np.linalg.norm(b))
    # atol: a dead-end cell carries 0 A exactly here, and CG noise (8e-8 A) in the reference
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-6 * np.abs(b).max(), err_msg=str(ref_path))


def four_neighbour_quirk_cells(cfg):
    """The right and lower neighbours of every target: in test4a (4 neighbours, conditional)
    upstream's reference differs there alone (flow potential up to ~1000x ours, current by up to
    0.4 %); every other cell matches. The reference's flow potential there exceeds what any
    Kirchhoff-consistent solve can give (see the test below), so it is an artefact of upstream's
    run rather than a rule we miss; it is left out of the comparison and pinned by
    :func:`test_four_neighbour_reference_quirk_is_local`."""
    from gpucircuit.omniscape_job import load_layers
    from gpucircuit.modes.omniscape import find_targets

    layers = load_layers(cfg)
    t = find_targets(layers.source, cfg.block_size)
    cells = np.zeros(layers.source.shape, bool)
    m, n = cells.shape
    cells[t.rows[t.cols + 1 < n], t.cols[t.cols + 1 < n] + 1] = True
    cells[t.rows[t.rows + 1 < m] + 1, t.cols[t.rows + 1 < m]] = True
    return cells


@pytest.mark.parametrize("ini,project", CASES, ids=[p for _, p in CASES])
def test_matches_omniscape_reference(ini, project, tmp_path):
    cfg = load_omniscape_config(INPUT / ini)
    report = run_omniscape_config(cfg, base=tmp_path)
    skip = four_neighbour_quirk_cells(cfg) if cfg.connect_four_neighbors_only else None
    assert report.project == tmp_path / project
    refs = sorted(p for p in (VERIFY / project).iterdir() if p.suffix in (".tif", ".asc"))
    assert refs
    for ref in refs:
        name = ref.stem
        written = report.project / ref.name
        if name == "classified_resistance":
            ours, _ = read_raster(written)
        elif written.exists():  # what we wrote equals what we computed, and both match the reference
            ours, _ = read_raster(written)
            np.testing.assert_allclose(ours, report.maps[name], rtol=1e-9, equal_nan=True)
        else:  # upstream's test checks the returned array even when the INI does not ask to write it
            ours = report.maps[name]
        assert_matches(ours, ref, 1e-4 if "32bit" in project else 2e-5, skip)
    assert (report.project / "config.ini").read_text() == (INPUT / ini).read_text()


def test_four_neighbour_reference_quirk_is_local(tmp_path):
    cfg = load_omniscape_config(INPUT / "config4a.ini")
    ours = run_omniscape_config(cfg, base=tmp_path).maps["flow_potential"]
    ref, _ = read_raster(VERIFY / "test4a" / "flow_potential.tif")
    quirk = four_neighbour_quirk_cells(cfg)
    far_off = np.abs(ref - ours) > 1e-3 * np.abs(ref)
    assert far_off[quirk].mean() > 0.75 and not far_off[~quirk & ~np.isnan(ref)].any()
    # A cell next to a target lies in about ((2d+1)/block)^2 windows; in each, its node current is at
    # most the window's injected current (the target's amps) times the artefact correction. The
    # reference exceeds even that sum of bounds, so no solve of these circuits can produce it.
    from gpucircuit.modes.omniscape import WindowRules, block_correction, find_targets
    from gpucircuit.omniscape_job import load_layers

    layers = load_layers(cfg)
    t = find_targets(layers.source, cfg.block_size)
    rules = WindowRules(cfg.radius, cfg.buffer, cfg.block_size, True, True, True)
    windows_per_cell = ((2 * rules.half + 1) / cfg.block_size + 1) ** 2
    bound = t.amps.max() * block_correction(rules).max() * windows_per_cell
    assert np.nanmax(ref[quirk]) > bound > np.nanmax(ours)


def test_outputs_named_and_formatted_as_asked(tmp_path):
    report = run_omniscape_config(load_omniscape_config(INPUT / "config.ini"), base=tmp_path)
    assert sorted(p.name for p in report.project.iterdir()) == [
        "config.ini", "cum_currmap.tif", "flow_potential.tif", "normalized_cum_currmap.tif"]
    report = run_omniscape_config(load_omniscape_config(INPUT / "config3.ini"), base=tmp_path)
    assert sorted(p.name for p in report.project.iterdir()) == ["config.ini", "cum_currmap.asc", "flow_potential.asc"]


def test_existing_project_folder_is_kept(tmp_path):
    cfg = load_omniscape_config(INPUT / "config2.ini")
    first = run_omniscape_config(cfg, base=tmp_path).project
    marker = first / "cum_currmap.asc"
    before = marker.read_bytes()
    second = run_omniscape_config(cfg, base=tmp_path).project
    third = run_omniscape_config(cfg, base=tmp_path).project
    assert (first.name, second.name, third.name) == ("test2", "test2_1", "test2_2")
    assert marker.read_bytes() == before
    np.testing.assert_array_equal(read_raster(second / "cum_currmap.asc")[0], read_raster(marker)[0])


def test_conditional_variants_run_and_differ(tmp_path):
    """compare_to_future = 1 and 2 with the same layers as 4a (future = present) give 4a's map."""
    ref = run_omniscape_config(load_omniscape_config(INPUT / "config4a.ini"), base=tmp_path).maps["cum_currmap"]
    for ini in ("config4b.ini", "config4c.ini"):
        maps = run_omniscape_config(load_omniscape_config(INPUT / ini), base=tmp_path).maps
        np.testing.assert_allclose(maps["cum_currmap"], ref, rtol=1e-12, equal_nan=True)
    plain = run_omniscape_config(load_omniscape_config(INPUT / "config2.ini"), base=tmp_path).maps["cum_currmap"]
    assert not np.allclose(np.nan_to_num(plain), np.nan_to_num(ref))  # the conditions do remove sources


def run_cli(*args):
    result = CliRunner().invoke(app, ["--backend", "cpu", *map(str, args)])
    return result.exit_code, result.output.strip()


@pytest.mark.parametrize("ini,needles", [
    ("bad_config.ini", ["radius", "project_name", "required"]),
    ("bad_compare_to_future.ini", ["compare_to_future", "'foo'"]),
    ("bad_comparison1.ini", ["comparison1", "'foo'", "within or equal"]),
    ("bad_comparison2.ini", ["comparison2", "'bar'"]),
    ("bad_n_conditions.ini", ["n_conditions", "'3'", "1 or 2"]),
    ("no_source_provided.ini", ["source_file", "source_from_resistance"]),
    ("config7.ini", ["resistance2.asc", "positive", "row"]),
])
def test_bad_ini_is_one_line(ini, needles, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out = run_cli("omniscape", INPUT / ini)
    assert code == 1, out
    lines = [ln for ln in out.splitlines() if not ln.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), out
    assert "Traceback" not in out
    for n in needles:
        assert n in lines[0], out
    assert not any(tmp_path.iterdir())  # no project folder left behind


def test_cli_runs_an_ini(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out = run_cli("omniscape", INPUT / "config2.ini")
    assert code == 0, out
    assert "test2" in out and (tmp_path / "test2" / "cum_currmap.asc").exists()
    assert_matches(read_raster(tmp_path / "test2" / "cum_currmap.asc")[0], VERIFY / "test2" / "cum_currmap.asc")


def test_cli_bad_tiles_option(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out = run_cli("omniscape", INPUT / "config2.ini", "--tiles", "4by4")
    assert code == 1 and out.startswith("error: --tiles"), out


def test_tiled_job_equals_untiled(tmp_path):
    cfg = load_omniscape_config(INPUT / "config.ini")
    whole = run_omniscape_config(cfg, base=tmp_path)
    seen = []
    tiled = run_omniscape_config(cfg, base=tmp_path, tiles=(2, 3), progress=lambda d, t: seen.append((d, t)))
    assert not tiled.maps and [p.name for p in tiled.outputs] == [p.name for p in whole.outputs]
    for ours, ref in zip(tiled.outputs[1:], whole.outputs[1:]):  # tiles stream their maps to the files
        np.testing.assert_allclose(read_raster(ours)[0], read_raster(ref)[0], rtol=1e-9, atol=1e-14, equal_nan=True)
    assert seen[-1][0] == seen[-1][1] > 0  # windows done of total, to the end


def test_cli_tiles(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out = run_cli("omniscape", INPUT / "config3.ini", "--tiles", "2x2", "--checkpoint", tmp_path / "ck")
    assert code == 0, out
    assert len(list((tmp_path / "ck").glob("tile_*.npz"))) == 4
    assert_matches(read_raster(tmp_path / "test3" / "cum_currmap.asc")[0], VERIFY / "test3" / "cum_currmap.asc")


def test_memory_plan():
    from gpucircuit.errors import InputError
    from gpucircuit.modes.omniscape import WindowRules
    from gpucircuit.omniscape_job import check_memory, plan_memory

    rules = WindowRules(50, 0, 5)
    whole = plan_memory((20000, 20000), rules, 0, None)
    tiled = plan_memory((20000, 20000), rules, 0, (8, 8))
    assert 400e6 * 8 * 6 < whole and tiled < whole  # at least the layers and maps; tiles pad one slab
    assert plan_memory((100, 100), rules, 2, None) > plan_memory((100, 100), rules, 0, None)
    check_memory(whole, None, None)  # unknown free memory: no verdict
    check_memory(whole, 2 * whole, None)
    with pytest.raises(InputError, match="use --tiles"):
        check_memory(whole, whole // 2, None)
