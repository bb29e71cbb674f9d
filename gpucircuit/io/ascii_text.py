"""ESRI ASCII grid rows as bytes, ``"%.10g "`` per value and ``"\\n"`` per row, without a Python
object per value: byte for byte what Python's ``%`` writes, 3-4 times faster (0.11 us a value).

Each value becomes its 10 significant digits as an integer from float64 arithmetic: the scaled
value ``|x| * 10**(9 - exponent)`` carries an error below 1e-5, so wherever it lies within
``TIE_MARGIN`` of a half-integer (a possible decimal tie, or a rounding that error could flip) the
value is formatted by Python's ``%`` instead: exact by fallback, not by hope. Infinities and NaNs
go the same way. The digits are then laid out by ``%g``'s rules (fixed notation for exponents
-4..9, else ``d.ddde+XX``; trailing zeros and a bare point dropped) into a 24-byte record per value
(three little-endian uint64 words) whose unused bytes are NUL; dropping the NULs leaves the text.
A record holds the space *before* its value (none in a row's first column; the row ends with a
space and a newline), so the usual value is one run of bytes, which NumPy's compaction copies
fastest (it pays per run).
NumPy only: formatting text is host work whatever computed the map.
"""
from __future__ import annotations

import numpy as np

# scaled values within this of a half-integer are formatted by Python: their float64 error
# (< 5e-6 below 1e10: four roundings) could otherwise round them the wrong way
TIE_MARGIN = 1e-4

_U = np.uint64
_RECORD = 24  # bytes per value: " -0.000" 7 (right-aligned), digits and point 11, "e+308" 5, one spare
_EXP_MIN, _EXP_MAX = -330, 310  # decimal exponents of float64 (subnormals from -324), with room


def _word(text: bytes, at: int = 0) -> int:
    """``text`` as the bytes ``at..`` of a little-endian uint64."""
    return int.from_bytes(text, "little") << (8 * at)


