"""The CLI people follow: progress lines, --quiet, shared options anywhere, --help, --stats, print_timings."""
import json
import re

import numpy as np
import pytest
import typer
from rasterio.transform import from_origin
from typer.testing import CliRunner

from gpucircuit._cli import display
from gpucircuit._cli.main import app
import rasters
from reference import pick_points, random_landscape

TRANSFORM = from_origin(500000.0, 4100000.0, 30.0, 30.0)
K = 4  # focal points


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("progress")
    res = random_landscape((30, 36), seed=5, split=False, nodata=0.05)
    pts = pick_points(res, K, seed=6)
    praster = np.zeros(res.shape)
    for pid, cells in pts.items():
        praster[cells[0]] = pid
    tif = rasters.write_tif(tmp / "res.tif", res, TRANSFORM, "EPSG:32610")
    ptif = rasters.write_tif(tmp / "pts.tif", praster, TRANSFORM, "EPSG:32610", nodata=0)
    return res, tif, ptif, tmp


@pytest.fixture(autouse=True)
def show_lines_at_once(monkeypatch):
    """These jobs take well under the second plain lines are held back for."""
    monkeypatch.setattr(display, "HOLD_S", 0.0)


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def stage_lines(text):
    """(name, done, total) of the plain progress lines '[  1.2 s] name done/total ...'."""
    out = []
    for line in text.splitlines():
        m = re.match(r"\[\s*[\d.]+ s\] ([a-z: -]+?)(?: (\d+)/(\d+))?(?: \(ETA .*\))?$", line)
        assert m, f"not a progress line: {line!r}"
        out.append((m[1], None if m[2] is None else int(m[2]), None if m[3] is None else int(m[3])))
    return out


def test_stage_lines_with_counts_and_quiet(inputs, tmp_path):
    res, tif, ptif, _ = inputs
    r = invoke("pairwise", tif, ptif, "-o", tmp_path / "a", "--backend", "cpu", "--stats", tmp_path / "s.json")
    assert r.exit_code == 0, r.output
    lines = stage_lines(r.stderr)  # not a terminal: plain lines on stderr, none on stdout
    names = [n for n, _, _ in lines]
    assert names[:3] == ["load", "graph", "setup"] and names[-1] == "write"
    solves = json.loads((tmp_path / "s.json").read_text())["solves"]
    assert ("solve", 0, solves) in lines and ("solve", solves, solves) in lines
    pairs = K * (K - 1) // 2
    assert ("maps", 0, pairs) in lines and ("maps", pairs, pairs) in lines
    assert r.stdout.startswith("pairwise: wrote")

    q = invoke("pairwise", tif, ptif, "-o", tmp_path / "b", "--backend", "cpu", "--quiet")
    assert q.exit_code == 0 and q.stderr == "" and q.stdout == ""
    np.testing.assert_array_equal(  # quiet changes what is shown, not what is written
        (tmp_path / "b" / "pairwise_resistances.csv").read_text(),
        (tmp_path / "a" / "pairwise_resistances.csv").read_text())


def test_quiet_keeps_errors(inputs, tmp_path):
    _, tif, _, tmp = inputs
    r = invoke("-q", "pairwise", tif, tmp / "missing.txt", "-o", tmp_path)
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error:") and "missing.txt" in r.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_backend_before_or_after_the_command(inputs, tmp_path, where):
    _, tif, ptif, _ = inputs
    cmd = ["pairwise", tif, ptif, "-o", tmp_path, "--stats", tmp_path / "s.json"]
    # an invalid choice is refused wherever it stands: the option is read, not ignored
    bad = ["--backend", "quantum"]
    r = invoke(*(bad + cmd if where == "before" else cmd + bad))
    assert r.exit_code == 1 and "unknown backend 'quantum'" in r.stderr, r.output
    good = ["--backend", "cpu"]
    r = invoke(*(good + cmd if where == "before" else cmd + good))
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "s.json").read_text())["backend"] == "cpu"


def test_backend_after_the_command_wins(inputs, tmp_path):
    _, tif, ptif, _ = inputs
    r = invoke("--backend", "cpu", "pairwise", tif, ptif, "-o", tmp_path, "--backend", "quantum")
    assert r.exit_code == 1 and "unknown backend 'quantum'" in r.stderr


def commands():
    group = typer.main.get_command(app)
    ctx = typer.Context(group)
    return [(name, group.get_command(ctx, name)) for name in group.list_commands(ctx)]


def test_every_boolean_shows_its_default_and_its_opposite():
    checked = 0
    for name, cmd in commands() + [("gpucircuit", typer.main.get_command(app))]:
        for p in cmd.params:
            if p.param_type_name == "option" and p.is_flag and p.name != "help":
                assert p.secondary_opts, f"{name} {p.opts}: no off form"
                assert p.show_default, f"{name} {p.opts}: default not shown"
                checked += 1
    assert checked > 20


def test_shared_options_on_every_command():
    for name, cmd in commands():
        opts = {o for p in cmd.params for o in p.opts}
        assert {"--backend", "--quiet"} <= opts, name


