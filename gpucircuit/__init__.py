"""gpucircuit: circuit-theory connectivity on the GPU (or CPU), Circuitscape-compatible.

The array API (``pairwise``, ``one_to_all``, ``all_to_one``, ``advanced``, ``network_pairwise``)
is imported on first use, so the command line starts without loading SciPy. The layers of the
package (io -> grid/graph -> operators -> solver -> modes -> analyses/pipelines -> cli) are
described in ARCHITECTURE.md and checked by tests/test_layers.py.
"""
from .backend import get_backend, set_backend
from .errors import GpuCircuitError, InputError, SolverError

__version__ = "0.1.0"
_API = ("pairwise", "one_to_all", "all_to_one", "advanced", "network_pairwise")
__all__ = [*_API, "get_backend", "set_backend", "GpuCircuitError", "InputError", "SolverError"]


def __getattr__(name):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'gpucircuit' has no attribute {name!r}")
