"""ESRI ASCII grid rows as bytes, ``"%.10g "`` per value and ``"\\n"`` per row, without a Python
object per value: byte for byte what Python's ``%`` writes, about ten times faster.

Each value becomes its 10 significant digits as an integer, from float64 arithmetic: the scaled
value ``|x| * 10**(9 - exponent)`` carries an error below 1e-5, so wherever it lies within
``TIE_MARGIN`` of a half-integer (a possible decimal tie, or a rounding that error could flip) the
value is formatted by Python's ``%`` instead: exact by fallback, not by hope. Infinities and NaNs
go the same way. The digits are then laid out by ``%g``'s rules (fixed notation for exponents
-4..9, else ``d.ddde+XX``; trailing zeros and a bare point dropped) into a 24-byte record per value
(three little-endian uint64 words) whose unused bytes are NUL; dropping the NULs leaves the text.
NumPy only: formatting text is host work whatever computed the map.
"""
from __future__ import annotations

import numpy as np

# scaled values within this of a half-integer are formatted by Python: their float64 error
# (< 5e-6 at 1e10, four roundings) could otherwise round them the wrong way
TIE_MARGIN = 1e-4

_U = np.uint64
_RECORD = 24  # bytes per value: sign 1, "0.000" 5, digits and point 12, exponent 5, space 1
_EXP_MIN, _EXP_MAX = -330, 310  # decimal exponents of float64 (subnormals from -324) with room


def _word(text: bytes, at: int = 0) -> int:
    """``text`` as the bytes ``at..`` of a little-endian uint64."""
    return int.from_bytes(text, "little") << (8 * at)


