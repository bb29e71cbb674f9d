"""Structured, operator-dependent multigrid preconditioner for grid operators.

The hierarchy is built from the grid itself (see ``coarsening``): 2x2 coarsening in both directions,
Dendy black-box interpolation (plus a fix for cells cut off by holes), Galerkin coarse stencils
(9-point on every level), four-colour Gauss-Seidel smoothing (``smoothers``), exact tile solves
(``tile_smoother``) and a direct solve on the coarsest grid. Everything but the coarsest solve is
array code on the operator's namespace, so the same code runs on NumPy and CuPy.

Design choices, measured on ``benchmarks/landscape.py`` grids (1e4 contrast, roads, 10 %
holes, 8 neighbours, point source; CG iterations to rtol 1e-6; see benchmarks/README.md):

* W-cycle with one forward / one backward GS sweep on the finest level and two on the
  coarser ones (``cycle="W", coarse_sweeps=2``). CG iterations at 1000^2, landscape
  seeds 0 / 1: V(1,1) 26 / 47, V with coarse_sweeps=2 20 / 34, W(1,1) 16 / 29, W with
  coarse_sweeps=2 12 / 23; the last is also the fastest solve (1.2 / 1.8 s against
  1.5 / 2.6 s for V(1,1)).
  The coarse levels are where quality is lost (roads, holes and small components become
  sub-cell features), so extra work there is cheap and pays.
* K-cycle (``cycle="K"``, an option): two flexible-CG steps per coarse visit instead of the W-cycle's
  two stationary ones. It wins on some landscapes (4 M seed 1: 13 -> 9 iterations) and loses on as
  many (16 M seed 0: 22 -> 23; 1e8 contrast 43 -> 62), at 15-22 % more CPU per iteration, and the
  outer CG must be flexible, losing the global Krylov optimality a linear W-cycle keeps.
* Forward GS before and backward GS after the coarse correction, zero initial guess on
  every level, exact coarsest solve (SuperLU, or a symmetrised dense inverse on small
  grids): the preconditioner is a fixed
  symmetric positive definite linear operator, as PCG requires. The W-cycle's second
  coarse visit is ``x1 + M(b - A x1)``, i.e. ``2M - MAM``, still symmetric.
* The setup runs in float64 (Galerkin sums of terms of both signs, near-singular
  components grounded at one cell); the cycle runs in ``dtype`` (float32 by default: same
  12 / 23 iterations as float64 above, solve 1.2 / 1.8 s against 1.7 / 2.9 s) and CG
  keeps float64 vectors. One step stays in float64: the W-cycle's coarse residual, in difference
  form (``ColouredGS.exact_residual``); in float32 it lost the residual of nearly singular levels
  (a 24 M-cell map held by one grounded cell: 76 CG iterations, 6 with it).

Memory (why it is laid out so): the finest level keeps no stencil of its own, only the smoother's
float32 colour-split weights (4 directions + diagonal); coarse levels keep the smoother and the
interpolation weights, and the W-cycle's coarse residual is computed with the coarse smoother's
weights. The cycle reads the float64 residual and writes its float64 result directly through the
colour split, so the only per-right-hand-side storage is the colour-split work vectors of each level.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..backend import array_module, to_host
from ..errors import SolverError
from .cg import CGInfo, pcg
from .coarsening import Stencil, galerkin, interpolation
from .smoothers import ColouredGS, colour_slice
from . import tile_compiled
from .tile_smoother import TILE, TILE_LEVELS, TileSmoother, tile_rule


@dataclass
class Level:
    shape: tuple
    P: dict | None = None  # interpolation to this level from the next coarser one
    smoother: ColouredGS | None = None
    tiles: TileSmoother | None = None  # exact tile solves after / before the point sweeps

    def __repr__(self):
        return f"Level{self.shape}"


# Largest grid solved directly, per backend (the only per-backend setting). CPU: stop at ~125^2
# and factorise (SuperLU): a deep W-cycle spends more in Python call overhead on tiny grids than
# the factorisation costs (measured 1000^2: 0.8 s vs 2.2 s solve, same 11 iterations). GPU:
# coarsen to 32^2, solved by a dense inverse on the device.
MAX_COARSE = {"cpu": 20000, "gpu": 1024}


@dataclass(frozen=True)
class MultigridOptions:
    """Settings of the grid multigrid, pyamg-style; the defaults are the measured choices above.

    ``max_coarse``: largest grid (cells) solved directly; None = ``MAX_COARSE`` for the backend.
    ``max_levels``: levels at most, the finest included. ``cycle``: "W", "V" or "K" (the K-cycle:
    two flexible-CG steps per coarse visit instead of the W-cycle's two stationary ones; a
    nonlinear preconditioner, so the outer CG runs flexible; measured, not better: see above).
    ``presmooth`` / ``postsmooth``: forward / backward GS sweeps on the finest level (equal
    counts keep the preconditioner symmetric, as PCG requires). ``coarse_sweeps``: multiplier
    of those sweeps on the coarser levels. ``dtype``: precision of the cycle (CG keeps float64).
    ``eliminate_black``: on a 5-point (4-neighbour) operator, eliminate the black cells exactly and
    build the hierarchy on the red cells' Schur complement (``redblack``; 1 M cells, 1e4 contrast:
    26 CG iterations instead of 35, 4 M: 16 / 23 instead of 43 / 36); ``GridMultigrid`` ignores it.
    ``tile_levels``: levels (0 = finest) whose tiles are also solved exactly (``tile_smoother``) where their
    diagonal varies by ``tile_contrast`` or more (None: ``tile_rule``); None = ``TILE_LEVELS`` (levels 1-4;
    0 too on a red-black Schur complement) on the host where the memory holds them (``GridMultigridSolver``
    checks) and none on a GPU until their CuPy path has run on one; () = none.
    ``tile_sizes``: the tiles' side on each of ``tile_levels`` (default ``tile_size``).
    8 neighbours, 1e4 contrast: 16 M cells 22 -> 12 CG iterations, 64 M 24 -> 17 (benchmarks/README.md,
    "Exact tile smoothing").
    """

    max_coarse: int | None = None
    max_levels: int = 30
    cycle: str = "W"
    presmooth: int = 1
    postsmooth: int = 1
    coarse_sweeps: int = 2
    dtype: object = np.float32
    eliminate_black: bool = True
    tile_levels: tuple | None = None
    tile_sizes: tuple = ()
    tile_contrast: float | None = None

    def __post_init__(self):
        if self.cycle not in ("V", "W", "K"):
            raise ValueError(f"cycle must be 'V', 'W' or 'K', not {self.cycle!r}")
        for name in ("max_levels", "coarse_sweeps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("presmooth", "postsmooth"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, not {getattr(self, name)}")
        if self.max_coarse is not None and self.max_coarse < 1:
            raise ValueError(f"max_coarse must be at least 1 cell, not {self.max_coarse}")
        if self.tile_sizes and len(self.tile_sizes) != len(self.tile_levels or ()):
            raise ValueError(f"tile_sizes gives {len(self.tile_sizes)} sizes for tile_levels {self.tile_levels}")
        if any(b < 2 or b % 2 for b in self.tile_sizes):
            raise ValueError(f"tile sizes must be even and at least 2, not {self.tile_sizes}")

    def tiled_levels(self, on_gpu: bool = False, schur: bool = False) -> tuple:
        """``tile_levels``, or by default ``TILE_LEVELS`` on the host (the finest level too on a red-black
        Schur complement, ``schur``) and none on a GPU: the tiles' CuPy path has not run on a device yet
        (benchmarks/gpu/README.md); ask for them there explicitly."""
        if self.tile_levels is not None:
            return tuple(self.tile_levels)
        return () if on_gpu else (0,) + TILE_LEVELS if schur else TILE_LEVELS

    def tile_size(self, level: int) -> int:
        """Side of the tiles on ``level`` (one of the tiled levels): ``tile_sizes``, or by default 4 on the
        finest (a Schur complement's; 8 x 8: 0-2 fewer iterations at 1-4 M, 19 not 22 at 16 M, 1.8x their memory),
        8 down to level 2 and 16 below, where a cell stands for 8 x 8 fine cells or more."""
        if self.tile_sizes:
            return self.tile_sizes[self.tiled_levels().index(level)]
        return TILE // 2 if level == 0 else TILE if level <= 2 else 2 * TILE

    def coarse_limit(self, xp) -> int:
        """``max_coarse``, or the default of the backend whose array namespace is ``xp``."""
        if self.max_coarse is not None:
            return self.max_coarse
        return MAX_COARSE["cpu" if xp is np else "gpu"]


class GridMultigrid:
    """One multigrid cycle as a preconditioner ``z = M r`` for a ``GridOperator``.

    Settings come from ``options`` (a ``MultigridOptions``), with any of its fields overridden by
    keyword, e.g. ``GridMultigrid(op, max_coarse=64, dtype=np.float64)``. ``schur``: ``op`` is a
    red-black Schur complement (``redblack``), whose finest level is tiled too by default.
    """

    def __init__(self, op, options: MultigridOptions | None = None, *, schur: bool = False, **overrides):
        self.options = o = replace(options or MultigridOptions(), **overrides)
        self.xp = op.xp
        self.dtype = np.dtype(o.dtype)
        self.presmooth, self.postsmooth = o.presmooth, o.postsmooth
        self.coarse_sweeps = o.coarse_sweeps  # sweep multiplier on levels below the finest
        self.cycle_type = o.cycle
        # a K-cycle is not a fixed linear operator: the outer CG must be flexible
        self.flexible = o.cycle == "K"
        max_coarse, max_levels = o.coarse_limit(self.xp), o.max_levels
        st = Stencil.from_operator(op)  # the operator's own arrays, no copy
        fine_cells = int(np.prod(st.shape))
        self.levels: list[Level] = []
        while True:
            m, n = st.shape
            last = m * n <= max_coarse or (m <= 2 and n <= 2) or len(self.levels) + 1 >= max_levels
            lvl = Level(st.shape)
            self.levels.append(lvl)
            if last:
                break
            # coarse levels keep their ground for the W-cycle's exact coarse residual
            lvl.smoother = ColouredGS(st, self.dtype, grounded=bool(self.levels[:-1]))
            k = len(self.levels) - 1
            if k in o.tiled_levels(on_gpu=self.xp is not np, schur=schur):
                contrast, share = tile_rule(k, schur)
                tiles = TileSmoother(st, self.dtype, tile=o.tile_size(k), max_share=share,
                                     min_contrast=contrast if o.tile_contrast is None else o.tile_contrast)
                lvl.tiles = tiles if tiles.count else None
            P = interpolation(st)  # float64, whatever the stencil's storage; after the tiles' setup peak
            lvl.P = {u: p.astype(self.dtype) for u, p in P.items()}
            st = galerkin(st, P)
            del P
        tiled = [lvl.tiles for lvl in self.levels if lvl.tiles is not None]
        if self.xp is np and tile_compiled.wanted(fine_cells, sum(t.count * t.tile ** 2 for t in tiled)):
            for tiles in tiled:  # a large job with many tiles: their solves as one compiled loop
                tiles.compiled = True
        self._coarse_inverse = self._dense_inverse(st)
        self._buffers = {}

    # ------------------------------------------------------------------ setup helpers
    def _dense_inverse(self, st: Stencil):
        """Inverse of the coarsest operator as a dense (N, N) matrix, in float64 then cast.
        (A coarsest grid above 1024 cells is factorised by SuperLU on the host instead.)"""
        m, n = st.shape
        N = m * n
        if N > 1024:
            import scipy.sparse.linalg as sla  # noqa: PLC0415

            from ..operators import GridEdges, GridOperator  # noqa: PLC0415

            csr = GridOperator(GridEdges(*(to_host(a) if a is not None else None
                                           for a in (st.e, st.s, st.se, st.sw))),
                               to_host(st.diag), None).to_csr()
            try:
                return sla.splu(csr.tocsc())
            except RuntimeError as err:
                raise SolverError(f"multigrid: coarsest operator is singular ({err}); "
                                  "is every connected component grounded?") from None
        A = np.zeros((N, N))
        idx = np.arange(N).reshape(m, n)
        A[idx.ravel(), idx.ravel()] = to_host(st.diag).ravel()
        for (di, dj), w in st.forward():
            w = to_host(w)
            src = (slice(0, m - di), slice(max(0, -dj), n - max(0, dj)))
            dst = (slice(di, m), slice(max(0, dj), n + min(0, dj)))
            a, b, v = idx[src].ravel(), idx[dst].ravel(), w[src].ravel()
            A[a, b] -= v
            A[b, a] -= v
        try:
            inv = np.linalg.inv(A)
        except np.linalg.LinAlgError:
            raise SolverError("multigrid: coarsest operator is singular; "
                              "is every connected component grounded?") from None
        inv = (inv + inv.T) / 2  # exact symmetry keeps the preconditioner symmetric
        return self.xp.asarray(inv.astype(self.dtype))

    def _level_buffers(self, k):
        bufs = self._buffers.get(k)
        if bufs is None:
            bufs = []
            for lvl in self.levels[:-1]:
                sm = lvl.smoother
                mc, nc = sm.cshape
                B = {c: self.xp.zeros((k, mc, nc), dtype=self.dtype) for c in sm.buffers(1, self.dtype)}
                bufs.append((sm.buffers(k, self.dtype), B))
            self._buffers[k] = bufs
        return bufs

    # ------------------------------------------------------------------ the cycle
    def __call__(self, r):
        """z = M r, a new array in r's dtype (r itself is only read)."""
        squeeze = r.ndim == 2
        b = r[None] if squeeze else r
        z = self._cycle(0, b, self._level_buffers(b.shape[0]), out_dtype=b.dtype)
        z = z.astype(b.dtype, copy=False)
        return z[0] if squeeze else z

    def _cycle(self, lev, b, bufs, out_dtype=None):
        """Approximate A_lev^-1 b (natural layout (k, m, n)) from a zero guess; the result is a
        new array in ``out_dtype`` (default: the cycle dtype)."""
        xp = self.xp
        lvl = self.levels[lev]
        k = b.shape[0]
        m, n = lvl.shape
        if lev == len(self.levels) - 1:
            inv = self._coarse_inverse
            if hasattr(inv, "solve"):  # SuperLU on the host
                y = inv.solve(to_host(b).reshape(k, m * n).T.astype(np.float64)).T
                y = xp.asarray(y.astype(self.dtype))
            else:
                y = b.reshape(k, m * n).astype(self.dtype, copy=False) @ inv
            return y.reshape(k, m, n)
        sm = lvl.smoother
        X, B = bufs[lev]
        mult = 1 if lev == 0 else self.coarse_sweeps
        sm.split(b, B)
        for a in X.values():
            a.fill(0)
        if self.presmooth:
            sm.forward(X, B, self.presmooth * mult, zero_init=True)
        if lvl.tiles is not None:
            self._tile_sweep(lvl, X, b, forward=True)
        skip = self.presmooth > 0 and lvl.tiles is None  # the colour swept last has no residual
        bc = self._restrict(lvl.P, sm.residual_colours(X, B, skip_last=skip), sm.cshape)
        if self.cycle_type == "K" and lev + 2 < len(self.levels):
            xc = self._coarse_krylov(lev + 1, bc, bufs)
        else:
            xc = self._cycle(lev + 1, bc, bufs)
            if self.cycle_type == "W" and lev + 2 < len(self.levels):
                # second coarse visit on the remaining coarse residual: e = x1 + M(bc - A x1)
                xc += self._cycle(lev + 1, self._coarse_residual(lev + 1, bc, xc, bufs), bufs)
        self._prolong(lvl.P, X, xc, sm.cshape)
        if lvl.tiles is not None:
            self._tile_sweep(lvl, X, b, forward=False)
        if self.postsmooth:
            sm.backward(X, B, self.postsmooth * mult)
        return sm.merge(X, dtype=out_dtype)

    @staticmethod
    def _tile_sweep(lvl, X, b, forward):
        """The level's tile solves on the colour-split X (natural layout in between); b natural."""
        sm = lvl.smoother
        x = sm.merge(X)
        lvl.tiles.sweep(x, b.astype(x.dtype, copy=False), forward)
        sm.split(x, X, padded=True)

    def coarse_solve(self, lev, b, krylov: bool = True):
        """Approximate A_lev^-1 b (natural layout (k, m, n), 0 < lev < coarsest) as the cycle does
        on that level: the K-cycle's two flexible-CG steps, or (``krylov=False``) one cycle."""
        b = b.astype(self.dtype, copy=False)
        bufs = self._level_buffers(b.shape[0])
        return self._coarse_krylov(lev, b, bufs) if krylov else self._cycle(lev, b, bufs)

    def _coarse_krylov(self, lev, b, bufs):
        """Approximate A_lev^-1 b by two steps of flexible CG preconditioned by the level's cycle
        (the K-cycle, Notay & Vassilevski 2008), from a zero guess; natural layout, cycle dtype.

        c1 = B b; the first step is the line search along c1, the second searches along c2 = B r2,
        A-orthogonalised against c1:  x = (a1/rho1 - gamma a2/(rho1 rho2)) c1 + (a2/rho2) c2 with
        rho1 = c1.A c1, a1 = c1.b, r2 = b - (a1/rho1) A c1, gamma = c2.A c1, a2 = c2.r2 and
        rho2 = c2.A c2 - gamma^2/rho1. Coefficients are per right-hand side, on the device (no host
        sync); products are formed in float64 difference form, as the W-cycle's coarse residual."""
        xp, sm = self.xp, self.levels[lev].smoother
        c1 = self._cycle(lev, b, bufs)
        v1 = sm.product(c1)
        rho1, a1 = _dots(c1, v1), _dots(c1, b)
        g1 = _ratio(a1, rho1)
        r2 = b.astype(xp.float64)
        r2 -= g1 * v1  # b - g1 A c1
        c2 = self._cycle(lev, r2.astype(self.dtype), bufs)
        gamma, a2 = _dots(c2, v1), _dots(c2, r2)
        del v1, r2
        rho2 = _dots(c2, sm.product(c2)) - gamma * _ratio(gamma, rho1)
        g2 = _ratio(a2, rho2)
        c1 *= (g1 - _ratio(gamma, rho1) * g2).astype(self.dtype)
        c2 *= g2.astype(self.dtype)
        c1 += c2
        return c1

    def _coarse_residual(self, lev, b, x, bufs):
        """b - A_lev x (natural layout), in float64 difference form (``ColouredGS.exact_residual``:
        x holds the level's whole coarse solution, near-constant parts included), returned in the
        cycle dtype."""
        return self.levels[lev].smoother.exact_residual(b, x).astype(self.dtype, copy=False)

    @staticmethod
    def _restrict(P, residuals, cshape):
        """b_c(I) = sum_u P_u(I) r(2I+u), from the residual colour by colour (colours not given
        are zero)."""
        mc, nc = cshape
        bc = None
        for col, R in residuals:
            for (ui, uj), p in P.items():
                if (ui % 2, uj % 2) != col:
                    continue
                t = R[colour_slice(ui // 2, uj // 2, mc, nc)] * p
                if bc is None:
                    bc = t
                else:
                    bc += t
        return bc

    @staticmethod
    def _prolong(P, X, xc, cshape):
        """x(2I+u) += P_u(I) x_c(I) (writes into ghost cells only where P_u is 0)."""
        mc, nc = cshape
        for (ui, uj), p in P.items():
            X[(ui % 2, uj % 2)][colour_slice(ui // 2, uj // 2, mc, nc)] += p * xc


def _dots(a, b):
    """a.b per right-hand side of (k, m, n) arrays, in float64, shaped (k, 1, 1) to scale them."""
    return (a * b).sum(axis=(1, 2), dtype=np.float64).reshape(-1, 1, 1)


def _ratio(num, den):
    """num / den where den > 0, else 0 (a right-hand side that is already solved, or a breakdown)."""
    xp = array_module(num)
    ok = den > 0
    return xp.where(ok, num / xp.where(ok, den, 1.0), 0.0)


def solve(op, b, rtol: float = 1e-6, maxiter: int = 200, precond="mg", x0=None, **options):
    """Solve ``op x = b`` (b: (m, n) or (k, m, n)) by PCG; returns ``(x, CGInfo)``.

    ``precond``: "mg" (``GridMultigrid``; options go to it), "jacobi", None, or any
    callable.
    """
    squeeze = b.ndim == 2
    bb = b[None] if squeeze else b
    if precond == "mg":
        M = GridMultigrid(op, **options)
    elif precond == "jacobi":
        inv = 1 / op.diag
        M = lambda r: r * inv  # noqa: E731
    elif precond is None or callable(precond):
        M = precond
    else:
        raise ValueError(f"unknown preconditioner {precond!r}")
    x, info = pcg(op.apply, bb, M, x0=None if x0 is None else (x0[None] if squeeze else x0),
                  rtol=rtol, maxiter=maxiter, flexible=getattr(M, "flexible", False))
    return (x[0] if squeeze else x), info


__all__ = ["GridMultigrid", "Level", "MultigridOptions", "MAX_COARSE", "solve", "CGInfo"]
