"""Corridor-width sweep: choose the cost-weighted-distance cutoff where cumulative current settles.

The seed studies run Pinchpoint Mapper for a series of CWD cutoffs (e.g. 1,000–9,000 m) and take
the corridor width at which the total (cumulative) current changes least between consecutive
cutoffs.  :func:`width_sweep` makes that choice reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from gpucircuit.errors import InputError

__all__ = ["WidthSweep", "width_sweep"]


@dataclass
class WidthSweep:
    """Result of :func:`width_sweep`.

    ``rows``: one dict per cutoff, in increasing cutoff order, with keys ``cutoff``,
    ``cumulative_current``, ``delta`` (``C_k - C_{k-1}``; ``None`` for the first cutoff),
    ``relative_change`` (``|delta| / C_{k-1}``; ``None`` for the first cutoff, ``inf`` where
    ``C_{k-1} == 0``) and ``selected`` (True only for the chosen cutoff).
    ``best_cutoff``: the chosen cutoff; ``best_index``: its position in ``rows``.
    """

    rows: list[dict] = field(default_factory=list)
    best_cutoff: float = math.nan
    best_index: int = -1


def width_sweep(cutoffs, cumulative_current) -> WidthSweep:
    """Pick the CWD cutoff where the cumulative current changes least.

    ``cutoffs``: the swept cutoffs ``w_0 < w_1 < ... < w_n`` (at least two, strictly
    increasing once sorted; they are sorted together with their totals).
    ``cumulative_current``: the total current ``C_k`` obtained at each cutoff (same length,
    finite, non-negative).

    Definition: for ``k >= 1`` the change is ``Δ_k = C_k − C_{k−1}`` and the relative change is
    ``r_k = |Δ_k| / C_{k−1}`` (``inf`` when ``C_{k−1} = 0``).  The selected cutoff is ``w_k``
    for the ``k >= 1`` with the smallest ``r_k``; ties go to the smaller cutoff.  That is, the
    chosen width is the one reached by the step over which the total current is most stable.
    """
    w = np.asarray(cutoffs, dtype=np.float64).ravel()
    c = np.asarray(cumulative_current, dtype=np.float64).ravel()
    if w.size != c.size:
        raise InputError(f"width sweep: {w.size} cutoffs but {c.size} cumulative-current totals")
    if w.size < 2:
        raise InputError("width sweep needs at least two cutoffs")
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(c))):
        raise InputError("width sweep: cutoffs and cumulative currents must be finite")
    if np.any(c < 0):
        raise InputError("width sweep: cumulative current totals must be non-negative")
    order = np.argsort(w, kind="stable")
    w, c = w[order], c[order]
    if np.any(np.diff(w) <= 0):
        raise InputError("width sweep: cutoffs must be distinct")
    delta = np.diff(c)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(c[:-1] > 0, np.abs(delta) / np.where(c[:-1] > 0, c[:-1], 1.0), np.inf)
    if not np.any(np.isfinite(rel)):
        raise InputError("width sweep: cumulative current is zero before every step; nothing to compare")
    best = int(np.argmin(rel)) + 1          # argmin returns the first (smallest cutoff) on ties
    rows = []
    for i in range(w.size):
        rows.append({
            "cutoff": float(w[i]),
            "cumulative_current": float(c[i]),
            "delta": None if i == 0 else float(delta[i - 1]),
            "relative_change": None if i == 0 else float(rel[i - 1]),
            "selected": i == best,
        })
    return WidthSweep(rows=rows, best_cutoff=float(w[best]), best_index=best)