def _chunk_tables():
    """5-digit chunks (zero-padded) as ASCII in the low 5 bytes, and how many digits are left
    once trailing zeros are dropped (0 for 0)."""
    c = np.arange(100_000)
    whole = sum(((c // 10 ** (4 - i)) % 10 + 48).astype(_U) << _U(8 * i) for i in range(5))
    left, rest = np.full(c.shape, 5), c.copy()
    for _ in range(5):
        zero = (rest % 10 == 0) & (left > 0)
        left -= zero
        rest = np.where(zero, rest // 10, rest)
    return whole, left.astype(np.intp)


_WHOLE, _NDIGITS = _chunk_tables()
# by the number of digits written (0..10): the bytes each chunk keeps
_KEEP_H = np.array([(1 << (8 * min(k, 5))) - 1 for k in range(11)], _U)
_KEEP_L = np.array([(1 << (8 * max(k - 5, 0))) - 1 for k in range(11)], _U)


def _point_tables():
    """By the point's place ``p`` in the 10 digits (10: no point): for each 5-digit chunk the mask
    of the bytes before the point and the point itself shifted into place."""
    low_h, dot_h, low_l, dot_l = (np.zeros(11, _U) for _ in range(4))
    for p in range(11):
        kh = p if p <= 5 else 5
        kl = p - 5 if 5 < p < 10 else 5
        low_h[p], low_l[p] = (1 << (8 * kh)) - 1, (1 << (8 * kl)) - 1
        dot_h[p] = _word(b".", kh) if p <= 5 else 0
        dot_l[p] = _word(b".", kl) if 5 < p < 10 else 0
    return low_h, dot_h, low_l, dot_l


_LOW_H, _DOT_H, _LOW_L, _DOT_L = _point_tables()


def _exponent_tables():
    """By decimal exponent: the ``0.000`` prefix of fixed notation below 1 (bytes 1..5 of word 0),
    the ``e+XX`` suffix of scientific notation (bytes 2..6 of word 2), and 10**k as two float64
    factors (k beyond 300 would overflow as one)."""
    exps = range(_EXP_MIN, _EXP_MAX + 1)
    # digits before the point: fixed notation X + 1 (10 = a point never needed, as below 1 where
    # the prefix holds it), scientific 1
    before = np.array([x + 1 if 0 <= x < 10 else 10 if -4 <= x < 0 else 1 for x in exps], np.intp)
    prefix = np.array([_word(b"0." + b"0" * (-x - 1), 1) if -4 <= x < 0 else 0 for x in exps], _U)
    suffix = np.array([0 if -4 <= x < 10 else _word(b"e%+03d" % x, 2) for x in exps], _U)
    ks = range(9 - _EXP_MAX, 9 - _EXP_MIN + 1)  # scale 10**(9 - exponent)
    first = np.array([float(f"1e{min(k, 300)}") for k in ks])
    second = np.array([float(f"1e{k - min(k, 300)}") for k in ks])
    whole = np.array([x + 1 if 0 <= x < 10 else 0 for x in exps], np.intp)  # digits never dropped
    return before, whole, prefix, suffix, first, second


_INTEGER_DIGITS, _INTEGER_ZEROS, _PREFIX, _SUFFIX, _SCALE1, _SCALE2 = _exponent_tables()
_SPACE = _U(_word(b" ", 7))
_NEWLINE = np.array([_word(b"\n"), 0, 0], _U)


def _scaled(a: np.ndarray, e: np.ndarray) -> np.ndarray:
    """``a * 10**(9 - e)`` within four roundings (both factors are correctly rounded)."""
    k = _EXP_MAX - e  # index of 10**(9 - e) in the scale tables
    return a * np.take(_SCALE1, k) * np.take(_SCALE2, k)


def _significand(a: np.ndarray):
    """(10 significant digits as float64 integers in [1e9, 1e10], decimal exponent, exact) of
    positive finite ``a``; ``exact`` is False where float64 cannot decide the rounding."""
    e = np.floor(np.log10(a)).astype(np.intp)
    np.clip(e, -324, 308, out=e)
    s = _scaled(a, e)
    off = np.flatnonzero((s < 1e9) | (s >= 1e10))  # log10 rounded across a power of ten
    if off.size:
        e[off] += np.where(s[off] < 1e9, -1, 1)
        s[off] = _scaled(a[off], e[off])
    q = np.rint(s)
    exact = (np.abs(s - q) < 0.5 - TIE_MARGIN) & (q >= 1e9) & (q <= 1e10)
    carry = q == 1e10  # 9.9999999995 -> 10.00000000: one digit more before the point
    q[carry] = 1e9
    return q, e + carry, exact


def _records(x: np.ndarray, out: np.ndarray) -> None:
    """``"%.10g "`` of each float64 of ``x`` into ``out`` (len(x), 3) uint64, NUL-padded."""
    neg = np.signbit(x)
    a = np.abs(x)
    zero = a == 0
    finite = np.isfinite(a)
    q, e, exact = _significand(np.where(finite & ~zero, a, 1.0))
    q = q.astype(np.int64)
    hi, lo = np.divmod(q, 100_000)
    digits = np.where(lo == 0, np.take(_NDIGITS, hi), np.take(_NDIGITS, lo) + 5)  # trailing zeros dropped
    x_at = e - _EXP_MIN
    before = np.take(_INTEGER_DIGITS, x_at)
    written = np.maximum(digits, np.take(_INTEGER_ZEROS, x_at))  # 1200 keeps its zeros, 1.2 not
    hi_text = np.take(_WHOLE, hi) & np.take(_KEEP_H, written)
    lo_text = np.take(_WHOLE, lo) & np.take(_KEEP_L, written)
    point = np.where(digits > before, before, 10)  # no point when no fraction digit is left
    hi_text, lo_text = _with_point(hi_text, point, _LOW_H, _DOT_H), _with_point(lo_text, point, _LOW_L, _DOT_L)
    hi_text[zero], lo_text[zero], x_at[zero] = ord("0"), 0, -_EXP_MIN
    out[:, 0] = (neg.astype(_U) * _U(ord("-"))) | np.take(_PREFIX, x_at) | (hi_text << _U(48))
    out[:, 1] = (hi_text >> _U(16)) | (lo_text << _U(32))
    out[:, 2] = (lo_text >> _U(32)) | np.take(_SUFFIX, x_at) | _SPACE
    for i in np.flatnonzero(~(exact | zero) | ~finite).tolist():
        text = (b"%.10g" % float(x[i])).ljust(_RECORD - 1, b"\0") + b" "
        out[i] = np.frombuffer(text, "<u8")


def _with_point(chunk: np.ndarray, point: np.ndarray, low: np.ndarray, dot: np.ndarray) -> np.ndarray:
    """A 5-digit chunk with the point inserted where ``point`` says (when it falls in this chunk)."""
    keep = np.take(low, point)
    return (chunk & keep) | np.take(dot, point) | ((chunk & ~keep) << _U(8))


def grid_rows(block: np.ndarray) -> bytes:
    """The rows of a 2-D block as ESRI ASCII grid text: ``"%.10g " % value`` for every value
    (float32 widened to float64 first) and ``"\n"`` after every row."""
    x = np.ascontiguousarray(block, dtype=np.float64)
    m, n = x.shape
    words = np.empty((m, n + 1, 3), "<u8")
    words[:, n] = _NEWLINE
    values = np.empty((m * n, 3), "<u8")
    _records(x.reshape(-1), values)
    words[:, :n] = values.reshape(m, n, 3)
    text = words.view(np.uint8).reshape(-1)
    return text[text != 0].tobytes()
