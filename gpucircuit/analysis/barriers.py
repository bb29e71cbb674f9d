"""Barrier Mapper (Linkage Mapper v3): where restoring a disc of habitat would most shorten links.

For a search radius ``r`` (map units) and an active link between cores A and B with
least-cost distance ``L``:

* ``m_A(x)`` = minimum of CWD_A over the **disc** of cells whose centres lie within ``r`` of the
  centre of cell ``x`` (a circular focal minimum of radius ``r``; Linkage Mapper's documentation
  describes a circular moving window of that radius). The same for ``m_B``.
* ``score(x) = (L - m_A(x) - m_B(x) - 2r) / (2r)``: the LCD reduction per unit of restored length
  if the disc's diameter (length ``2r``) were restored to resistance 1. With ``percent`` the score
  is ``100 * score / L``.

Across links the maximum (and, separately, the sum of positive scores) is kept; across radii the
maximum. "Barrier circles" spread each centre's score over its disc (a focal maximum of the
same disc). Cells where no link has a finite score (or on nodata) are NaN. Scores are not
clipped at zero in the maximum; negative values mean "restoring here does not help".

The published maps follow Barrier Mapper (``s6_barriers.py``): every barrier-centre raster
(per radius and across radii, max and percent) is ``SetNull(VALUE < 0)``, so scores below 0 are
nodata and 0 is kept; circles are the focal maximum of those nulled centres, which equals
nulling the circles of the raw scores. :func:`published_scores` applies that rule; the raw
scores stay in :class:`BarrierResult`.

The disc focal minimum is array-parallel through the backend's ``xp`` (NumPy or CuPy): the disc
is a stack of row spans; per span half-width, a sparse table of row minima over power-of-two
windows (log2 shifted minima) answers every window by two lookups, and shifted rows are then
combined by minimum.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..backend import get_backend, to_host
from ..errors import InputError
from .corridors import Link
from .cwd import cell_steps


def radii_list(start: float, end: float, step: float) -> list[float]:
    """``start, start + step, ... <= end`` (inclusive, tolerant of rounding)."""
    if not (start > 0 and math.isfinite(start)):
        raise InputError(f"barrier radius start must be positive, got {start}")
    if end < start:
        raise InputError(f"barrier radius end {end} is below the start {start}")
    if end > start and not step > 0:
        raise InputError(f"barrier radius step must be positive, got {step}")
    out, k = [], 0
    while True:
        r = start + k * step if step > 0 else start
        if r > end * (1 + 1e-9) or (k > 0 and step <= 0):
            break
        out.append(float(r))
        k += 1
    return out


def disc_spans(radius: float, cellsize=1.0) -> list[tuple[int, int]]:
    """Rows ``(di, h)`` of the disc: cells ``(di, dj)`` with ``|dj| <= h`` lie within ``radius``."""
    dx, dy = cell_steps(cellsize)
    rr = radius * radius * (1 + 1e-12)
    spans = []
    R = int(math.floor(radius / dy * (1 + 1e-12)))
    for di in range(-R, R + 1):
        rest = rr - (di * dy) ** 2
        if rest < 0:
            continue
        spans.append((di, int(math.floor(math.sqrt(rest) / dx * (1 + 1e-12)))))
    return spans


def disc_mask(radius: float, cellsize=1.0) -> np.ndarray:
    """Boolean footprint of the disc (for brute-force checks)."""
    spans = disc_spans(radius, cellsize)
    R = max(abs(d) for d, _ in spans)
    H = max(h for _, h in spans)
    m = np.zeros((2 * R + 1, 2 * H + 1), dtype=bool)
    for di, h in spans:
        m[di + R, H - h:H + h + 1] = True
    return m


def _row_window_min(a, hs: set[int], xp):
    """``{h: min over a[..., j-h .. j+h]}`` for every ``h`` (outside the raster = +inf)."""
    n = a.shape[-1]
    hmax = max(hs)
    pad = xp.full(a.shape[:-1] + (n + 2 * hmax,), xp.inf, dtype=a.dtype)
    pad[..., hmax:hmax + n] = a
    width = pad.shape[-1]
    table = [pad]  # table[k][..., j] = min(pad[..., j .. j + 2**k - 1])
    kmax = int(math.floor(math.log2(2 * hmax + 1)))
    for k in range(1, kmax + 1):
        prev, s = table[-1], 1 << (k - 1)
        cur = prev.copy()
        cur[..., : width - s] = xp.minimum(prev[..., : width - s], prev[..., s:])
        table.append(cur)
    out = {}
    for h in hs:
        length = 2 * h + 1
        k = int(math.floor(math.log2(length)))
        t = table[k]
        lo = hmax - h  # window start for j = 0 in padded coordinates
        hi = lo + length - (1 << k)
        out[h] = xp.minimum(t[..., lo:lo + n], t[..., hi:hi + n])
    return out


def focal_min_disc(a, radius: float, cellsize=1.0, xp=None):
    """Minimum of ``a`` over the disc of ``radius`` around every cell (cells off the raster ignored).

    ``a`` is an ``xp`` array ``(..., rows, cols)``; NaN is not special (use ``inf`` for "none").
    """
    xp = xp or get_backend().xp
    spans = disc_spans(radius, cellsize)
    rows = _row_window_min(a, {h for _, h in spans}, xp)
    m = a.shape[-2]
    out = xp.full(a.shape, xp.inf, dtype=a.dtype)
    for di, h in spans:
        r = rows[h]
        if di >= 0:
            if di < m:
                out[..., : m - di, :] = xp.minimum(out[..., : m - di, :], r[..., di:, :])
        elif -di < m:
            out[..., -di:, :] = xp.minimum(out[..., -di:, :], r[..., : m + di, :])
    return out


def focal_max_disc(a, radius: float, cellsize=1.0, xp=None):
    """Maximum of ``a`` over the disc (``-inf`` where none); used for barrier circles."""
    return -focal_min_disc(-a, radius, cellsize, xp)


def published_scores(a: np.ndarray) -> np.ndarray:
    """Barrier Mapper's published map of ``a``: scores below 0 (and NaN) as NaN, 0 and above kept."""
    with np.errstate(invalid="ignore"):
        return np.where(a >= 0, a, np.nan)


