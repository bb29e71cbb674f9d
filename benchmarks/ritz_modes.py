"""Where CG's slowest modes live: Ritz values and vectors of the preconditioned operator.

    python benchmarks/ritz_modes.py --side 4000 --seed 0 --iterations 26 --regions off on

Runs the engine's CPU preconditioner (pocket deflation, with or without the weakly linked regions,
then the grid multigrid) in PCG on ``bench_solver.problem(side, seed)``, keeps the Lanczos vectors
(float32, iterations x cells x 4 bytes), and reports the smallest Ritz values of the preconditioned
operator and, for the slowest ``--modes`` Ritz vectors, where they live: the cells holding 90 % of
the mode's energy, the connected piece where |u| > 0.1 max |u| (size, bounding box, the
resistances inside), and that piece's links to the rest against its diagonal (leak / inner; the
weakly linked regions of ``solver/weak_regions.py`` are kept below 1e-3). Writes JSON to
``results/ritz-<date>-<side>-<seed>.json``.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from pathlib import Path

import numpy as np
import scipy.ndimage as ndi

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_solver import machine, problem  # noqa: E402
from landscape import make_landscape  # noqa: E402

from gpucircuit.edges import shift_slices  # noqa: E402
from gpucircuit.solver.deflation import PocketDeflation  # noqa: E402
from gpucircuit.solver.multigrid import MultigridOptions  # noqa: E402
from gpucircuit.solver.redblack import grid_preconditioner  # noqa: E402


def lanczos(op, b, M, iterations):
    """PCG's Lanczos vectors (M-normalised preconditioned residuals, float32) and tridiagonal T."""
    r = b.copy()
    z = M(r)
    p = z.copy()
    rz = float((r * z).sum())
    V = np.zeros((iterations,) + op.shape, np.float32)
    alpha, beta, residuals = [], [], []
    bnorm = float(np.linalg.norm(b))
    for i in range(iterations):
        V[i] = z[0] / np.sqrt(rz) * (-1) ** i
        w = op.apply(p)
        a = rz / float((p * w).sum())
        r -= a * w
        alpha.append(a)
        residuals.append(float(np.linalg.norm(r)) / bnorm)
        z = M(r)
        rz_new = float((r * z).sum())
        beta.append(rz_new / rz)
        rz = rz_new
        p = z + beta[-1] * p
    T = np.zeros((iterations, iterations))
    for i in range(iterations):
        T[i, i] = 1 / alpha[i] + (beta[i - 1] / alpha[i - 1] if i else 0)
        if i + 1 < iterations:
            T[i, i + 1] = T[i + 1, i] = np.sqrt(beta[i]) / alpha[i]
    return V, T, residuals


def leak_ratio(op, piece):
    """Links of the cells ``piece`` to the rest (edges and grounds) over their summed diagonal."""
    diag = op.diag.astype(np.float64)
    incident = np.zeros(op.shape)
    leak = 0.0
    for w, di, dj in op.edges.directions():
        src, dst = shift_slices(di, dj)
        ws = w[src].astype(np.float64)
        incident[src] += ws
        incident[dst] += ws
        leak += float(ws[piece[src] != piece[dst]].sum())
    ground = np.where(op.active, diag - incident, 0.0)
    return (leak + float(ground[piece].sum())) / float(diag[piece].sum())


def describe(u, op, res):
    e = u.astype(np.float64) ** 2
    order = np.sort(e.ravel())[::-1]
    support90 = int(np.searchsorted(np.cumsum(order), 0.9 * order.sum()) + 1)
    big = np.abs(u) > 0.1 * np.abs(u).max()
    lab, _ = ndi.label(big, np.ones((3, 3)))
    piece = lab == (np.argmax(np.bincount(lab.ravel())[1:]) + 1)
    piece &= op.active
    ii, jj = np.nonzero(piece)
    vals, counts = np.unique(res[piece], return_counts=True)
    return dict(cells_90pct_energy=support90, piece_cells=int(piece.sum()),
                piece_energy=float(e[piece].sum() / e.sum()),
                bbox=[int(ii.min()), int(jj.min()), int(ii.max()), int(jj.max())],
                resistances_inside={f"{v:g}": int(c) for v, c in zip(vals, counts)},
                leak_over_inner=leak_ratio(op, piece))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--iterations", type=int, default=26)
    ap.add_argument("--modes", type=int, default=6)
    ap.add_argument("--regions", nargs="+", default=["on"], choices=["on", "off"])
    ap.add_argument("--four", action="store_true", help="4 neighbours (the multigrid on the red-black Schur complement)")
    ap.add_argument("--contrast", type=float, default=1e4, help="largest resistance (smallest is 1)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    op, b, _ = problem(args.side, args.seed, args.four, args.contrast)
    b = b[None]
    res = make_landscape((args.side,) * 2, seed=args.seed, contrast=args.contrast)
    mg = grid_preconditioner(op, MultigridOptions())
    runs = []
    for regions in args.regions:
        pockets = PocketDeflation(op, regions=None if regions == "on" else dict(max_cells=0))
        V, T, residuals = lanczos(op, b, pockets.balance(mg), args.iterations)
        ritz, S = np.linalg.eigh(T)
        modes = []
        for j in range(args.modes):
            u = np.tensordot(S[:, j].astype(np.float32), V, axes=1)
            modes.append(dict(ritz_value=float(ritz[j]), **describe(u, op, res)))
            print(f"regions {regions}: mode {j}: {modes[-1]}", flush=True)
        del V
        reached = next((i + 1 for i, r in enumerate(residuals) if r <= 1e-6), None)
        print(f"regions {regions}: smallest Ritz values {np.round(ritz[:10], 4).tolist()}, "
              f"largest {np.round(ritz[-3:], 4).tolist()}; rtol 1e-6 after {reached} iterations", flush=True)
        runs.append(dict(regions=regions, deflated_parts=pockets.count, weak_regions=pockets.regions,
                         ritz_smallest=ritz[:12].tolist(), ritz_largest=ritz[-3:].tolist(),
                         iterations_to_1e6=reached, residuals=residuals, modes=modes))
    out = Path(args.out) if args.out else (
        HERE / "results" / f"ritz-{_dt.date.today().isoformat()}-{args.side}-{args.seed}{'-four' if args.four else ''}.json")
    out.write_text(json.dumps(dict(
        date=_dt.datetime.now().isoformat(timespec="seconds"), machine=machine(),
        command="python benchmarks/ritz_modes.py " + " ".join(sys.argv[1:] if argv is None else argv),
        side=args.side, seed=args.seed, four_neighbors=args.four, iterations=args.iterations, runs=runs), indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