@pytest.mark.parametrize("command,absent", [("pairwise", "--strengths"), ("one-to-all", "--include"),
                                            ("all-to-one", "--include"), ("pinchpoints", "--pairwise-all")])
def test_options_a_command_does_not_use_are_not_offered(command, absent):
    cmd = dict(commands())[command]
    assert absent not in {o for p in cmd.params for o in p.opts}


def test_paired_all_pairs_mode():
    cmd = dict(commands())["pinchpoints"]
    mode = next(p for p in cmd.params if "--all-to-one" in p.opts)
    assert mode.secondary_opts == ["--pairwise"] and mode.default is True


def check_stats(stats, cells):
    assert {"cells", "unknowns", "solves", "iterations", "max_residual", "timings", "peak_rss_bytes",
            "peak_device_bytes", "solver", "backend"} <= set(stats)
    assert set(stats["timings"]) == {"load", "setup", "solve", "write", "total"}
    t = stats["timings"]
    assert all(v >= 0 for v in t.values())
    assert t["total"] >= t["load"] + t["setup"] + t["solve"] + t["write"] - 1e-9
    assert stats["cells"] == cells and 0 < stats["unknowns"] < cells
    assert stats["solves"] >= 1 and 0 <= stats["max_residual"] < 1e-4
    assert stats["peak_rss_bytes"] > 10 * 2**20
    assert stats["backend"] == "cpu" and stats["peak_device_bytes"] is None


@pytest.mark.parametrize("solver", ["mg", "direct"])
def test_stats_of_a_pairwise_job(inputs, tmp_path, solver):
    res, tif, ptif, _ = inputs
    r = invoke("pairwise", tif, ptif, "-o", tmp_path, "--solver", solver, "-q", "--backend", "cpu",
               "--stats", tmp_path / "deep" / "job.json")
    assert r.exit_code == 0, r.output
    stats = json.loads((tmp_path / "deep" / "job.json").read_text())
    check_stats(stats, res.size)
    assert stats["solver"] == solver and stats["solves"] <= K
    # multigrid iterates; a factorisation does not
    assert (stats["iterations"] >= 1) if solver == "mg" else (stats["iterations"] == 0)
    assert stats["unknowns"] <= int(np.isfinite(res).sum())


def test_stats_path_that_is_a_folder_is_refused_first(inputs, tmp_path):
    _, tif, ptif, _ = inputs
    r = invoke("pairwise", tif, ptif, "-o", tmp_path / "o", "--stats", tmp_path)
    assert r.exit_code == 1 and r.stderr.startswith("error: --stats") and r.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()  # refused before anything ran


def test_run_prints_timings_and_writes_stats(inputs, tmp_path):
    res, tif, ptif, _ = inputs
    ini = tmp_path / "job.ini"
    ini.write_text(f"[x]\nscenario = one-to-all\nhabitat_file = {tif}\npoint_file = {ptif}\n"
                   f"output_file = {tmp_path / 'out' / 'job.out'}\nwrite_cur_maps = True\nprint_timings = True\n")
    r = invoke("run", ini, "--stats", tmp_path / "s.json", "--backend", "cpu")
    assert r.exit_code == 0, r.output
    stats = json.loads((tmp_path / "s.json").read_text())
    check_stats(stats, res.size)
    table = r.stdout.splitlines()
    for key in ("load", "setup", "solve", "write", "total"):
        row = next(line for line in table if line.startswith(key + " "))
        assert float(row.split()[1]) == pytest.approx(stats["timings"][key], abs=5e-4)
    assert f"solves {stats['solves']}," in r.stdout
    # without print_timings: no table
    ini.write_text(ini.read_text().replace("print_timings = True", "print_timings = False"))
    r = invoke("run", ini, "--backend", "cpu")
    assert r.exit_code == 0 and "total" not in r.stdout


def test_stats_of_an_advanced_job(inputs, tmp_path):
    res, tif, _, tmp = inputs
    src = np.zeros(res.shape)
    gnd = np.full(res.shape, np.nan)
    valid = np.argwhere(np.isfinite(res))
    src[tuple(valid[0])] = 1.0
    gnd[tuple(valid[-1])] = 0.0  # a direct ground
    s = rasters.write_tif(tmp / "src.tif", src, TRANSFORM, "EPSG:32610")
    g = rasters.write_tif(tmp / "gnd.tif", gnd, TRANSFORM, "EPSG:32610")
    r = invoke("advanced", tif, s, g, "-o", tmp_path, "--backend", "cpu", "--stats", tmp_path / "a.json")
    assert r.exit_code == 0, r.output
    names = [n for n, _, _ in stage_lines(r.stderr)]
    assert names == ["load", "graph", "setup", "solve", "solve", "write"]  # solve 0/1, then 1/1
    stats = json.loads((tmp_path / "a.json").read_text())
    check_stats(stats, res.size)
    assert stats["solves"] == 1
