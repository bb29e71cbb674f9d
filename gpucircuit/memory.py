"""Memory planning for the matrix-free multigrid path: refuse early, batch right-hand sides.

Device bytes per grid cell, measured on the CPU path with ``benchmarks/bench_memory.py`` (the
matrix-free path allocates the same arrays through NumPy and CuPy; host-only work such as the
pocket search is left out of the trace). 1000^2 and 2000^2 landscapes, 1e4 contrast, fp32 cycle:

==============  =====================  ====================  ===============
neighbours      kept for the solves    setup peak            per right-hand
/ precision     (operator, hierarchy)  (hierarchy build)     side (CG + cycle)
==============  =====================  ====================  ===============
8, single       61                     86                    49
8, double       77                     102                   49
4, single       63 *                   121 *                 54 *
4, double       70 *                   145 *                 54 *
==============  =====================  ====================  ===============

(* 600^2, since the hierarchy is built on the red-black Schur complement, ``solver/redblack``:
its rotated rectangle has about as many cells as the grid, half of them outside the diamond.)

So one 8-neighbour solve in single precision peaks at about 110 B/cell: 205 M cells need about
21 GiB. ``single`` stores conductances in fp32 (16 B/cell instead of 32); CG vectors stay fp64.
The constants below add 1 B/cell for the active mask's device copy and round up, plus a fixed
2 MiB (coarsest factorisation, per-level scratch) that shows on small grids (600^2: 53 B/cell
for the first right-hand side). A run that
would not fit stops before allocating, with the size that would.

Not in these figures: the deflation's index arrays and A Z (``solver/deflation``), below 1 B/cell at
contrast 1e4 and ~22 B/cell on a 4-neighbour map at 1e8. They take what the plan leaves free
(``PocketDeflation(max_bytes=...)``) and fall back to smaller regions when that is too little.
"""
from __future__ import annotations

from .errors import SolverError

# (eight neighbours, single precision) -> bytes per cell
# +1 each since coarse levels keep their ground (the W-cycle's exact coarse residual, issue 9);
# +1-2 since GroundedSystem frees its node / solve masks before the setup: the trace of what the
# setup keeps no longer nets them off (600^2, 8 neighbours: 64.4 / 80.4 measured).
# 4 neighbours: the hierarchy is built on the red-black Schur complement (solver/redblack), whose
# rotated rectangle has about as many cells as the grid, so it costs what an 8-neighbour one does
# (66 / 74 measured before the masks were freed early; +2 kept for that, unmeasured since)
KEPT_BYTES = {(True, True): 65, (True, False): 81, (False, True): 68, (False, False): 76}
SETUP_PEAK_BYTES = {(True, True): 88, (True, False): 103, (False, True): 126, (False, False): 150}
PER_RHS_BYTES = {True: 50, False: 56}  # by eight neighbours
# The exact tile solves (solver/tile_smoother) keep at most a quarter of their tiles on levels 1-4, which
# bounds them at 16.6 B per fine cell on any landscape; on a red-black Schur complement (4 neighbours) its
# finest level is tiled too, 4 x 4 tiles (64 B per covered cell), at most 35 % of both tilings': 45 B per
# cell more. Measured at 600^2, 1e4 contrast (``bench_memory.py``): 8 neighbours +12 kept, +3 on the setup
# peak, +3 per right-hand side (the sweeps' padded copies); 4 neighbours +50, +40, +9. They are built only
# where the memory holds them (``tiles_fit``): a job that fits without them runs without them, with more
# CG iterations.
TILE_BYTES = {True: 17, False: 62}
TILE_RHS_BYTES = {True: 3, False: 9}
FIXED_BYTES = 2 * 2**20
HEADROOM = 0.92  # share of free memory planned for: CuPy's pool rounding, library workspaces (unmeasured on a GPU)


def need_bytes(cells: int, nrhs: int = 1, eight: bool = True, single: bool = False, tiles: bool = False) -> int:
    """Device bytes for the hierarchy plus ``nrhs`` right-hand sides solved at once (``tiles``: with
    the tile solves)."""
    key = (eight, single)
    extra, per_rhs = (TILE_BYTES[eight], TILE_RHS_BYTES[eight]) if tiles else (0, 0)
    return int(cells * max(SETUP_PEAK_BYTES[key] + extra,
                           KEPT_BYTES[key] + extra + nrhs * (PER_RHS_BYTES[eight] + per_rhs))) + FIXED_BYTES


def tiles_fit(cells: int, free_bytes: int | None, eight: bool = True, single: bool = False) -> bool:
    """Whether the tile solves fit beside one right-hand side in ``free_bytes`` (None: unknown, yes)."""
    return free_bytes is None or need_bytes(cells, 1, eight, single, tiles=True) <= free_bytes * HEADROOM


# Host bytes per cell a raster job keeps beside the solver's arrays: the habitat raster as read
# (8), conductances (8), four edge-weight arrays (32), components (int32, 4), current maps and
# their write buffer (16). Checked against tracemalloc in tests/test_failures.py.
HOST_BYTES = 80
# What a job holds beside the solver while it solves on the CPU: conductances (8), the edge
# weights (32 with 8 neighbours, 16 with 4), components (int32, 4), node / active / held masks (4).
# In double precision the solver masks the graph's own edges in place (lent, not copied), so they
# count once; the habitat raster is gone and the maps come after the solver is freed.
# Measured (one pair, 8 neighbours, double): traced 140 B/cell at 1000^2; peak RSS 296 / 179 /
# 150 B/cell at 1 / 4 / 16 M cells against this plan's 350 / 198 / 160
# (benchmarks/results/rss-pairwise-*-s4-after.json).
CPU_JOB_BYTES = {True: 48, False: 32}
# the interpreter and the libraries a run imports (NumPy, SciPy, rasterio with GDAL): 122 MiB
# resident after a tiny job, rounded up for the allocator's own slack
PROCESS_BYTES = 192 * 2**20


