"""ASCII grid text without a Python object per value: byte for byte what ``"%.10g " % value``
writes (Python's correctly rounded, ties-to-even formatting), on values chosen where float64
arithmetic is most likely to get the 10th digit or the exponent wrong."""
from fractions import Fraction

import numpy as np
import pytest
from rasterio.transform import from_origin

from gpucircuit.io import ascii_compiled, ascii_text
from gpucircuit.io.raster import GridSpec
from gpucircuit.io.raster_write import ascii_grid_header, write_raster

grid_rows = ascii_text.grid_rows  # set per test by the fixture below


@pytest.fixture(autouse=True, params=["numpy", "compiled"])
def implementation(request, monkeypatch):
    """Every test runs on both formatters: the NumPy passes and the compiled loop (which writers
    use where numba is there)."""
    if request.param == "compiled":
        if not ascii_compiled.available():
            pytest.skip("numba is not installed")
        rows = ascii_compiled.grid_rows
        monkeypatch.setattr(ascii_compiled, "MIN_VALUES", 0)  # the writers use it for small maps too
    else:
        monkeypatch.setattr(ascii_compiled, "available", lambda: False)
        rows = ascii_text.grid_rows
    monkeypatch.setitem(globals(), "grid_rows", rows)
    return request.param


def python_rows(block) -> bytes:
    """The writer this module replaced: Python's ``%`` on each row (float32 widened first)."""
    rows = np.asarray(block, dtype=np.float64).tolist()
    n = len(rows[0]) if rows else 0
    return "".join(("%.10g " * n + "\n") % tuple(row) for row in rows).encode()


def assert_same_text(values, width=1000):
    """``values`` as rows of ``width`` (padded with zeros), formatted both ways; the first
    differing values are named on failure."""
    values = np.asarray(values).ravel()
    pad = (-values.size) % width
    grid = np.concatenate([values, np.zeros(pad, values.dtype)]).reshape(-1, width)
    ours, python = grid_rows(grid), python_rows(grid)
    if ours != python:
        a, b = ours.split(), python.split()
        wrong = [(float(grid.flat[i]).hex(), a[i], b[i]) for i in range(min(len(a), len(b))) if a[i] != b[i]]
        raise AssertionError(f"{len(wrong)} values differ, e.g. {wrong[:5]}")


def test_random_values_over_every_exponent_both_signs():
    rng = np.random.default_rng(0)
    n = 2_000_000
    x = np.exp(rng.uniform(np.log(1e-320), np.log(1e300), n)) * rng.choice([-1.0, 1.0], n)
    assert_same_text(x)


def test_map_like_values_and_nodata():
    rng = np.random.default_rng(1)
    x = np.exp(rng.standard_normal(1_000_000) * 4) * 1e-3
    x[rng.random(x.size) < 0.1] = -9999.0
    assert_same_text(x)


def test_integers_keep_their_zeros_before_the_point():
    rng = np.random.default_rng(2)
    digits = rng.integers(1, 17, 200_000)
    x = np.floor(rng.random(digits.size) * 10.0 ** digits)
    x[::3] = np.round(x[::3], -3)  # trailing zeros: 1200, 1234567000
    x = np.concatenate([x, -x, [1e9, 1234567890.0, 9999999999.0, 1e10, 12345678900.0, 2.0 ** 53]])
    assert_same_text(x)


