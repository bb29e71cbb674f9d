"""Preconditioned conjugate gradient for several right-hand sides at once.

Each right-hand side runs its own CG recurrence, but the operator and the preconditioner
are applied to the whole batch, so edge weights are read once per iteration for all of
them. Convergence is checked every ``check_every`` iterations (each check is a host sync
on a GPU). After the loop the true residual ``||b - A x|| / ||b||`` is recomputed and
returned, so callers can refuse a wrong answer instead of writing it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..backend import array_module, to_host


@dataclass
class CGInfo:
    iterations: int
    converged: bool
    residuals: np.ndarray  # true relative residual per right-hand side


def _batch_dot(a, b):
    """Dot product per right-hand side over all trailing axes."""
    axes = tuple(range(1, a.ndim))
    return (a * b).sum(axis=axes)


def pcg(
    apply: Callable,
    b,
    precond: Callable | None = None,
    x0=None,
    rtol: float = 1e-6,
    maxiter: int = 1000,
    check_every: int = 1,
) -> tuple[object, CGInfo]:
    """Solve ``A x = b`` for a batch ``b`` of shape (k, ...); returns ``(x, info)``."""
    xp = array_module(b)
    squeeze = b.ndim == 1
    if squeeze:
        b = b[None]
    shape = (-1,) + (1,) * (b.ndim - 1)
    bnorm = xp.sqrt(_batch_dot(b, b))
    safe = xp.where(bnorm > 0, bnorm, 1)
    x = xp.zeros_like(b) if x0 is None else x0.copy()
    r = b - apply(x) if x0 is not None else b.copy()
    z = precond(r) if precond else r
    p = z.copy()
    rz = _batch_dot(r, z)
    it = 0
    done = to_host(bnorm == 0)
    while it < maxiter:
        if done.all():
            break
        ap = apply(p)
        pap = _batch_dot(p, ap)
        alpha = xp.where(pap > 0, rz / xp.where(pap > 0, pap, 1), 0)
        x += alpha.reshape(shape) * p
        r -= alpha.reshape(shape) * ap
        it += 1
        if it % check_every == 0:
            rel = to_host(xp.sqrt(_batch_dot(r, r)) / safe)
            done = done | (rel <= rtol)
            if done.all():
                break
        z = precond(r) if precond else r
        rz_new = _batch_dot(r, z)
        beta = xp.where(rz > 0, rz_new / xp.where(rz > 0, rz, 1), 0)
        p = z + beta.reshape(shape) * p
        rz = rz_new
    true_r = b - apply(x)
    rel = to_host(xp.sqrt(_batch_dot(true_r, true_r)) / safe)
    info = CGInfo(iterations=it, converged=bool((rel <= max(rtol, 1e-12) * 10).all()), residuals=rel)
    return (x[0] if squeeze else x), info
