"""Analytic hierarchy process (Saaty): factor weights from a pairwise-comparison matrix.

Entry ``a[i][j]`` says how much more factor ``i`` matters than factor ``j`` (Saaty's 1–9 scale);
the matrix must be positive and reciprocal (``a[j][i] = 1 / a[i][j]``, ones on the diagonal).
The weights are its principal (Perron) eigenvector normalised to sum 1; the consistency index
``CI = (lambda_max - n) / (n - 1)`` and ratio ``CR = CI / RI(n)`` use Saaty's random index.
A CR of 0.1 or more means the judgements contradict each other too much to be used as they are.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

# Saaty's random consistency index RI(n) for n = 1..10 (mean CI of random reciprocal matrices)
RANDOM_INDEX = (0.0, 0.0, 0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49)
CR_LIMIT = 0.1
# a[i][j] * a[j][i] may differ from 1 by this much: judgements written as 0.33 for 1/3 are meant reciprocal
RECIPROCAL_TOL = 0.01


@dataclass(frozen=True)
class AhpResult:
    weights: np.ndarray  # (n,), positive, sum 1
    lambda_max: float
    ci: float
    cr: float  # 0 for n <= 2 (RI = 0: two judgements are always consistent)

    @property
    def consistent(self) -> bool:
        return self.cr < CR_LIMIT


def check_pairwise(matrix) -> np.ndarray:
    """The matrix as float64 after checking it is square, positive and reciprocal.

    Errors name the first offending entry as ``[row][column]`` (0-based, as written in the file).
    """
    try:
        a = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("matrix must be a list of rows of numbers of equal length") from None
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 1:
        raise InputError(f"matrix must be square (n rows of n numbers), got shape {a.shape}")
    n = a.shape[0]
    if n > len(RANDOM_INDEX):
        raise InputError(f"matrix has {n} factors, but Saaty's random index is tabulated for at most "
                         f"{len(RANDOM_INDEX)}; give the weights directly")
    bad = ~np.isfinite(a) | (a <= 0)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise InputError(f"entry [{i}][{j}] = {a[i, j]:g} must be a positive number")
    off = np.abs(np.diag(a) - 1.0) > 1e-12
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise InputError(f"diagonal entry [{i}][{i}] = {a[i, i]:g} must be 1")
    product = a * a.T
    bad = np.abs(product - 1.0) > RECIPROCAL_TOL
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise InputError(f"entries [{i}][{j}] = {a[i, j]:g} and [{j}][{i}] = {a[j, i]:g} are not reciprocal "
                         f"(their product is {product[i, j]:g}, not 1)")
    return a


def ahp_weights(matrix) -> AhpResult:
    """Principal-eigenvector weights, lambda_max, CI and CR of a pairwise-comparison matrix."""
    a = check_pairwise(matrix)
    n = a.shape[0]
    if n == 1:
        return AhpResult(np.ones(1), 1.0, 0.0, 0.0)
    values, vectors = np.linalg.eig(a)
    k = int(np.argmax(values.real))  # Perron root: real, simple, largest for a positive matrix
    w = np.abs(vectors[:, k].real)
    w /= w.sum()
    lam = float(values[k].real)
    ci = max((lam - n) / (n - 1), 0.0)  # lambda_max >= n in exact arithmetic; clip rounding noise
    ri = RANDOM_INDEX[n - 1]
    return AhpResult(w, lam, ci, ci / ri if ri > 0 else 0.0)
