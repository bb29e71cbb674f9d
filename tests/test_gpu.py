"""The GPU backend against the CPU backend and the reference outputs (skipped without a CUDA device)."""
import numpy as np
import pytest

from gpucircuit import backend

gpu = backend._cupy_backend()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(gpu is None, reason="needs CuPy and a CUDA device")]


@pytest.fixture
def on_gpu():
    previous = backend.get_backend()
    backend.set_backend("gpu")
    yield
    backend._current = previous


@pytest.mark.parametrize("precision", ["double", "single"])
def test_pairwise_gpu_matches_reference(on_gpu, precision):
    """Solutions and current maps made on the device (fp32 conductances under single)."""
    import gpucircuit as gc
    from reference import RefCircuit, pick_points, random_landscape

    res = random_landscape((40, 52), seed=11)
    pts = pick_points(res, 6, seed=12)
    R_ref, cum_ref = RefCircuit(res).pairwise(pts)
    out = gc.pairwise(res, pts, solver="mg", precision=precision)
    assert isinstance(out.cum_current, np.ndarray)  # finished maps come back to the host
    np.testing.assert_allclose(out.resistances, R_ref, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(out.cum_current, cum_ref, rtol=1e-4, atol=1e-6 * cum_ref.max())


@pytest.mark.parametrize("case", ["sgVerify5", "oneToAllVerify3", "allToOneVerify2", "mgVerify2"])
def test_reference_cases_on_gpu(on_gpu, case, tmp_path, monkeypatch):
    from conformance import find_cases
    from test_conformance import _run_case

    ini = dict(find_cases())[case]
    monkeypatch.setenv("GPUCIRCUIT_BACKEND", "gpu")
    _run_case(ini, tmp_path, monkeypatch, "mg")


def test_pocket_deflation_on_device_matches_host(on_gpu):
    import cupy as cp

    from gpucircuit.operators import GridEdges, GridOperator
    from gpucircuit.solver.deflation import PocketDeflation
    from test_deflation import benchmark_landscape_operator

    op, b = benchmark_landscape_operator(200, seed=1)
    e = op.edges
    dop = GridOperator(GridEdges(*(None if w is None else cp.asarray(w) for w in (e.e, e.s, e.se, e.sw))),
                       cp.asarray(op.diag), cp.asarray(op.active))
    host, dev = PocketDeflation(op), PocketDeflation(dop)
    assert host.count == dev.count > 0
    r = np.random.default_rng(0).random((2,) + op.shape)
    np.testing.assert_allclose(dev(cp.asarray(r)).get(), host(r), rtol=1e-10, atol=1e-14)


def test_solutions_stay_on_device_and_currents_match_host(on_gpu):
    import cupy as cp

    from gpucircuit.currents import node_currents
    from reference import grounded_component

    s, graph, cells = grounded_component((50, 40), 13, method="mg")
    X = s.solve_units(cells[[5, 9]], on_device=True)
    assert isinstance(X, cp.ndarray)
    host = s.solve_units(cells[[5, 9]])
    assert isinstance(host, np.ndarray)
    np.testing.assert_allclose(X.get(), host, rtol=1e-12, atol=1e-14)
    cur = node_currents(graph, X[0])
    assert isinstance(cur, cp.ndarray)
    np.testing.assert_allclose(cur.get(), node_currents(graph, host[0]), rtol=1e-10, atol=1e-14)
