"""Memory plan of a raster circuit job from its size alone: what the host and the GPU must hold,
on the machines a user names, and the largest raster that fits each.

The figures are the same per-cell constants the job's own refusal uses (:mod:`.memory`), so a plan
that says "fits" is what ``gpucircuit run`` will accept, and they are measured (peak RSS of a
one-pair job, traced device arrays; benchmarks/README.md).
"""
from __future__ import annotations

from dataclasses import dataclass

from .memory import HEADROOM, host_need_bytes, need_bytes


@dataclass(frozen=True)
class PlanRow:
    where: str  # "CPU" or "GPU": where the solver runs
    precision: str  # double | single
    host_bytes: int
    device_bytes: int | None  # None on the CPU
    host_fits: bool | None  # None: host memory not given
    device_fits: bool | None
    largest_cells: int | None  # largest raster (cells) that fits the memory given

    @property
    def fits(self) -> bool | None:
        known = [f for f in (self.host_fits, self.device_fits) if f is not None]
        return all(known) if known else None


def _largest(fits) -> int:
    """Largest cell count for which ``fits(cells)`` holds (the needs grow with the cells)."""
    lo, hi = 0, 1
    while fits(hi):
        lo, hi = hi, hi * 2
        if hi > 2**48:
            return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def plan_rows(cells: int, eight: bool = True, host_memory: int | None = None,
              device_memory: int | None = None) -> list[PlanRow]:
    """One row per (CPU, GPU) x (double, single); ``*_memory`` in bytes (None: not checked)."""
    rows = []
    for on_gpu in (False, True):
        for precision in ("double", "single"):
            single = precision == "single"

            def needs(n):
                return host_need_bytes(n, eight, single, on_gpu), (need_bytes(n, 1, eight, single) if on_gpu else None)

            def fits(n):
                host, device = needs(n)
                ok = host_memory is None or host <= host_memory * HEADROOM
                return ok and (device is None or device_memory is None or device <= device_memory * HEADROOM)

            host, device = needs(cells)
            host_fits = None if host_memory is None else host <= host_memory * HEADROOM
            device_fits = None if (device is None or device_memory is None) else device <= device_memory * HEADROOM
            checked = host_memory is not None or (on_gpu and device_memory is not None)
            rows.append(PlanRow("GPU" if on_gpu else "CPU", precision, int(host), device, host_fits, device_fits,
                                _largest(fits) if checked else None))
    return rows


def parse_bytes(text: str, what: str) -> int:
    """'64G', '24GiB', '512M', '1.5T' or a plain number of bytes (powers of 1024)."""
    from .errors import InputError

    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    s = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = s[-1:] if s[-1:] in units and s[-1:] != "" and not s[-1:].isdigit() else ""
    number = s[:-1] if unit else s
    try:
        value = float(number) * units[unit]
    except ValueError:
        raise InputError(f"{what} {text!r} is not a size: give bytes or a number with K, M, G or T (e.g. 64G)") \
            from None
    if value <= 0:
        raise InputError(f"{what} {text!r} must be positive")
    return int(value)
