"""CUDA sources: they compile (with nvcc, when installed) and match the NumPy operator on a GPU."""
import shutil
import subprocess

import numpy as np
import pytest

from gpucircuit import backend
from gpucircuit.kernels import source


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
def test_kernels_compile_for_hopper(tmp_path):
    src = tmp_path / "stencil.cu"
    src.write_text(source("stencil.cu"))
    out = subprocess.run(["nvcc", "-arch=sm_90", "-ptx", "--std=c++14", str(src), "-o", str(tmp_path / "s.ptx")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    ptx = (tmp_path / "s.ptx").read_text()
    for name in ("stencil_apply8_f64", "stencil_apply4_f32", "stencil_apply8_f32f64", "stencil_apply4_f32f64"):
        assert f".entry {name}" in ptx


@pytest.mark.gpu
@pytest.mark.skipif(backend._cupy_backend() is None, reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("four", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stencil_kernel_matches_numpy(four, dtype):
    import cupy as cp

    from gpucircuit.grid import edges_from_conductance
    from gpucircuit.kernels import stencil_apply
    from gpucircuit.operators import GridEdges, GridOperator

    rng = np.random.default_rng(0)
    g = rng.random((37, 53)) + 0.01
    g[rng.random(g.shape) < 0.1] = 0
    active = g > 0
    op = GridOperator.build(edges_from_conductance(g, four), active)
    x = rng.random((3, 37, 53))
    ref = op.apply(x)
    e = op.edges
    dop = GridOperator(GridEdges(*(None if w is None else cp.asarray(w, dtype) for w in (e.e, e.s, e.se, e.sw))),
                       cp.asarray(op.diag, dtype), cp.asarray(active))
    got = stencil_apply(dop, cp.asarray(x, dtype)).get()
    np.testing.assert_allclose(got, ref, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


@pytest.mark.gpu
@pytest.mark.skipif(backend._cupy_backend() is None, reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("four", [False, True])
def test_mixed_precision_kernel_matches_numpy(four):
    """precision = single: float32 weights, float64 diagonal and vectors, no float64 weight copy."""
    import cupy as cp

    from gpucircuit.grid import edges_from_conductance
    from gpucircuit.kernels import stencil_apply
    from gpucircuit.operators import GridOperator

    rng = np.random.default_rng(1)
    g = rng.random((41, 29)) + 0.01
    g[rng.random(g.shape) < 0.1] = 0
    active = g > 0
    op = GridOperator.build(edges_from_conductance(g, four).astype(np.float32), active)
    assert op.edges.e.dtype == np.float32 and op.diag.dtype == np.float64
    x = rng.random((2, 41, 29))
    ref = op.apply(x)  # NumPy widens the float32 weights the same way
    e = op.edges
    dop = GridOperator(type(e)(*(None if w is None else cp.asarray(w) for w in (e.e, e.s, e.se, e.sw))),
                       cp.asarray(op.diag), cp.asarray(active))
    got = stencil_apply(dop, cp.asarray(x))
    assert got.dtype == cp.float64
    np.testing.assert_allclose(got.get(), ref, rtol=1e-13, atol=1e-13)
