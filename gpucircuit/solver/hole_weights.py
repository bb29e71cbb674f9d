"""Interpolation weights next to holes: what Dendy's scheme leaves to fix (``coarsening``).

Both keep the interpolated constant free of dents (a dent is a spurious ground on the coarse
level): orphans get the weight they lacked, faint hole cells pass theirs on unchanged in sum.
"""
from __future__ import annotations

from ..backend import array_module
from ..edges import neighbour_view

FAINT = 1e-3  # total weight below which a hole coarse cell hands its weights over


def orphan_fill(weights, keep, cands):
    """Orphans (cells that should have weight, ``keep`` > 0, but got none) take a single
    weight, ``keep``, from the first candidate hole coarse cell. One cell, not an average:
    two hole cells feeding the same orphans equally would give P two equal columns and a
    singular coarse operator. Weights are non-negative, so an orphan's are all 0 and the
    fill can be done in place."""
    xp = array_module(keep)
    left = (keep > 0) & (sum(weights) == 0)
    for w, cd in zip(weights, cands):
        xp.copyto(w, keep, where=left & cd)
        left &= ~cd
    return weights


def hand_over_faint(P, hole):
    """Hole coarse cells whose total weight is below ``FAINT`` hand their weights to the fine
    cell's strongest other coarse parent (rows of P keep their sums, so no spurious ground).

    Why: a hole cell touching fine cells only along a diagonal across a hole edge gets tiny weights,
    and as a coarse unknown its diagonal is ~ weight^2: on the red-black Schur complement
    (``redblack``), whose diamond has long 45-degree hole edges, weights of 1e-4-1e-19 made coarse
    operators numerically singular (the coarsest solve broke down: > 400 CG iterations)."""
    xp = array_module(hole)
    faint = hole & (sum(P.values()) < FAINT) & (sum(P.values()) > 0)
    if not bool(faint.any()):
        return
    for u, p in P.items():
        give = faint & (p > 0)
        if not bool(give.any()):
            continue
        # the fine cell 2I + u is 2(I + D) + (u - 2D) for the parents I + D
        best, best_w = None, xp.zeros_like(p)
        for D in [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if (di, dj) != (0, 0)]:
            v = (u[0] - 2 * D[0], u[1] - 2 * D[1])
            if v not in P:
                continue
            w = neighbour_view(xp.where(faint, 0, P[v]), *D, fill=0)  # the other parent's weight of this fine cell
            better = give & (w > best_w)
            if bool(better.any()):
                best = {} if best is None else best
                best_w = xp.where(better, w, best_w)
                for key in best:
                    best[key] &= ~better
                best[D] = better
        for D, where in (best or {}).items():
            v = (u[0] - 2 * D[0], u[1] - 2 * D[1])
            add = xp.where(where, p, 0)
            P[v] += neighbour_view(add, -D[0], -D[1], fill=0)
            p[where] = 0