def exact_ties():
    """Values whose exact binary value has 11 significant digits ending in 5: the 10th digit is
    a true tie, rounded to even. Halves of odd integers divided by powers of 2 (1234567890.5,
    123456789.25 ...) and 11-digit integers ending in 5 times 10**t, each checked exact."""
    rng = np.random.default_rng(3)
    ties = []
    for j in range(1, 16):  # K / 2**j has j decimals ending in 5; 11 digits when K * 5**j has 11
        lo, hi = -(-10 ** 10 // 5 ** j), 10 ** 11 // 5 ** j
        for k in rng.integers(lo, hi, 400).tolist():
            k |= 1
            if 10 ** 10 <= k * 5 ** j < 10 ** 11:
                ties.append(Fraction(k, 2 ** j))
    for t in range(9):
        for d in rng.integers(10 ** 9, 10 ** 10, 400).tolist():
            ties.append(Fraction((d * 10 + 5) * 10 ** t))
    out = [float(v) for v in ties if Fraction(float(v)) == v]
    assert len(out) > 5000
    return np.array(out)


def test_exact_decimal_ties_round_to_even():
    x = exact_ties()
    digits = [("%.11e" % v)[:12] for v in x[:50]]
    assert all(d.endswith("5") for d in digits), digits  # really ties at the 10th digit
    assert_same_text(np.concatenate([x, -x, x * 2.0 ** -40, x * 2.0 ** 40]))


def test_near_ties_and_their_neighbours():
    rng = np.random.default_rng(4)
    x = np.exp(rng.uniform(np.log(1e-300), np.log(1e300), 100_000))
    # 10 digits and a 5 (a tie in decimal), then rounded to binary: just above or below the tie
    near = np.array([float("5e".join(("%.9e" % v).split("e"))) for v in x])
    assert_same_text(np.concatenate([near, np.nextafter(near, 0), np.nextafter(near, np.inf), -near]))


def test_subnormals():
    rng = np.random.default_rng(5)
    bits = rng.integers(1, 2 ** 52, 200_000, dtype=np.int64)
    x = bits.view(np.float64)
    tiny = np.array([5e-324, 1e-323, 2.2250738585072014e-308, 2.225073858507201e-308])
    assert_same_text(np.concatenate([x, -x, tiny, -tiny]))


def neighbours(x, steps=3):
    out = [x]
    up, down = x.copy(), x.copy()
    for _ in range(steps):
        up, down = np.nextafter(up, np.inf), np.nextafter(down, -np.inf)
        out += [up, down]
    return np.concatenate(out)


def test_powers_of_ten_and_their_neighbours():
    tens = np.array([float(f"1e{k}") for k in range(-323, 309)])
    x = neighbours(tens)
    assert_same_text(np.concatenate([x, -x]))


def test_carries_that_bump_the_exponent():
    carries = np.array([float(f"9.9999999995e{k}") for k in range(-320, 300)]
                       + [float(f"9.99999999949e{k}") for k in range(-320, 300)]
                       + [float(f"9.999999999500001e{k}") for k in range(-320, 300)])
    x = neighbours(carries)
    assert_same_text(np.concatenate([x, -x]))
    # the ones that carry: 10 digits of 9 rounded up become 1 with the next exponent
    assert b"1e+100" in grid_rows(np.array([[9.99999999996e99]]))


def test_rows_of_values_left_to_python_resume_the_loop():
    """Infinities and ties are formatted by Python after the loop: rows with more of them than one
    call of the compiled loop records (it then stops and resumes at the next row)."""
    ties = exact_ties()[:2000]
    x = np.full((6, 3000), np.inf)
    x[1::2, :2000] = ties
    x[2, ::7] = 1.5
    assert_same_text(x, width=3000)
    assert ascii_compiled._HOLES < 2 * 3000  # the compiled loop really stops between rows


def test_zeros_infinities_nan_and_nodata():
    x = np.array([0.0, -0.0, -9999.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.1, 1e-4, 1e-5, 1e16, 1e-4 * 0.99999999999])
    assert_same_text(x, width=x.size)
    assert grid_rows(np.array([[0.0, -0.0, np.inf]])) == b"0 -0 inf \n"


@pytest.mark.parametrize("shape", [(0, 5), (3, 0), (1, 1), (7, 3)])
def test_empty_and_small_grids(shape):
    x = np.random.default_rng(6).standard_normal(shape)
    assert grid_rows(x) == python_rows(x)


def test_float32_values_are_widened_first():
    rng = np.random.default_rng(7)
    x = (np.exp(rng.uniform(np.log(1e-45), np.log(3e38), 500_000)) * rng.choice([-1, 1], 500_000)).astype(np.float32)
    grid = x.reshape(500, -1)
    assert grid_rows(grid) == python_rows(grid)


def test_written_file_equals_the_old_writer(tmp_path):
    """A whole map with NaNs, several blocks: header, then the rows as Python's % wrote them."""
    rng = np.random.default_rng(8)
    data = np.exp(rng.standard_normal((301, 257)) * 5) * 1e-3
    data[rng.random(data.shape) < 0.15] = np.nan
    data[0, :3] = [0.0, 1234567890.0, 9.99999999995]
    spec = GridSpec(data.shape, from_origin(500000.0, 4100000.0, 30.0, 30.0))
    path = write_raster(tmp_path / "m.asc", data, spec)
    old = ascii_grid_header(data.shape, spec).encode() + python_rows(np.where(np.isnan(data), -9999.0, data))
    assert path.read_bytes() == old

