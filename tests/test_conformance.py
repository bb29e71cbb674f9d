"""Circuitscape's own test cases (shared/conformance/circuitscape) through ``gpucircuit run``.

Every INI found is run with each solver path, from a scratch working directory (INI paths
resolve against the INI's folders), and every file written must match its reference.
"mg-deep" is the grid multigrid coarsened down to at most 2 x 2 cells, so that these small rasters
(2 x 5 and up) get a real hierarchy of at least three levels instead of one direct solve; it
runs through ``run_config`` (the CLI has no such switch) and its depth is checked from the
solve stats. Network cases have no grid hierarchy, so mg-deep skips them.
"""
import pytest
from typer.testing import CliRunner

from conformance import CS_DIR, compare_file, find_cases
from gpucircuit._cli.main import app
from gpucircuit.solver.multigrid import MultigridOptions

CASES = find_cases()
SOLVERS = ["direct", "mg", "amg", "mg-deep"]
DEEP = MultigridOptions(max_coarse=1)  # coarsen until the grid is 2 x 2 or smaller
RUNS = [(name, ini, solver) for solver in SOLVERS for name, ini in CASES
        if not (solver == "mg-deep" and "network" in ini.parts)]


def test_all_reference_cases_present():
    names = {n for n, _ in CASES}
    expected = ({f"sgVerify{i}" for i in (*range(1, 13), 17)} | {f"oneToAllVerify{i}" for i in range(1, 10)}
                | {f"allToOneVerify{i}" for i in range(1, 10)} | {f"mgVerify{i}" for i in range(1, 5)}
                | {"sgNetworkVerify1", "sgNetworkVerify2", "mgNetworkVerify1", "mgNetworkVerify2"})
    assert expected <= names


def _run_deep(ini):
    """The job through ``run_config`` with DEEP; asserts every solved system built >= 3 levels."""
    from gpucircuit.io.config import load_config
    from gpucircuit.pipeline import run_config

    report = run_config(load_config(ini), method="mg", multigrid=DEEP)
    solved = [st for st in report.stats if st.unknowns]
    assert solved, "nothing was solved"
    assert all(st.method == "mg" and st.levels >= 3 for st in solved), [(st.method, st.levels) for st in solved]


def _run_case(ini, tmp_path, monkeypatch, solver):
    monkeypatch.chdir(tmp_path)
    if solver == "mg-deep":
        _run_deep(ini)
    else:
        result = CliRunner().invoke(app, ["run", str(ini), "--solver", solver])
        assert result.exit_code == 0, result.output
    written = sorted((tmp_path / "output").iterdir())
    assert written, "the run wrote nothing"
    problems = []
    for path in written:
        ref = CS_DIR / "output_verify" / path.name
        if not ref.exists():
            if "resistances" in path.name:  # upstream does not keep every resistance table
                continue
            problems.append(f"{path.name}: no reference output")
            continue
        msg = compare_file(path, ref)
        if msg:
            problems.append(msg)
    assert not problems, "\n".join(problems)
    return written


@pytest.mark.parametrize("name,ini,solver", RUNS, ids=[f"{n}-{s}" for n, _, s in RUNS])
def test_case_matches_reference(name, ini, solver, tmp_path, monkeypatch):
    written = _run_case(ini, tmp_path, monkeypatch, solver)
    if "Network" not in name and not name.startswith("mgVerify"):
        assert any(p.name == f"{name}_resistances.out" for p in written)