@dataclass
class BarrierResult:
    radii: list[float]
    max_by_radius: dict[float, np.ndarray]
    sum_by_radius: dict[float, np.ndarray] | None
    maximum: np.ndarray  # max over radii of the max over links
    total: np.ndarray | None  # max over radii of the sum over links
    circles_max: np.ndarray
    circles_sum: np.ndarray | None
    percent: bool


def barrier_scores_for_radius(cwds: dict[int, np.ndarray], links: list[Link], radius: float, cellsize=1.0,
                              *, percent: bool = False, want_sum: bool = False, xp=None):
    """(max over links, sum of positive scores or None) for one radius, as ``xp`` arrays (NaN = none)."""
    xp = xp or get_backend().xp
    active = [lk for lk in links if lk.active and math.isfinite(lk.lcd)]
    cores = sorted({c for lk in active for c in (lk.core_a, lk.core_b)})
    shape = next(iter(cwds.values())).shape
    mins = {c: focal_min_disc(xp.asarray(cwds[c]), radius, cellsize, xp) for c in cores}
    best = xp.full(shape, -xp.inf)
    total = xp.zeros(shape) if want_sum else None
    any_finite = xp.zeros(shape, dtype=bool)
    two_r = 2.0 * radius
    for lk in active:
        s = (lk.lcd - mins[lk.core_a] - mins[lk.core_b] - two_r) / two_r
        if percent:
            s = s * (100.0 / lk.lcd) if lk.lcd > 0 else xp.full(shape, -xp.inf)
        finite = xp.isfinite(s)
        any_finite |= finite
        best = xp.maximum(best, xp.where(finite, s, -xp.inf))
        if want_sum:
            total += xp.where(finite & (s > 0), s, 0.0)
    best = xp.where(any_finite, best, xp.nan)
    if want_sum:
        total = xp.where(any_finite, total, xp.nan)
    return best, total


def barrier_analysis(cwds: dict[int, np.ndarray], links: list[Link], radii: list[float], cellsize=1.0, *,
                     valid: np.ndarray | None = None, percent: bool = False, want_sum: bool = False,
                     progress: Callable[[str, int, int], None] | None = None) -> BarrierResult:
    """Barrier scores for every radius, their maximum over radii and the barrier circles (host arrays)."""
    if not any(lk.active for lk in links):
        raise InputError("no active links: nothing for Barrier Mapper to score")
    xp = get_backend().xp
    report = progress or (lambda stage, done, total: None)
    vmask = None if valid is None else xp.asarray(valid)
    max_by, sum_by = {}, ({} if want_sum else None)
    agg_max = agg_sum = circ_max = circ_sum = None

    def nanmax2(a, b):
        return b if a is None else xp.where(xp.isnan(a), b, xp.where(xp.isnan(b), a, xp.maximum(a, b)))

    def circles(a, r):
        c = focal_max_disc(xp.where(xp.isnan(a), -xp.inf, a), r, cellsize, xp)
        return xp.where(xp.isfinite(c), c, xp.nan)

    for k, r in enumerate(radii):
        mx, sm = barrier_scores_for_radius(cwds, links, r, cellsize, percent=percent, want_sum=want_sum, xp=xp)
        if vmask is not None:
            mx = xp.where(vmask, mx, xp.nan)
            sm = None if sm is None else xp.where(vmask, sm, xp.nan)
        max_by[r] = to_host(mx)
        agg_max = nanmax2(agg_max, mx)
        circ_max = nanmax2(circ_max, circles(mx, r))
        if want_sum:
            sum_by[r] = to_host(sm)
            agg_sum = nanmax2(agg_sum, sm)
            circ_sum = nanmax2(circ_sum, circles(sm, r))
        report("barriers", k + 1, len(radii))
    if vmask is not None:
        circ_max = xp.where(vmask, circ_max, xp.nan)
        circ_sum = None if circ_sum is None else xp.where(vmask, circ_sum, xp.nan)
    host = (lambda a: None if a is None else to_host(a))
    return BarrierResult(list(radii), max_by, sum_by, host(agg_max), host(agg_sum), host(circ_max),
                         host(circ_sum), percent)
