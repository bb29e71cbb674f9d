"""AHP weights and consistency ratio against textbook matrices and independent computations."""
import numpy as np
import pytest

from gpucircuit.analysis.ahp import RANDOM_INDEX, ahp_weights, check_pairwise
from gpucircuit.errors import InputError


def consistent_matrix(w):
    w = np.asarray(w, dtype=float)
    return w[:, None] / w[None, :]


def power_iteration(a, iters=5000):
    """Perron vector and root by power iteration (an algorithm independent of numpy.linalg.eig)."""
    w = np.ones(a.shape[0]) / a.shape[0]
    for _ in range(iters):
        nxt = a @ w
        nxt /= nxt.sum()
        if np.max(np.abs(nxt - w)) < 1e-15:
            break
        w = nxt
    return w, float(np.mean((a @ w) / w))


def random_reciprocal(n, rng):
    """Saaty-scale judgements perturbed from a consistent matrix (mildly inconsistent)."""
    scale = np.array([1 / 9, 1 / 7, 1 / 5, 1 / 3, 1, 3, 5, 7, 9])
    a = np.ones((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            a[i, j] = rng.choice(scale)
            a[j, i] = 1 / a[i, j]
    return a


def test_random_index_is_saatys_table():
    assert RANDOM_INDEX == (0.0, 0.0, 0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49)


@pytest.mark.parametrize("n", range(2, 11))
def test_consistent_matrix_gives_its_generating_weights(n):
    """For a_ij = w_i / w_j the eigenvector is w exactly, lambda_max = n and CR = 0."""
    w = np.random.default_rng(n).uniform(0.1, 1.0, n)
    w /= w.sum()
    res = ahp_weights(consistent_matrix(w))
    np.testing.assert_allclose(res.weights, w, rtol=1e-10)
    assert res.lambda_max == pytest.approx(n, abs=1e-9)
    assert res.cr == pytest.approx(0.0, abs=1e-9) and res.consistent


def test_saaty_three_by_three_textbook_example():
    """[[1,3,5],[1/3,1,3],[1/5,1/3,1]]: published weights 0.637, 0.258, 0.105 and CR 0.033.

    For n = 3 the principal eigenvector equals the row geometric means exactly, and
    lambda_max = 1 + (b/(ac))^(1/3) + (ac/b)^(1/3) with a = a12, b = a13, c = a23.
    """
    a_, b_, c_ = 3.0, 5.0, 3.0
    m = np.array([[1, a_, b_], [1 / a_, 1, c_], [1 / b_, 1 / c_, 1]])
    res = ahp_weights(m)
    gm = np.prod(m, axis=1) ** (1 / 3)
    np.testing.assert_allclose(res.weights, gm / gm.sum(), rtol=1e-12)
    lam = 1 + (b_ / (a_ * c_)) ** (1 / 3) + (a_ * c_ / b_) ** (1 / 3)
    assert res.lambda_max == pytest.approx(lam, rel=1e-12)
    assert res.ci == pytest.approx((lam - 3) / 2, rel=1e-9)
    assert res.cr == pytest.approx((lam - 3) / 2 / 0.58, rel=1e-9)
    np.testing.assert_allclose(res.weights, [0.637, 0.258, 0.105], atol=5e-4)
    assert round(res.cr, 3) == 0.033


@pytest.mark.parametrize("n", [4, 5, 7, 9])
def test_weights_and_lambda_match_power_iteration(n):
    m = random_reciprocal(n, np.random.default_rng(100 + n))
    res = ahp_weights(m)
    w, lam = power_iteration(m)
    np.testing.assert_allclose(res.weights, w, rtol=1e-8)
    assert res.lambda_max == pytest.approx(lam, rel=1e-9)
    assert res.cr == pytest.approx((lam - n) / (n - 1) / RANDOM_INDEX[n - 1], rel=1e-7)
    np.testing.assert_allclose(m @ res.weights, res.lambda_max * res.weights, rtol=1e-9)


def test_circular_judgements_are_inconsistent():
    """A beats B, B beats C, C beats A, each strongly: far above the 0.1 limit."""
    m = np.array([[1, 9, 1 / 9], [1 / 9, 1, 9], [9, 1 / 9, 1]])
    res = ahp_weights(m)
    np.testing.assert_allclose(res.weights, [1 / 3] * 3, rtol=1e-9)  # symmetric: no factor wins
    a_, b_, c_ = 9.0, 1 / 9, 9.0  # a12, a13, a23
    lam = 1 + (b_ / (a_ * c_)) ** (1 / 3) + (a_ * c_ / b_) ** (1 / 3)
    assert res.cr == pytest.approx((lam - 3) / 2 / 0.58, rel=1e-9)
    assert res.cr > 1 and not res.consistent


def test_two_factors_are_always_consistent():
    res = ahp_weights([[1, 4], [0.25, 1]])
    np.testing.assert_allclose(res.weights, [0.8, 0.2])
    assert res.cr == 0.0


def test_rounded_reciprocals_are_accepted():
    res = ahp_weights([[1, 3], [0.333, 1]])  # 0.333 for 1/3, as tables print it
    assert res.weights[0] == pytest.approx(0.75, abs=1e-3)


@pytest.mark.parametrize("matrix, words", [
    ([[1, 2, 3], [0.5, 1]], "list of rows"),
    ([[1, 2, 3], [0.5, 1, 2]], "square"),
    ([[1, -2], [-0.5, 1]], "entry [0][1] = -2 must be a positive"),
    ([[1, 0], [0, 1]], "entry [0][1] = 0 must be a positive"),
    ([[2, 1], [1, 1]], "diagonal entry [0][0] = 2"),
    ([[1, 3], [3, 1]], "entries [0][1] = 3 and [1][0] = 3 are not reciprocal"),
    (np.ones((11, 11)), "at most 10"),
])
def test_bad_matrices_are_one_line_errors(matrix, words):
    with pytest.raises(InputError) as err:
        check_pairwise(matrix)
    assert words in str(err.value) and "\n" not in str(err.value)