def _chunk_tables():
    """By 5-digit chunk (zero-padded): its ASCII in the low 5 bytes, the same with trailing zeros
    as NUL (all NUL for 0), and how many digits that leaves."""
    c = np.arange(100_000)
    whole = sum(((c // 10 ** (4 - i)) % 10 + 48).astype(_U) << _U(8 * i) for i in range(5))
    left, rest = np.full(c.shape, 5), c.copy()
    for _ in range(5):
        zero = (rest % 10 == 0) & (left > 0)
        left -= zero
        rest = np.where(zero, rest // 10, rest)
    return whole, whole & ((_U(1) << (8 * left).astype(_U)) - _U(1)), left.astype(np.intp)


_WHOLE, _STRIPPED, _NDIGITS = _chunk_tables()
_NDIGITS_LAST = np.where(_NDIGITS > 0, _NDIGITS + 5, 0)  # a value's digits when its second chunk is not 0
# by the number of integer digits (0..10): the bytes of each chunk they cover
_KEEP_H = np.array([(1 << (8 * min(k, 5))) - 1 for k in range(11)], _U)
_KEEP_L = np.array([(1 << (8 * max(k - 5, 0))) - 1 for k in range(11)], _U)


def _point_tables():
    """By the number of digits before the point (0: no point): for the first and the second
    chunk, the mask of its bytes before the point and the point shifted into place."""
    low_h, dot_h, low_l, dot_l = (np.zeros(10, _U) for _ in range(4))
    for p in range(10):
        kh = p if 0 < p <= 5 else 5
        kl = p - 5 if p > 5 else 5
        low_h[p], low_l[p] = (1 << (8 * kh)) - 1, (1 << (8 * kl)) - 1
        dot_h[p] = _word(b".", kh) if 0 < p <= 5 else 0
        dot_l[p] = _word(b".", kl) if p > 5 else 0
    return low_h, dot_h, low_l, dot_l


_LOW_H, _DOT_H, _LOW_L, _DOT_L = _point_tables()


def _exponent_tables():
    """By decimal exponent X: the digits before the point (fixed notation X + 1, scientific 1,
    below 1 none: the front holds the point); the front (bytes 0..6 of word 0, right-aligned:
    space, sign and the ``0.000`` of fixed notation below 1), four tables: positive and negative,
    then both again without the space, for a row's first value; the exponent (bytes 2..6 of word
    2: ``e+XX`` of scientific notation); 10**(9 - X) as two correctly rounded float64 factors
    (one would overflow beyond 10**308)."""
    exps = range(_EXP_MIN, _EXP_MAX + 1)
    before = np.array([x + 1 if 0 <= x < 10 else 0 if -4 <= x < 0 else 1 for x in exps], np.intp)
    heads = [b"0." + b"0" * (-x - 1) if -4 <= x < 0 else b"" for x in exps]
    front = np.array([_word(f, 7 - len(f)) for space in (b" ", b"") for sign in (b"", b"-")
                      for f in (space + sign + h for h in heads)], _U)
    exponent = np.array([0 if -4 <= x < 10 else _word(b"e%+03d" % x, 2) for x in exps], _U)
    first = np.array([float(f"1e{min(9 - x, 300)}") for x in exps])
    second = np.array([float(f"1e{9 - x - min(9 - x, 300)}") for x in exps])
    return before, front, exponent, first, second


_BEFORE, _FRONT, _EXPONENT, _SCALE1, _SCALE2 = _exponent_tables()
_NEWLINE = np.array([_word(b" \n"), 0, 0], _U)
# by the point's place (as in _point_tables): where the second chunk starts, right after the first
# (6 bytes with the point, 5 without), as shifts into words 1 and 2
_LO_UP = np.array([32 + 8 * (0 < p <= 5) for p in range(10)], _U)
_LO_DOWN = np.array([32 - 8 * (0 < p <= 5) for p in range(10)], _U)


def _significand(a: np.ndarray):
    """(10 significant digits as an int64 in [1e9, 1e10), decimal exponent - _EXP_MIN, exact) of
    positive finite ``a``; ``exact`` is False where float64 cannot decide the rounding.

    log10 can put a value a few ulps from a power of ten on the wrong side of it: the scaled
    value is then within 1e-3 of 1e9 or 1e10 and rounds to it, which the carry turns into the
    same digits and exponent as from the right side. Anything else outside [1e9, 1e10] is left
    to Python."""
    x_at = np.floor(np.log10(a)).astype(np.intp) - _EXP_MIN
    s = a * np.take(_SCALE1, x_at) * np.take(_SCALE2, x_at)
    q = np.rint(s)
    exact = (np.abs(s - q) < 0.5 - TIE_MARGIN) & (np.abs(q - 5.5e9) <= 4.5e9)
    carry = np.flatnonzero(q == 1e10)  # 9.9999999995 -> 10.00000000: the exponent goes up
    q[carry] = 1e9
    x_at[carry] += 1
    return q.astype(np.int64), x_at, exact


def _with_point(chunk: np.ndarray, point: np.ndarray, low: np.ndarray, dot: np.ndarray) -> np.ndarray:
    """A 5-digit chunk with the point inserted where ``point`` says, when it falls in this chunk."""
    keep = np.take(low, point)
    return (chunk & keep) | np.take(dot, point) | ((chunk & ~keep) << _U(8))


def _records(x: np.ndarray, out: np.ndarray) -> None:
    """``" %.10g"`` of each float64 of ``x`` (2-D; no space in column 0) into ``out``
    (``x.shape + (3,)`` uint64), NUL-padded."""
    x = x.reshape(-1)
    neg = np.signbit(x)
    a = np.abs(x)
    finite = (a > 0) & (a < np.inf)
    digits, x_at, exact = _significand(np.where(finite, a, 1.0))
    hi, lo = np.divmod(digits, 100_000)
    hi_text, lo_text, count = np.take(_WHOLE, hi), np.take(_STRIPPED, lo), np.take(_NDIGITS_LAST, lo)
    ends = np.flatnonzero(lo == 0)  # the first chunk ends the digits: its trailing zeros go too
    hi_text[ends], count[ends] = np.take(_STRIPPED, hi[ends]), np.take(_NDIGITS, hi[ends])
    before = np.take(_BEFORE, x_at)
    whole = np.flatnonzero(count < before)  # 1200 keeps its zeros, 1.2 not
    hi_text[whole] = np.take(_WHOLE, hi[whole]) & np.take(_KEEP_H, before[whole])
    lo_text[whole] = np.take(_WHOLE, lo[whole]) & np.take(_KEEP_L, before[whole])
    point = before * (count > before)  # no point without a digit after it
    hi_text = _with_point(hi_text, point, _LOW_H, _DOT_H)
    late = np.flatnonzero(point > 5)
    lo_text[late] = _with_point(lo_text[late], point[late], _LOW_L, _DOT_L)
    zero = np.flatnonzero(a == 0)
    finite[zero] = True  # "0" and "-0" are laid out like the others
    hi_text[zero], lo_text[zero], x_at[zero] = ord("0"), 0, -_EXP_MIN
    shape = out.shape[:-1]  # out may be a strided view: written in place, never reshaped
    front = x_at + neg * _EXPONENT.size
    front.reshape(shape)[..., 0] += 2 * _EXPONENT.size  # no space before a row's first value
    out[..., 0] = (np.take(_FRONT, front) | (hi_text << _U(56))).reshape(shape)
    out[..., 1] = ((hi_text >> _U(8)) | (lo_text << np.take(_LO_UP, point))).reshape(shape)
    out[..., 2] = ((lo_text >> np.take(_LO_DOWN, point)) | np.take(_EXPONENT, x_at)).reshape(shape)
    for i in np.flatnonzero(~(exact & finite)).tolist():
        text = (b" " if i % shape[-1] else b"") + b"%.10g" % float(x[i])
        out[np.unravel_index(i, shape)] = np.frombuffer(text.ljust(_RECORD, b"\0"), "<u8")


def grid_rows(block: np.ndarray) -> bytes:
    """The rows of a 2-D block as ESRI ASCII grid text: ``"%.10g " % value`` for every value
    (float32 widened to float64 first) and ``"\\n"`` after every row."""
    x = np.asarray(block, dtype=np.float64)
    m, n = x.shape
    if n == 0:
        return b"\n" * m
    words = np.empty((m, n + 1, 3), "<u8")
    words[:, n] = _NEWLINE
    _records(x, words[:, :n])
    text = words.view(np.uint8).reshape(-1)
    return text[text != 0].tobytes()


def shared_tables():
    """What the compiled loop (``ascii_compiled``) computes with, so both make the same digits:
    10**(9 - X) as two factors and the smallest X (tables by X - that), each 5-digit chunk's ASCII
    and how many digits it keeps without its trailing zeros."""
    return _SCALE1, _SCALE2, _EXP_MIN, _WHOLE, _NDIGITS
