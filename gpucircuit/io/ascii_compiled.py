"""ESRI ASCII grid rows formatted by one compiled loop (numba): the bytes of ``ascii_text``'s NumPy
passes, by the same arithmetic, value by value straight into the output buffer.

Why: the NumPy passes build a 24-byte record per value and compact it (0.135 us a value measured
on 16.8 M values); written as a loop, a value's text goes where it belongs with nothing in between
(0.069 us; ``benchmarks/bench_ascii.py``). Maps are text in most Circuitscape jobs, and a 24 M-cell
one-pair job writes two of them.

The rounding rule is ``ascii_text``'s: 10 significant digits from ``|x| * 10**(9 - exponent)`` in
float64, trusted only where that scaled value lies farther than ``TIE_MARGIN`` from a half-integer;
other values (possible decimal ties, infinities, NaN nodata) are left out of the buffer, their
places recorded, and filled by Python's ``%`` afterwards: exact by fallback, as there.
``available()`` is False where numba cannot be imported; callers then use the NumPy passes, as
they do for maps under ``MIN_VALUES``.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import compile_loop, numba_available
from .ascii_text import TIE_MARGIN, shared_tables

_SCALE1, _SCALE2, _EXP_MIN, _WHOLE, _NDIGITS = shared_tables()


# the longest text of one value: space, sign, "0.000" and 10 digits with a point
# (" -0.0001234567891": 17) or scientific (" -1.234567891e-308": 18)
_MAX_BYTES = 18
_SLACK = 16  # bytes the last value's whole-part writes may reach past its text
# 10**k as float64 (0 and inf at the ends), k from _EXP_MIN: where a value's decimal exponent starts
_POW10 = np.array([float(f"1e{k}") for k in range(_EXP_MIN, _EXP_MIN + _SCALE1.size + 1)])


# maps smaller than this are formatted by the NumPy passes: importing numba and loading the compiled
# loop costs ~0.5 s, the NumPy passes ~0.1 s per million values
MIN_VALUES = 1 << 20

# numba installed and importable: only looked up here, the writer processes import it (``warm``)
available = numba_available


def _kernel(x, row, pos, nodata, scale1, scale2, pow10, exp_min, margin, whole, ndigits, out, holes):
    """The rows ``row..`` of ``x`` (m, n) as ``"%.10g"`` values, each after a space but the first,
    each row ending in ``" \\n"``, into ``out`` from byte ``pos``. A value it cannot decide is
    skipped and ``holes[h] = (flat index, byte offset)`` recorded; it stops after the row that
    leaves ``holes`` too little room for another. Returns (next row, bytes end, holes used)."""
    m, n = x.shape
    nh = 0
    digits = np.empty(10, np.uint8)
    i = row
    while i < m and nh + n <= holes.shape[0]:
        for j in range(n):
            if j > 0:
                out[pos] = 32
                pos += 1
            v = np.float64(x[i, j])
            if v != v:
                v = nodata
            a = abs(v)
            neg = v < 0
            if a == 0.0:
                if math.copysign(1.0, v) < 0:
                    out[pos] = 45
                    pos += 1
                out[pos] = 48
                pos += 1
                continue
            if not a < math.inf:
                holes[nh, 0] = i * n + j
                holes[nh, 1] = pos
                nh += 1
                continue
            # decimal exponent from the binary one (a libm log10 would take half the time of the
            # whole value): a in [2**(b-1), 2**b) has it at L or L + 1, L = floor((b-1) log10(2))
            e = int(math.floor((math.frexp(a)[1] - 1) * 0.30102999566398120))
            if a >= pow10[e + 1 - exp_min]:
                e += 1
            k = e - exp_min
            if k < 0 or k >= scale1.shape[0]:
                holes[nh, 0] = i * n + j
                holes[nh, 1] = pos
                nh += 1
                continue
            s = a * scale1[k] * scale2[k]
            q = math.floor(s + 0.5)
            if not ((abs(s - q) < 0.5 - margin) & (abs(q - 5.5e9) <= 4.5e9)):
                holes[nh, 0] = i * n + j
                holes[nh, 1] = pos
                nh += 1
                continue
            if q == 1e10:  # 9.9999999995 -> 10.00000000: the exponent goes up
                q = 1e9
                e += 1
            d = np.int64(q)
            hi = d // 100000
            lo = d - hi * 100000
            # the ten digits' ASCII from the 5-digit tables (integer division by 10 ten times
            # costs more than the rest of the value)
            wh, wl = whole[hi], whole[lo]
            for t in range(5):
                digits[t] = (wh >> np.uint64(8 * t)) & np.uint64(255)
                digits[t + 5] = (wl >> np.uint64(8 * t)) & np.uint64(255)
            count = ndigits[hi] if lo == 0 else 5 + ndigits[lo]
            if count == 0:
                count = 1
            # each part is written whole and the position then moved past the bytes that count
            # (trailing zeros, a point with nothing after it): fewer branches to mispredict;
            # the buffer has room for what lands past the end
            out[pos] = 45
            pos += neg
            if 0 <= e < 10:  # fixed: e + 1 digits before the point, all kept
                p = e + 1
                for t in range(10):
                    out[pos + t + (t >= p)] = digits[t]
                out[pos + p] = 46
                pos += p if count <= p else count + 1
            elif -4 <= e < 0:  # fixed below 1: "0." and -e - 1 zeros
                for t in range(5):
                    out[pos + t] = 46 if t == 1 else 48
                pos += 1 - e
                for t in range(10):
                    out[pos + t] = digits[t]
                pos += count
            else:  # scientific: d.ddd e+XX, at least two exponent digits
                out[pos] = digits[0]
                out[pos + 1] = 46
                for t in range(1, 10):
                    out[pos + 1 + t] = digits[t]
                pos += 1 if count == 1 else count + 1
                out[pos] = 101
                out[pos + 1] = 43 if e >= 0 else 45
                pos += 2
                ae = abs(e)
                if ae >= 100:
                    out[pos] = 48 + ae // 100
                    pos += 1
                out[pos] = 48 + (ae // 10) % 10
                out[pos + 1] = 48 + ae % 10
                pos += 2
        out[pos] = 32
        out[pos + 1] = 10
        pos += 2
        i += 1
    return i, pos, nh


_compiled = None


def _kernel_compiled():
    """The loop compiled once per process (numba caches it on disk for the next run)."""
    global _compiled
    if _compiled is None:
        _compiled = compile_loop(_kernel)
    return _compiled


# holes recorded per kernel call: a row at least, so a row of values none of which it can decide
# (infinities, NaN nodata) still goes through
_HOLES = 4096


def warm() -> None:
    """Load (or compile) the loop for float64 and float32 maps now, e.g. in a writer process while
    the job solves: ~0.5 s per process from numba's disk cache, ~2 s the first time."""
    if available():
        for dtype in (np.float64, np.float32):
            rows_text(np.zeros((1, 1), dtype))


