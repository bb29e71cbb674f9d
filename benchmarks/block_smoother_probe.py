"""Diagnosis: what exact block (or line) smoothing on the coarse levels would do to CG's count.

The engine's hierarchy (Dendy interpolation, Galerkin stencils: ``solver/coarsening.py``) is
rebuilt as SciPy sparse matrices and cycled as the engine does (W-cycle, one forward / backward
Gauss-Seidel sweep on the finest level and two on the coarser ones, exact coarsest solve, pocket
and region deflation around it), with pyamg's lexicographic Gauss-Seidel in place of the engine's
four-colour one (same counts within one iteration: 26 against 25 at 1 M cells, 1-10^8; 72 against
73 at 4 M). On the levels named by ``--levels``, each smoothing step is followed (pre) or preceded
(post) by exact solves on B x B tiles of that level, tiles in four colours (2 x 2 checkerboard),
on one tiling or two (``--shifts 2``: the second shifted by B/2, so every coupling lies inside
some tile), in reverse order after the coarse correction: a symmetric preconditioner, as PCG
needs. ``--lines L`` uses row and column segments of L cells instead of square tiles.

Host-only and slow (SciPy factorisations per colour, operator applies per colour): it measures
iteration counts, not what a batched implementation would cost.

    python benchmarks/block_smoother_probe.py --side 1000 --seed 1 --block 8 --levels 1 2 --shifts 2
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from pyamg.relaxation.relaxation import gauss_seidel

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_solver import problem  # noqa: E402

from gpucircuit.operators import GridEdges, GridOperator  # noqa: E402
from gpucircuit.solver.cg import pcg  # noqa: E402
from gpucircuit.solver.coarsening import Stencil, coarse_shape, galerkin, interpolation  # noqa: E402
from gpucircuit.solver.deflation import PocketDeflation  # noqa: E402
from gpucircuit.solver.multigrid import MAX_COARSE  # noqa: E402
from gpucircuit.solver.redblack import RedBlackMultigrid, schur_stencil  # noqa: E402


def stencil_csr(st: Stencil) -> sp.csr_matrix:
    return GridOperator(GridEdges(st.e, st.s, st.se, st.sw), st.diag, None).to_csr().tocsr()


def interpolation_csr(P: dict, fine: tuple, coarse: tuple) -> sp.csr_matrix:
    """P's weights {u: (mc, nc)} (coarse I feeds fine 2I + u) as a (fine cells, coarse cells) matrix."""
    m, n = fine
    mc, nc = coarse
    I, J = np.meshgrid(np.arange(mc), np.arange(nc), indexing="ij")
    rows, cols, vals = [], [], []
    for (ui, uj), w in P.items():
        fi, fj = 2 * I + ui, 2 * J + uj
        ok = (fi >= 0) & (fi < m) & (fj >= 0) & (fj < n) & (w != 0)
        rows.append((fi * n + fj)[ok])
        cols.append((I * nc + J)[ok])
        vals.append(w[ok])
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m * n, mc * nc))


def tile_contrast(A: sp.csr_matrix, label: np.ndarray) -> np.ndarray:
    """Per tile label: largest over smallest diagonal of its cells that have neighbours (1 where none)."""
    d = A.diagonal()
    linked = np.diff(A.indptr) > 1
    hi = np.zeros(label.max() + 1)
    lo = np.full(label.max() + 1, np.inf)
    np.maximum.at(hi, label[linked], d[linked])
    np.minimum.at(lo, label[linked], d[linked])
    return np.where(np.isfinite(lo) & (lo > 0), hi / np.where(lo > 0, lo, 1), 1.0)


def tile_solvers(A: sp.csr_matrix, shape: tuple, tile: tuple, shift: int, min_contrast: float = 0.0):
    """[(cells, factor)] per colour: the block-diagonal part of A over the tiles of that colour,
    factorised (a 1e-12 relative shift keeps near-singular tiles of 1-10^8 Galerkin levels solvable).
    Only tiles whose diagonal varies by at least ``min_contrast`` are kept. Also returns the share of
    cells kept."""
    m, n = shape
    I, J = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
    ti, tj = (I + shift) // tile[0], (J + shift) // tile[1]
    full = (ti * (n + 1) + tj).ravel()
    keep = tile_contrast(A, full)[full] >= min_contrast
    out = []
    for colour in ((0, 0), (0, 1), (1, 0), (1, 1)):
        cells = np.flatnonzero(((ti % 2 == colour[0]) & (tj % 2 == colour[1])).ravel() & keep)
        label = full[cells]
        sub = A[cells][:, cells].tocoo()
        inside = label[sub.row] == label[sub.col]
        B = sp.csc_matrix((sub.data[inside], (sub.row[inside], sub.col[inside])), shape=sub.shape)
        if cells.size:
            out.append((cells, sla.splu((B + sp.diags(1e-12 * B.diagonal())).tocsc())))
    return out, float(keep.mean())


