"""CUDA kernels from ``kernels/*.cu``, compiled once per source, dtype and device (CuPy RawModule)."""
from __future__ import annotations

import functools
from importlib import resources

import numpy as np

_SUFFIX = {np.dtype(np.float64): "f64", np.dtype(np.float32): "f32"}


def source(name: str) -> str:
    return resources.files("gpucircuit._kernels").joinpath(name).read_text()


@functools.lru_cache(maxsize=None)
def _module(name: str, device_id: int):
    import cupy as cp

    with cp.cuda.Device(device_id):
        return cp.RawModule(code=source(name), options=("--std=c++14",))


def kernel(source_name: str, function: str, dtype, weight_dtype=None):
    """The compiled ``function`` + dtype suffix from ``source_name`` on the current device; float32
    ``weight_dtype`` with float64 ``dtype`` picks the mixed variant (suffix ``f32f64``)."""
    import cupy as cp

    suffix = _SUFFIX.get(np.dtype(dtype))
    if suffix is None:
        raise TypeError(f"no CUDA kernel for dtype {np.dtype(dtype)}")
    if weight_dtype is not None and np.dtype(weight_dtype) == np.float32 and suffix == "f64":
        suffix = "f32f64"
    return _module(source_name, cp.cuda.Device().id).get_function(f"{function}_{suffix}")


def stencil_apply(op, x):
    """``op.apply(x)`` with the CUDA stencil kernel (x: cupy (m, n) or (k, m, n)).

    Vectors and the diagonal are computed in the wider of x's and the diagonal's dtype; float32
    edge weights are read as they are stored (widened in registers), never copied to float64.
    """
    import cupy as cp

    e = op.edges
    vt = np.result_type(op.diag.dtype, x.dtype)
    wt = np.float32 if (e.e.dtype == np.float32 or vt == np.float32) else np.float64
    eight = e.se is not None
    m, n = op.shape
    xb = cp.ascontiguousarray((x[None] if x.ndim == 2 else x).astype(vt, copy=False))
    y = cp.empty_like(xb)
    diag = cp.ascontiguousarray(op.diag.astype(vt, copy=False))
    w = [cp.ascontiguousarray(a.astype(wt, copy=False)) for a in (e.e, e.s)]
    w += [cp.ascontiguousarray(a.astype(wt, copy=False)) for a in (e.se, e.sw)] if eight else w
    fn = kernel("stencil.cu", "stencil_apply8" if eight else "stencil_apply4", vt, wt)
    threads = 256
    blocks = min((m * n + threads - 1) // threads, 65535 * 4)
    fn((blocks,), (threads,), (diag, *w, xb, y, np.int32(m), np.int32(n), np.int32(xb.shape[0])))
    return y[0] if x.ndim == 2 else y
