"""gpucircuit: circuit-theory connectivity on the GPU (or CPU), Circuitscape-compatible."""
from .api import advanced, all_to_one, network_pairwise, one_to_all, pairwise
from .backend import get_backend, set_backend
from .errors import GpuCircuitError, InputError, SolverError

__version__ = "0.1.0"
__all__ = [
    "pairwise", "one_to_all", "all_to_one", "advanced", "network_pairwise",
    "get_backend", "set_backend", "GpuCircuitError", "InputError", "SolverError",
]
