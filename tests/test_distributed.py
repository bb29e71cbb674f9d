"""Solves spread over a local 2-worker dask cluster give the same answers as one process."""
import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from gpucircuit.grid import build_raster_graph, conductance_from_habitat  # noqa: E402
from gpucircuit.modes.pairwise import pairwise  # noqa: E402
from gpucircuit.solver.system import SolveOptions  # noqa: E402
from reference import pick_points, random_landscape  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.mark.parametrize("method", ["direct", "mg"])
def test_pairwise_on_two_workers_matches_local(client, method):
    res = random_landscape((40, 50), seed=5)
    pts = {i: np.array([r * 50 + c for r, c in cells]) for i, cells in pick_points(res, 7, seed=6).items()}
    graph = build_raster_graph(conductance_from_habitat(res, True))
    local = pairwise(graph, pts, options=SolveOptions(method=method))
    spread = pairwise(graph, pts, options=SolveOptions(method=method, client=client))
    np.testing.assert_allclose(spread.resistances, local.resistances, rtol=1e-6)
    np.testing.assert_allclose(spread.cum_current, local.cum_current, rtol=1e-5, atol=1e-9)
    assert sum(s.solves for s in spread.stats) == sum(s.solves for s in local.stats)


def test_cli_run_with_two_workers(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from conformance import CS_DIR, compare_file, find_cases
    from gpucircuit._cli.main import app

    ini = dict(find_cases())["sgVerify5"]
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["run", str(ini), "--workers", "2", "--solver", "direct"])
    assert result.exit_code == 0, result.output
    for p in (tmp_path / "output").iterdir():
        ref = CS_DIR / "output_verify" / p.name
        if ref.exists():
            assert compare_file(p, ref) is None
