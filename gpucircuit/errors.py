"""Errors a user sees as one line (the CLI prints ``str(err)`` and exits non-zero)."""


class GpuCircuitError(Exception):
    """Bad input or a failed computation, explained in one line: what and where."""


class InputError(GpuCircuitError):
    """The input files or options are wrong (missing file, mismatched grids, bad values)."""


class SolverError(GpuCircuitError):
    """A linear solve failed (non-convergence, residual check, out of memory)."""


class OutputError(GpuCircuitError):
    """An output cannot be written (folder not writable, disk full, read-only file system)."""
