"""The node-current sums of ``currents.CurrentMapper`` as two compiled loops over the cells (numba):
the same flows, the same cut, each cell's additions in the same order, so the same bits.

Why: the NumPy form makes every flow twice per pass in band-sized arrays; an all-to-one job with 43
per-point maps of 2 M cells spent 9 s of its 43 there. As loops (one for the largest flow, one per
direction for the sums) a cell's flows are a few multiply-adds on values already in cache: 6000 x
4000 cells, 8 neighbours, 0.6-0.8 s against 1.2-1.65 s.

The order that makes the bits: per direction (e, s, se, sw, as stored), ``CurrentMapper`` adds a
cell's inflow as the target of the edge from behind it, then as the source of the edge ahead of it
(its reverse part); its outflow as that source, then as that target (reverse part). A flow that
fails the cut adds a zero, which changes no sum that starts at +0.0, so the loop skips it.
"""
from __future__ import annotations

import threading

import numpy as np

from .backend import compile_loop, numba_available

# maps smaller than this stay with the NumPy passes (importing numba costs ~0.3 s)
MIN_CELLS = 1 << 20

_compiled: dict = {}
_lock = threading.Lock()  # one compile (or cache load) when a warming thread and a map meet
_wanted = False  # a job asked for the loops (request): numba costs ~140 MB of resident memory


available = numba_available  # installed and importable (only looked up until a job asks)


def _largest(v, we, ws, wse, wsw, eight):
    """Largest |w (v_src - v_dst)| over the stored edges."""
    m, n = v.shape
    best = 0.0
    for i in range(m):
        for j in range(n):
            vc = v[i, j]
            if j + 1 < n:
                best = max(best, abs((vc - v[i, j + 1]) * we[i, j]))
            if i + 1 < m:
                best = max(best, abs((vc - v[i + 1, j]) * ws[i, j]))
                if eight:
                    if j + 1 < n:
                        best = max(best, abs((vc - v[i + 1, j + 1]) * wse[i, j]))
                    if j >= 1:
                        best = max(best, abs((vc - v[i + 1, j - 1]) * wsw[i, j]))
    return best


def _sums(v, w, di, dj, cut, inflow, outflow):
    """Add one direction's flows at or above ``cut`` to each cell's inflow and outflow, in
    CurrentMapper's order: inflow as the target of the edge from behind, then as the source of
    the edge ahead (its reverse part); outflow as that source, then as that target (reverse)."""
    m, n = v.shape
    for i in range(m):
        rb = i - di >= 0
        ra = i + di < m
        for j in range(n):
            vc = v[i, j]
            has_b = rb and 0 <= j - dj < n
            has_a = ra and 0 <= j + dj < n
            back = (v[i - di, j - dj] - vc) * w[i - di, j - dj] if has_b else 0.0
            ahead = (vc - v[i + di, j + dj]) * w[i, j] if has_a else 0.0
            fin = inflow[i, j]
            fout = outflow[i, j]
            if has_b and back >= cut:
                fin += back
            if has_a and -ahead >= cut:
                fin += -ahead
            if has_a and ahead >= cut:
                fout += ahead
            if has_b and -back >= cut:
                fout += -back
            inflow[i, j] = fin
            outflow[i, j] = fout


def _kernels():
    with _lock:
        if not _compiled:
            _compiled["largest"] = compile_loop(_largest)
            _compiled["sums"] = compile_loop(_sums)
    return _compiled["largest"], _compiled["sums"]


def wanted() -> bool:
    """Whether this process has asked for the loops (``request``): maps use them only then, since
    numba holds ~140 MB of resident memory, worth it for a job of many maps, not for one."""
    return _wanted


def request() -> None:
    """Ask for the loops (a job of many current maps): large maps use them from now on, and numba
    and the loops (~0.6-0.9 s from numba's disk cache) load in a thread meanwhile, so the first map
    does not wait for them."""
    global _wanted
    if available() and not _wanted:
        _wanted = True
        threading.Thread(target=warm, name="gpucircuit-warm", daemon=True).start()


def warm() -> None:
    """Load (or compile) the loops for float64 and float32 weights now."""
    if not available():
        return
    try:
        for dtype in (np.float64, np.float32):
            w = np.ones((2, 2), dtype)
            flow_sums(np.zeros((2, 2)), [(w, 0, 1), (w, 1, 0), (w, 1, 1), (w, 1, -1)], 0.0)
    except ImportError:
        pass  # the maps fall back to the NumPy passes


def flow_sums(volts: np.ndarray, directions, cut_fraction: float):
    """(inflow, outflow) of every cell, float64 (m, n), from the voltages and the stored edge
    directions ``[(w, di, dj)]`` (e, s and, with 8 neighbours, se, sw), flows below
    ``cut_fraction`` of the largest counting as zero."""
    largest, sums = _kernels()
    w = [np.ascontiguousarray(a) for a, _, _ in directions]
    eight = len(w) == 4
    v = np.ascontiguousarray(volts, dtype=np.float64)
    cut = cut_fraction * largest(v, *(w if eight else w + [w[0], w[0]]), eight)  # placeholders, never read
    inflow = np.zeros(v.shape)
    outflow = np.zeros(v.shape)
    for a, (_, di, dj) in zip(w, directions):  # direction by direction: each cell's order kept
        sums(v, a, di, dj, cut, inflow, outflow)
    return inflow, outflow
