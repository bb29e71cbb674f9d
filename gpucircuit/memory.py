"""Memory planning for the matrix-free multigrid path: refuse early, batch right-hand sides.

Bytes per grid cell, measured with tracemalloc on the CPU path (1000 x 1000, 1e4 contrast,
8 neighbours, fp32 cycle, pocket deflation; the GPU path allocates the same arrays):
* setup, kept for the solves: 154 B/cell (operator, 8-direction stencil, hierarchy, deflation);
  the float64 hierarchy construction peaks at 377 B/cell for a moment
* solving, per right-hand side: 117-126 B/cell (fp64 CG vectors, fp32 cycle buffers on every
  level, the balanced preconditioner's temporaries, the result)
A run that would not fit stops before allocating, with the size that would.
"""
from __future__ import annotations

from .errors import SolverError

SETUP_BYTES = {True: 160, False: 130}  # 8 / 4 neighbours (the 4-neighbour operator has 2 fewer arrays)
PER_RHS_BYTES = 128
HEADROOM = 0.85  # room for the allocator's fragmentation and library workspaces


def setup_bytes(cells: int, eight: bool = True) -> int:
    return int(cells * SETUP_BYTES[eight])


def rhs_bytes(cells: int) -> int:
    return int(cells * PER_RHS_BYTES)


def plan_batch(cells: int, nrhs: int, free_bytes: int, eight: bool = True, where: str = "GPU",
               single: bool = False) -> int:
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
