"""Matrix-free grid multigrid + batched PCG on the raster itself (the ``mg`` method).

Set up once per grounded system on the backend's arrays (GPU when present); ``solve(B)`` takes
right-hand sides on the grid (k, m, n) in the backend's namespace and returns the voltages on
the grid with the relative residuals. Merged regions keep one unknown at a representative cell
(see ``merged``). ``solve_in_batches`` splits many right-hand sides by the memory left.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..backend import NUMBA_RESIDENT_BYTES, get_backend, to_host
from ..memory import HEADROOM, device_free_bytes, host_free_bytes, need_bytes, plan_batch, rhs_bytes, tiles_fit
from ..operators import GridEdges, GridOperator
from . import tile_compiled
from .cg import pcg
from .deflation import PocketDeflation
from .merged import MergedGrid, leak_for_ungrounded, strengthen_regions
from .redblack import grid_preconditioner


class GridMultigridSolver:
    """Operator and preconditioner of the active cells of ``graph``.

    Under ``precision = single`` the edge conductances are stored in float32 (half the
    operator's memory and traffic; the diagonal is summed in float64 from the stored weights,
    so the operator stays exactly SPD and CG still accumulates in float64).
    """

    def __init__(self, graph, active: np.ndarray, ground_g: np.ndarray | None, options, lend_edges: bool = False):
        backend = get_backend()
        xp = backend.xp
        self.options = options
        self.shape = graph.shape
        eight = graph.edges.se is not None
        single = options.precision == "single"
        free = device_free_bytes() if backend.is_gpu else host_free_bytes()
        if backend.is_gpu and free is not None:  # refuse before allocating, not half-way through
            plan_batch(active.size, 1, free, eight, backend.device, single=single)  # arrays span the grid
        mg_options = options.multigrid
        if free is not None and not backend.is_gpu and tile_compiled.wanted(active.size):
            free -= NUMBA_RESIDENT_BYTES  # the tile solves' compiled loop
        if mg_options.tile_levels is None and not tiles_fit(active.size, free, eight, single):
            mg_options = replace(mg_options, tile_levels=())  # it fits without the tile solves: run so
        e = graph.edges
        wdtype = np.float32 if single else np.float64
        merged = (graph.merge > 0).any()
        # lent host arrays of the right dtype are masked in place (the owner restores them);
        # otherwise our own copy on the backend, masked in place
        self.lent_edges = lend_edges and xp is np and not merged and e.e.dtype == wdtype
        edges = e if self.lent_edges else GridEdges(*(None if w is None else xp.array(w, dtype=wdtype)
                                                      for w in (e.e, e.s, e.se, e.sw)))
        ground = None if ground_g is None else xp.asarray(ground_g)
        active_x = xp.asarray(active)
        # the preconditioner of merged regions needs the unmasked edges: build it first
        strong = GridOperator.build(strengthen_regions(edges, graph.merge), active_x, ground) if merged else None
        self.op = GridOperator.build(edges, active_x, ground, inplace=True)
        del edges
        grid_apply = self.op.apply
        self.regions = MergedGrid(graph.merge, active, xp, degree=e.degree())
        if self.regions.empty:
            self.apply = grid_apply
            # pockets the coarse grid cannot see are deflated exactly; they are found first, so the
            # search's temporaries are gone before the hierarchy is built (36 B/cell off the peak)
            # what the plan leaves free bounds the deflation's arrays (large weakly linked regions)
            spare = None if free is None else int(free * HEADROOM) - need_bytes(
                active.size, 1, eight, single, tiles=mg_options.tile_levels != ())
            pockets = PocketDeflation(self.op, max_bytes=None if spare is None else max(spare, 0))
            self.multigrid = grid_preconditioner(self.op, mg_options)
            self.precond = pockets.balance(self.multigrid)
        else:  # one unknown per region: exact operator, multigrid on strongly linked regions
            leak = leak_for_ungrounded(strong, not eight)
            if leak is not None:
                strong.diag = strong.diag + xp.asarray(leak)
            self.apply = self.regions.operator(grid_apply)
            self.multigrid = grid_preconditioner(strong, mg_options)
            self.precond = self.regions.preconditioner(self.multigrid)
        self.levels = len(self.multigrid.levels)

    @property
    def xp(self):
        return self.op.xp

    def solve(self, B, B_again=None):
        """Voltages on the grid for right-hand sides B (k, m, n) on the backend, and PCG's info.

        B's storage becomes CG's residual: ``B_again()`` remakes it for the final check."""
        regions, active = self.regions, self.op.active
        x, info = pcg(self.apply, B, precond=self.precond, rtol=self.options.rtol, maxiter=self.options.maxiter,
                      b_again=B_again, flexible=self.multigrid.flexible)
        if not regions.empty:
            x = regions.spread(x)
        x *= active  # cells that are not unknowns read 0 V
        return x, info

    def solve_in_batches(self, k: int, batch, on_device: bool, check):
        """Voltages (k, m, n) for right-hand sides ``batch(i, j, xp)`` (rows i..j on the grid),
        as many per pass as the memory left allows; ``check(count, iterations, residuals, start)``
        sees every pass. With ``on_device`` the result stays on the backend when it fits."""
        xp, active, regions = self.xp, self.op.active, self.regions
        cells = int(np.prod(self.shape))
        eight = self.op.edges.se is not None
        free = host_free_bytes() if xp is np else device_free_bytes()
        keep = xp is np or (on_device and free is not None and k * cells * 8 < HEADROOM * free - rhs_bytes(cells, eight))
        per = k if free is None else max(1, min(k, int(HEADROOM * free) // max(rhs_bytes(cells, eight), 1)))
        out = None
        if per < k:  # several passes: the results are gathered in one array
            out = xp.zeros((k,) + self.shape) if keep else np.zeros((k,) + self.shape)
            if keep and xp is not np:  # gathered on the device: fewer per pass
                per = max(1, min(k, int(HEADROOM * device_free_bytes()) // max(rhs_bytes(cells, eight), 1)))

        def rhs(start, stop):
            b = xp.where(active, batch(start, stop, xp), 0.0)
            return b if regions.empty else regions.gather_rhs(b)

        for start in range(0, k, per):
            stop = min(k, start + per)
            x, info = self.solve(rhs(start, stop), B_again=lambda: rhs(start, stop))
            check(x.shape[0], info.iterations, info.residuals, start)
            if out is None:
                return x if keep else to_host(x)
            out[start:stop] = x if keep else to_host(x)
            del x
        return out