def host_need_bytes(cells: int, eight: bool = True, single: bool = False, on_gpu: bool = False) -> int:
    """Peak host bytes of a one-solve raster job: the job's arrays, plus the solver's on the CPU."""
    if on_gpu:
        return cells * HOST_BYTES + PROCESS_BYTES
    lent = 0 if single else (32 if eight else 16)  # the operator's weights are the graph's own
    return cells * CPU_JOB_BYTES[eight] + need_bytes(cells, 1, eight, single) - cells * lent + PROCESS_BYTES


def check_job_fits(cells: int, shape: tuple[int, int], what: str, eight: bool = True, single: bool = False,
                   on_gpu: bool = False, host_free: int | None = None, device_free: int | None = None) -> None:
    """Refuse a raster job from its size alone, before anything is read: host memory must hold the
    job's host arrays (and the solver's, on the CPU), device memory the solver's (on a GPU)."""
    solver = need_bytes(cells, 1, eight, single)
    host_need = host_need_bytes(cells, eight, single, on_gpu)
    host_free = host_free_bytes() if host_free is None else host_free
    checks = [("host", host_need, host_free)]
    if on_gpu:
        checks.append(("GPU", solver, device_free_bytes() if device_free is None else device_free))
    for where, need, free in checks:
        if free is not None and need > free * HEADROOM:
            hint = "" if single or where == "host" else "; precision = single needs less"
            raise SolverError(
                f"{what} has {cells:,} cells ({shape[0]:,} rows x {shape[1]:,} columns): the job needs about "
                f"{need:,} bytes ({need / 2**30:.1f} GiB) of {where} memory, {free:,} bytes "
                f"({free / 2**30:.1f} GiB) are available{hint} (tile the region or coarsen the cells)"
            )


def rhs_bytes(cells: int, eight: bool = True) -> int:
    return int(cells * (PER_RHS_BYTES[eight] + TILE_RHS_BYTES[eight]))  # tile solves or not


def plan_batch(cells: int, nrhs: int, free_bytes: int, eight: bool = True, where: str = "GPU",
               single: bool = False) -> int:
    """Right-hand sides per pass that fit in ``free_bytes``; an error naming the size that would fit."""
    budget = free_bytes * HEADROOM
    need_one = need_bytes(cells, 1, eight, single)
    if need_one > budget:
        key = (eight, single)
        fit = int((budget - FIXED_BYTES) / max(SETUP_PEAK_BYTES[key], KEPT_BYTES[key] + PER_RHS_BYTES[eight]))
        hint = "" if single else (f"; precision = single needs about {need_bytes(cells, 1, eight, True) / 2**30:.1f} GiB")
        raise SolverError(
            f"the problem does not fit in {where} memory: {cells:,} cells need about {need_one / 2**30:.1f} GiB, "
            f"{free_bytes / 2**30:.1f} GiB are free; up to about {fit:,} cells would fit{hint} "
            "(or use --backend cpu, or tile the region)"
        )
    kept = cells * (KEPT_BYTES[(eight, single)] + TILE_BYTES[eight]) + FIXED_BYTES  # tile solves or not
    return max(1, min(nrhs, int((budget - kept) // rhs_bytes(cells, eight))))


def return_freed_memory() -> None:
    """Hand memory that is free but still held by the C heap back to the OS (glibc's malloc_trim).

    Why: GDAL reads a raster through many block buffers; once freed they stay in the process's
    heap (measured: 9 B/cell of resident memory for the rest of a job), which the NumPy arrays
    made later cannot use. Elsewhere (no glibc) this does nothing."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)


def _libc():
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def return_large_blocks_when_freed(threshold: int = 2**20) -> None:
    """Serve every allocation of ``threshold`` bytes or more with its own mapping (glibc's
    M_MMAP_THRESHOLD), so freeing it gives the memory back to the OS at once.

    Why: glibc raises its threshold to the size of each large block freed (up to 32 MiB), after
    which the solver's quarter-size and coarse-level arrays come from the heap and stay resident
    once freed: measured 15 B/cell more peak RSS in a one-pair job's solve at 4 M cells, 40 in its maps."""
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, int(threshold))  # a fixed value also stops the raising


def reuse_freed_blocks(threshold: int = 32 * 2**20, keep: int = 128 * 2**20) -> None:
    """The opposite of ``return_large_blocks_when_freed``, for a process that allocates and frees
    blocks of the same few sizes over and over (a map writer): blocks under ``threshold`` bytes
    come from the heap and up to ``keep`` bytes of freed heap stay mapped, so the next block of
    that size reuses pages instead of faulting in new zeroed ones (glibc's M_MMAP_THRESHOLD, at
    most 32 MiB, and M_TRIM_THRESHOLD)."""
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, int(threshold))
        mallopt(_M_TRIM_THRESHOLD, int(keep))


def host_free_bytes() -> int | None:
    """Available host memory (Linux: MemAvailable, which counts reclaimable page cache; free
    pages alone would refuse jobs on a machine that has just read big files), or None."""
    import os

    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
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
