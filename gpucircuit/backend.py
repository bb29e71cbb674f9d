"""Array backend: NumPy or CuPy, decided once per process.

Selection order: an explicit :func:`set_backend` call (the CLI's ``--backend``), then the
``GPUCIRCUIT_BACKEND`` environment variable (``auto``, ``gpu`` or ``cpu``), then ``auto``,
which picks the GPU when CuPy imports and sees a device.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from .errors import GpuCircuitError

_CHOICES = ("auto", "gpu", "cpu")


@dataclass(frozen=True)
class Backend:
    name: str  # "cpu" or "gpu"
    xp: ModuleType  # numpy or cupy
    device: str  # human-readable device name

    @property
    def is_gpu(self) -> bool:
        return self.name == "gpu"

    def asarray(self, a, dtype=None):
        return self.xp.asarray(a, dtype=dtype)

    def to_host(self, a) -> np.ndarray:
        return to_host(a)


_current: Backend | None = None


def _cupy_backend() -> Backend | None:
    try:
        import cupy as cp  # noqa: PLC0415 - optional dependency

        if cp.cuda.runtime.getDeviceCount() < 1:
            return None
        props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
        name = props["name"]
        return Backend("gpu", cp, name.decode() if isinstance(name, bytes) else str(name))
    except Exception:  # noqa: BLE001 - any CuPy/driver failure means "no GPU"
        return None


def _cpu_backend() -> Backend:
    return Backend("cpu", np, "cpu")


def _resolve(choice: str) -> Backend:
    choice = choice.strip().lower()
    if choice not in _CHOICES:
        raise GpuCircuitError(f"unknown backend {choice!r}: choose one of {', '.join(_CHOICES)}")
    if choice == "cpu":
        return _cpu_backend()
    gpu = _cupy_backend()
    if gpu is None and choice == "gpu":
        raise GpuCircuitError("backend 'gpu' requested but CuPy or a CUDA device is not available")
    return gpu or _cpu_backend()


def set_backend(choice: str) -> Backend:
    """Choose the backend for this process (``auto``, ``gpu`` or ``cpu``)."""
    global _current
    _current = _resolve(choice)
    return _current


def get_backend() -> Backend:
    """The process-wide backend, resolved on first use."""
    global _current
    if _current is None:
        _current = _resolve(os.environ.get("GPUCIRCUIT_BACKEND", "auto"))
    return _current


def is_device_array(a) -> bool:
    """Whether ``a`` is a CuPy array: the one place an array's backend is probed."""
    return type(a).__module__.startswith("cupy")


def dispatch(numpy_impl, cupy_impl, on: int = 0):
    """One public function over per-backend implementations, picked by the type of argument ``on``
    (xarray-spatial's ArrayTypeFunctionMapping): callers never test for a backend themselves.
    The CuPy implementation may import CuPy lazily; the NumPy one never needs it."""
    def run(*args, **kwargs):
        return (cupy_impl if is_device_array(args[on]) else numpy_impl)(*args, **kwargs)
    run.__doc__ = numpy_impl.__doc__
    return run


def _cupy_module(a) -> ModuleType:
    import cupy as cp  # noqa: PLC0415

    return cp


array_module = dispatch(lambda a: np, _cupy_module)
array_module.__doc__ = "numpy or cupy, whichever owns ``a``."

to_host = dispatch(np.asarray, lambda a: a.get())
to_host.__doc__ = "``a`` as a NumPy array on the host (copied from the device for CuPy)."


def ndimage_module(xp: ModuleType) -> ModuleType:
    """scipy.ndimage for numpy, cupyx.scipy.ndimage for cupy: morphology on the array's own device."""
    if xp is np:
        from scipy import ndimage  # noqa: PLC0415

        return ndimage
    from cupyx.scipy import ndimage  # noqa: PLC0415

    return ndimage


_numba: bool | None = None  # None: not looked up yet; False also once an import has failed


# resident memory a process gains by loading numba and a compiled loop (measured: a 4 M-cell job's peak
# 0.67 -> 0.80 GiB)
NUMBA_RESIDENT_BYTES = 140 * 2**20


def numba_available() -> bool:
    """Whether the host's compiled loops can run: numba installed (only looked up, since importing
    it costs a process ~140 MB of resident memory) and not yet found broken by ``compile_loop``."""
    global _numba
    if _numba is None:
        import importlib.util  # noqa: PLC0415

        _numba = importlib.util.find_spec("numba") is not None
    return _numba


def compile_loop(fn):
    """``fn`` compiled by numba for the host (no Python objects inside, the GIL released), cached
    on disk for the next run where a cache folder is writable, compiled afresh each run where none
    is (a read-only install without a home folder). Raises ImportError where numba will not import
    (``numba_available`` is False from then on): the callers then run their NumPy passes."""
    global _numba
    try:
        from numba import njit  # noqa: PLC0415
    except ImportError:
        _numba = False
        raise
    try:
        return njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return njit(nogil=True)(fn)
