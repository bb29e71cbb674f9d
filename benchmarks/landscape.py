"""Reproducible synthetic resistance landscapes for solver benchmarks and tests.

``make_landscape`` cuts a 1/f^beta spectral random field into land-cover classes whose
resistances span ``1 .. contrast`` (log-spaced, shuffled so that neighbouring classes
often differ by orders of magnitude), adds straight road barriers (resistance =
``contrast``, two cells wide so 8-neighbour diagonals cannot slip through) and blob-shaped
nodata holes (NaN) from a second, smoother field. Holes can cut off pieces of the map, so a
landscape usually has several connected components.

``operator_from_resistance`` turns a resistance raster into the grounded SPD
``GridOperator`` a solve needs (Circuitscape's raster graph: g = 1/r, 8 neighbours, average
conductance by default) with one cell per connected component made inactive (0 V ground).
"""
from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi

from gpucircuit.operators import GridEdges, GridOperator


def spectral_field(shape, beta: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian random field with power spectrum ~ 1/f^beta, standardised."""
    m, n = shape
    fy = np.fft.fftfreq(m)[:, None]
    fx = np.fft.rfftfreq(n)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = np.inf
    spec = np.fft.rfft2(rng.standard_normal(shape)) * f ** (-beta / 2)
    field = np.fft.irfft2(spec, s=shape)
    return (field - field.mean()) / field.std()


def _draw_roads(res, n_roads, value, rng, width=2):
    m, n = res.shape
    for _ in range(n_roads):
        # a straight line between two random points on opposite borders
        if rng.random() < 0.5:
            p0 = (0.0, rng.uniform(0, n - 1))
            p1 = (m - 1.0, rng.uniform(0, n - 1))
        else:
            p0 = (rng.uniform(0, m - 1), 0.0)
            p1 = (rng.uniform(0, m - 1), n - 1.0)
        steps = int(2 * max(m, n))
        t = np.linspace(0, 1, steps)
        ii = np.rint(p0[0] + t * (p1[0] - p0[0])).astype(int)
        jj = np.rint(p0[1] + t * (p1[1] - p0[1])).astype(int)
        for di in range(width):
            for dj in range(width):
                res[np.clip(ii + di, 0, m - 1), np.clip(jj + dj, 0, n - 1)] = value


def make_landscape(shape, seed: int = 0, contrast: float = 1e4, nodata_frac: float = 0.1,
                   roads: bool = True, n_classes: int = 8, beta: float = 2.0) -> np.ndarray:
    """Resistance raster (float64, NaN = nodata) of ``shape``; same seed, same raster."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in shape)
    field = spectral_field(shape, beta, rng)
    edges = np.quantile(field, np.linspace(0, 1, n_classes + 1)[1:-1])
    classes = np.digitize(field, edges)
    values = np.logspace(0, np.log10(contrast), n_classes)
    res = values[rng.permutation(n_classes)][classes]
    if roads:
        n_roads = max(2, (shape[0] + shape[1]) // 250)
        _draw_roads(res, n_roads, contrast, rng)
    if nodata_frac > 0:
        holes = spectral_field(shape, beta + 1.0, rng)
        res[holes < np.quantile(holes, nodata_frac)] = np.nan
    return res


def pick_focal_points(res: np.ndarray, k: int, seed: int = 0, component=None) -> np.ndarray:
    """``k`` distinct (row, col) cells among the lowest-resistance cells (optionally within
    the boolean mask ``component``), as an int array of shape (k, 2)."""
    rng = np.random.default_rng(seed)
    ok = np.isfinite(res)
    if component is not None:
        ok &= component
    vals = res[ok]
    low = ok & (res <= np.quantile(vals, 0.2))
    cand = np.flatnonzero(low)
    pick = rng.choice(cand, size=min(k, cand.size), replace=False)
    return np.stack(np.unravel_index(pick, res.shape), axis=1)


def _edges_from_conductance(g, four_neighbors=False, avg_resistances=False) -> GridEdges:
    """Fallback edge builder (Circuitscape rules) used until gpucircuit.grid provides one."""
    g = np.where(np.isfinite(g) & (g > 0), g, 0.0)

    def pair(a, b):
        both = (a > 0) & (b > 0)
        if avg_resistances:
            with np.errstate(divide="ignore"):
                w = 2.0 / (1.0 / np.where(both, a, 1) + 1.0 / np.where(both, b, 1))
        else:
            w = (a + b) / 2
        return np.where(both, w, 0.0)

    m, n = g.shape
    e = np.zeros_like(g)
    s = np.zeros_like(g)
    e[:, :-1] = pair(g[:, :-1], g[:, 1:])
    s[:-1, :] = pair(g[:-1, :], g[1:, :])
    if four_neighbors:
        return GridEdges(e, s)
    se = np.zeros_like(g)
    sw = np.zeros_like(g)
    se[:-1, :-1] = pair(g[:-1, :-1], g[1:, 1:]) / np.sqrt(2)
    sw[:-1, 1:] = pair(g[:-1, 1:], g[1:, :-1]) / np.sqrt(2)
    return GridEdges(e, s, se, sw)


def edges_from_resistance(res, four_neighbors=False, avg_resistances=False) -> GridEdges:
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(np.isfinite(res) & (res > 0), 1.0 / res, 0.0)
    try:  # the package's own builder, once it exists
        from gpucircuit.grid import edges_from_conductance  # noqa: PLC0415
    except ImportError:
        edges_from_conductance = _edges_from_conductance
    return edges_from_conductance(g, four_neighbors, avg_resistances)


def components(valid: np.ndarray, four_neighbors=False):
    structure = ndi.generate_binary_structure(2, 1 if four_neighbors else 2)
    return ndi.label(valid, structure=structure)


def operator_from_resistance(res, four_neighbors=False, avg_resistances=False, grounds=None,
                             extra_diag=None):
    """Grounded ``GridOperator`` for a resistance raster.

    ``grounds``: (k, 2) cells to hold at 0 V; every connected component without one gets
    its first cell (row-major) grounded, so the operator is SPD. Returns
    ``(op, labels, n_components)``.
    """
    res = np.asarray(res, dtype=np.float64)
    valid = np.isfinite(res) & (res > 0)
    edges = edges_from_resistance(res, four_neighbors, avg_resistances)
    labels, ncomp = components(valid, four_neighbors)
    ground = np.zeros(res.shape, dtype=bool)
    if grounds is not None:
        grounds = np.asarray(grounds).reshape(-1, 2)
        ground[grounds[:, 0], grounds[:, 1]] = True
    if extra_diag is None:
        has = np.zeros(ncomp + 1, dtype=bool)
        has[labels[ground]] = True
        flat = labels.ravel()
        first = np.full(ncomp + 1, -1)
        order = np.flatnonzero(flat)
        # first cell of each component in row-major order
        uniq, idx = np.unique(flat[order], return_index=True)
        first[uniq] = order[idx]
        need = np.flatnonzero(~has[1:]) + 1
        ground.ravel()[first[need]] = True
    active = valid & ~ground
    op = GridOperator.build(edges, active, extra_diag=extra_diag)
    return op, labels, ncomp