def rows_text(block: np.ndarray, nodata: float | None = None):
    """The rows of a 2-D block as ``"%.10g "`` per value and ``"\\n"`` per row (NaN written as
    ``nodata`` when given), as a bytes-like object (a uint8 array, or bytes where values had to be
    formatted by Python) for ``file.write``."""
    x = np.asarray(block)
    if x.dtype not in (np.float64, np.float32):
        x = x.astype(np.float64)
    m, n = x.shape
    if n == 0:
        return b"\n" * m
    out = np.empty(m * (n * _MAX_BYTES + 2) + _SLACK, np.uint8)
    holes = np.empty((max(_HOLES, n), 2), np.int64)
    fill = np.float64(np.nan if nodata is None else nodata)
    kernel = _kernel_compiled()
    flat = x.reshape(-1)
    row, pos, filled = 0, 0, []
    while row < m:
        row, pos, nh = kernel(x, row, pos, fill, _SCALE1, _SCALE2, _POW10, _EXP_MIN, TIE_MARGIN, _WHOLE, _NDIGITS,
                              out, holes)
        for index, offset in holes[:nh].tolist():
            v = float(flat[index])
            filled.append((offset, b"%.10g" % (v if v == v or nodata is None else float(nodata))))
    if not filled:
        return out[:pos]
    pieces, at = [], 0
    for offset, text in filled:
        pieces += [out[at:offset], text]
        at = offset
    pieces.append(out[at:pos])
    return b"".join(pieces)


def grid_rows(block: np.ndarray, nodata: float | None = None) -> bytes:
    """``ascii_text.grid_rows`` by the compiled loop, as bytes."""
    return bytes(rows_text(block, nodata))
