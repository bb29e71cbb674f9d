"""Device-memory planning for the matrix-free multigrid path: refuse early, batch right-hand sides.

Estimates per grid cell (bytes), from the arrays the path allocates:
* operator: 4 (8 neighbours) or 2 edge-weight arrays + diagonal in fp64, active mask: 41 / 25 B
* multigrid hierarchy: 5 fp32 stencil arrays + 8 fp32 interpolation weights per cell, levels
  summing to 4/3 of the fine grid: about 70 B
* per right-hand side: 6 fp64 CG vectors + padded fp32 cycle buffers (x, r) on every level: about 60 B
"""
from __future__ import annotations

from .errors import SolverError

SETUP_BYTES = {True: 41 + 70, False: 25 + 70}
PER_RHS_BYTES = 60
HEADROOM = 0.9  # leave room for the allocator's fragmentation and library workspaces


def setup_bytes(cells: int, eight: bool = True) -> int:
    return int(cells * SETUP_BYTES[eight])


def rhs_bytes(cells: int) -> int:
    return int(cells * PER_RHS_BYTES)


def plan_batch(cells: int, nrhs: int, free_bytes: int, eight: bool = True, where: str = "GPU") -> int:
    """Right-hand sides per pass that fit in ``free_bytes``; an error naming the size that would fit."""
    budget = free_bytes * HEADROOM
    need_one = setup_bytes(cells, eight) + rhs_bytes(cells)
    if need_one > budget:
        fit = int(budget / (SETUP_BYTES[eight] + PER_RHS_BYTES))
        raise SolverError(
            f"the problem does not fit in {where} memory: {cells:,} cells need about {need_one / 2**30:.1f} GiB, "
            f"{free_bytes / 2**30:.1f} GiB are free; up to about {fit:,} cells would fit "
            "(use --backend cpu, or tile the region)"
        )
    return max(1, min(nrhs, int((budget - setup_bytes(cells, eight)) // rhs_bytes(cells))))


def host_free_bytes() -> int | None:
    """Available host memory (Linux), or None where it cannot be read."""
    import os

    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def device_free_bytes() -> int | None:
    """Free memory on the current CUDA device, or None without CuPy."""
    try:
        import cupy as cp

        free, _ = cp.cuda.runtime.memGetInfo()
        return int(free + cp.get_default_memory_pool().free_bytes())
    except Exception:  # noqa: BLE001 - no CuPy / no device
        return None