class ProbeCycle:
    dtype = np.float64  # what RedBlackMultigrid hands its cycle

    def __init__(self, op, levels=(), block=0, lines=0, shifts=1, keep_gs=True, min_contrast=0.0):
        st = Stencil.from_operator(op)
        self.A, self.P, self.shapes = [op.to_csr().tocsr()], [], [op.shape]
        while np.prod(st.shape) > MAX_COARSE["cpu"]:
            P = interpolation(st)
            cs = coarse_shape(st.shape)
            self.P.append(interpolation_csr(P, st.shape, cs))
            st = galerkin(st, P)
            self.A.append(stencil_csr(st))
            self.shapes.append(cs)
        self.coarsest = sla.splu(self.A[-1].tocsc())
        self.keep_gs = keep_gs
        self.tiles, self.covered = {}, {}
        for lev in levels:
            if lev >= len(self.A) - 1:
                raise SystemExit(f"level {lev} is the coarsest or beyond ({len(self.A)} levels)")
            if lines:
                tilings = [(t, s * lines // 2) for t in ((1, lines), (lines, 1)) for s in range(shifts)]
            else:
                tilings = [((block, block), s * block // 2) for s in range(shifts)]
            made = [tile_solvers(self.A[lev], self.shapes[lev], t, s, min_contrast) for t, s in tilings]
            self.tiles[lev] = [solvers for solvers, _ in made]
            self.covered[lev] = [share for _, share in made]

    def _tile_sweep(self, lev, x, b, forward):
        A = self.A[lev]
        for tiling in (self.tiles[lev] if forward else self.tiles[lev][::-1]):
            for cells, lu in (tiling if forward else tiling[::-1]):
                x[cells] += lu.solve((b - A @ x)[cells])

    def cycle(self, lev, b):
        if lev == len(self.A) - 1:
            return self.coarsest.solve(b)
        A, x = self.A[lev], np.zeros_like(b)
        sweeps = 1 if lev == 0 else 2
        point = self.keep_gs or lev not in self.tiles
        if point:
            gauss_seidel(A, x, b, iterations=sweeps, sweep="forward")
        if lev in self.tiles:
            self._tile_sweep(lev, x, b, True)
        rc = self.P[lev].T @ (b - A @ x)
        xc = self.cycle(lev + 1, rc)
        if lev + 2 < len(self.A):  # W-cycle: second visit on the remaining coarse residual
            xc += self.cycle(lev + 1, rc - self.A[lev + 1] @ xc)
        x += self.P[lev] @ xc
        if lev in self.tiles:
            self._tile_sweep(lev, x, b, False)
        if point:
            gauss_seidel(A, x, b, iterations=sweeps, sweep="backward")
        return x

    def __call__(self, r):
        return np.stack([self.cycle(0, rk.ravel().astype(np.float64)).reshape(rk.shape) for rk in r])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--contrast", type=float, default=1e4)
    ap.add_argument("--four", action="store_true", help="4 neighbours (5-point hierarchy, no red-black elimination)")
    ap.add_argument("--eliminate", action="store_true",
                    help="with --four: the hierarchy on the red cells' Schur complement, as the engine does")
    ap.add_argument("--levels", type=int, nargs="*", default=[], help="levels with tile smoothing (0 = finest)")
    ap.add_argument("--block", type=int, default=8, help="tile side")
    ap.add_argument("--lines", type=int, default=0, help="row and column segments of this length instead of tiles")
    ap.add_argument("--shifts", type=int, default=1, choices=[1, 2])
    ap.add_argument("--no-point", action="store_true", help="tiles replace Gauss-Seidel on their levels")
    ap.add_argument("--min-contrast", type=float, default=0.0,
                    help="solve only tiles whose diagonal varies by at least this factor")
    ap.add_argument("--out", default=None, help="append the result to this JSON file")
    args = ap.parse_args(argv)
    op, b, _ = problem(args.side, args.seed, args.four, args.contrast)
    t0 = time.perf_counter()
    cycle = dict(levels=args.levels, block=args.block, lines=args.lines, shifts=args.shifts, keep_gs=not args.no_point,
                 min_contrast=args.min_contrast)
    if args.four and args.eliminate:  # the engine's red-black preconditioner with the probe's cycle on S
        M = RedBlackMultigrid.__new__(RedBlackMultigrid)
        d = op.diag.astype(np.float64)
        m, n = op.shape
        black = (np.arange(m)[:, None] + np.arange(n)[None, :]) % 2 == 1
        ok = black & op.active & (d > 0)
        M.xp, M.op, M.inv_black = np, op, np.where(ok, 1 / np.where(ok, d, 1.0), 0.0)
        M.multigrid = probe = ProbeCycle(schur_stencil(op, M.inv_black), **cycle)
    else:
        M = probe = ProbeCycle(op, **cycle)
    M = PocketDeflation(op).balance(M)
    t1 = time.perf_counter()
    _, info = pcg(op.apply, b[None], M, rtol=1e-6, maxiter=300)
    row = dict(command="python " + " ".join([sys.argv[0]] + (argv or sys.argv[1:])), side=args.side, seed=args.seed,
               contrast=args.contrast, four=args.four, red_black=args.four and args.eliminate, levels=args.levels, block=args.block, lines=args.lines,
               shifts=args.shifts, point_gs=not args.no_point, min_contrast=args.min_contrast,
               covered={str(k): v for k, v in probe.covered.items()}, iterations=info.iterations,
               converged=bool(info.converged), setup_s=t1 - t0, solve_s=time.perf_counter() - t1,
               loadavg=os.getloadavg()[0])
    print(json.dumps(row))
    if args.out:
        path = Path(args.out)
        rows = json.loads(path.read_text()) if path.exists() else []
        path.write_text(json.dumps(rows + [row], indent=1))


if __name__ == "__main__":
    main()
