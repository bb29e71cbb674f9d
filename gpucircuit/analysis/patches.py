"""Patches of a class map (pinch points, barriers) and what the seed studies report about them.

A *patch* is an 8-connected group of ``True`` cells of a boolean mask (e.g. the top Jenks class
of a current-density map).  :func:`patch_table` reports, per patch, its cell count, area (km²),
maximum length (km), mean / max of a value raster and land-use composition (%);
:func:`landuse_summary` gives the land-use composition of the whole mask, and
:func:`patches_to_polygons` vectorises the patches.

Coordinates: cell centres are at ``(col * xres, row * yres)`` metres, so lengths are in the
raster's (projected, metre) units; cell sizes are taken as absolute values.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from gpucircuit.errors import InputError

from .cwd import cell_steps

__all__ = ["label_patches", "patch_table", "landuse_summary", "patches_to_polygons"]

_EIGHT = np.ones((3, 3), dtype=bool)


def label_patches(mask) -> tuple[np.ndarray, int]:
    """Label 8-connected patches of ``mask`` (non-zero, non-NaN cells are ``True``).

    Returns ``(ids, n)``: an ``int32`` raster with patch ids ``1..n`` (0 outside patches) and the
    number of patches.  Ids follow scipy's raster scan order (row-major, first cell met).
    """
    m = _as_mask(mask)
    ids, n = ndimage.label(m, structure=_EIGHT, output=np.int32)
    return ids, int(n)


def patch_table(ids, cell_size, values=None, landuse=None, landuse_names=None) -> list[dict]:
    """One row (dict) per patch of a labelled raster, ordered by patch id.

    ``ids``: integer raster, patch ids > 0 (as from :func:`label_patches`); 0 / negative = none.
    ``cell_size``: cell size in metres, a number or ``(xres, yres)``.
    ``values``: optional raster (same shape); NaN cells are skipped.
    ``landuse``: optional integer raster (same shape); ``landuse_names``: optional mapping
    ``{code: name}``.

    Keys of each row:

    * ``patch`` — the id; ``cells`` — cell count; ``area_km2`` — ``cells · xres · yres / 10⁶``;
    * ``max_length_km`` — the largest distance between two cell centres of the patch (0 for a
      one-cell patch), found on the convex hull of the cells' row-extreme centres;
    * ``mean_value``, ``max_value`` — with ``values`` (NaN if the patch has no valid value);
    * ``landuse_<name>_pct`` — with ``landuse``: the share (%) of the patch's cells in each
      land-use class found in any patch (``<name>`` = the mapped name or the code); the shares
      of a patch sum to 100.
    """
    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.dtype.kind not in "iu":
        raise InputError("patch ids must be a 2-D integer raster")
    xres, yres = cell_steps(cell_size)
    flat = ids.ravel()
    inside = np.flatnonzero(flat > 0)
    pid = flat[inside].astype(np.int64)
    present = np.unique(pid)
    if present.size == 0:
        return []
    nmax = int(present[-1])
    counts = np.bincount(pid, minlength=nmax + 1)
    lengths = _max_lengths(inside, pid, ids.shape[1], xres, yres, nmax)

    rows = []
    for p in present:
        rows.append({"patch": int(p), "cells": int(counts[p]),
                     "area_km2": float(counts[p]) * xres * yres / 1e6,
                     "max_length_km": float(lengths[p]) / 1000.0})

    if values is not None:
        v = _same_shape(values, ids, "values").astype(np.float64).ravel()[inside]
        ok = np.isfinite(v)
        n_ok = np.bincount(pid[ok], minlength=nmax + 1)
        s = np.bincount(pid[ok], weights=v[ok], minlength=nmax + 1)
        mx = np.full(nmax + 1, -np.inf)
        _group_max(mx, pid[ok], v[ok])
        for row in rows:
            p = row["patch"]
            row["mean_value"] = float(s[p] / n_ok[p]) if n_ok[p] else float("nan")
            row["max_value"] = float(mx[p]) if n_ok[p] else float("nan")

    if landuse is not None:
        lu = _landuse(landuse, ids).ravel()[inside]
        codes, lu_idx = np.unique(lu, return_inverse=True)
        lu_idx = lu_idx.ravel()
        nc = codes.size
        table = np.bincount(pid * nc + lu_idx, minlength=(nmax + 1) * nc).reshape(nmax + 1, nc)
        keys = [f"landuse_{_name(c, landuse_names)}_pct" for c in codes]
        for row in rows:
            p = row["patch"]
            for key, cnt in zip(keys, table[p]):
                row[key] = 100.0 * float(cnt) / float(counts[p])
    return rows


def landuse_summary(mask, landuse, landuse_names=None, cell_size=None) -> list[dict]:
    """Land-use composition of all ``True`` cells of ``mask``: one row per class present.

    Rows (ordered by code): ``code``, ``name`` (mapped, else the code as text), ``cells``,
    ``share_pct`` (of the mask's cells; they sum to 100) and, with ``cell_size`` (metres, a
    number or ``(xres, yres)``), ``area_km2``.
    """
    m = _as_mask(mask)
    lu = _landuse(landuse, m)[m]
    if lu.size == 0:
        return []
    codes, counts = np.unique(lu, return_counts=True)
    total = float(counts.sum())
    area = None if cell_size is None else cell_steps(cell_size)
    rows = []
    for c, n in zip(codes, counts):
        row = {"code": c.item(), "name": _name(c, landuse_names), "cells": int(n),
               "share_pct": 100.0 * float(n) / total}
        if area is not None:
            row["area_km2"] = float(n) * area[0] * area[1] / 1e6
        rows.append(row)
    return rows


def patches_to_polygons(ids, transform) -> list[tuple[object, int]]:
    """Polygons of the patches: a list of ``(shapely geometry, id)`` ordered by id.

    ``transform``: the raster's affine transform (``rasterio``/``affine.Affine``).  Cells are
    traced with 8-connectivity (``rasterio.features.shapes``); the pieces of one id are merged,
    so each id gives one Polygon or MultiPolygon (diagonal-only contacts make a MultiPolygon).
    """
    from rasterio import features
    import shapely
    from shapely.geometry import shape

    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.dtype.kind not in "iu":
        raise InputError("patch ids must be a 2-D integer raster")
    if ids.size == 0 or not np.any(ids > 0):
        return []
    data = ids.astype(np.int32, copy=False)
    pieces: dict[int, list] = {}
    for geom, val in features.shapes(data, mask=data > 0, connectivity=8, transform=transform):
        pieces.setdefault(int(val), []).append(shape(geom))
    out = []
    for pid in sorted(pieces):
        parts = pieces[pid]
        geom = parts[0] if len(parts) == 1 else shapely.union_all(parts)
        out.append((geom, pid))
    return out


# --------------------------------------------------------------------------- internals

def _as_mask(mask) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2:
        raise InputError(f"mask must be a 2-D raster, got {m.ndim} dimension(s)")
    if m.dtype == bool:
        return m
    if m.dtype.kind == "f":
        return np.isfinite(m) & (m != 0)
    if m.dtype.kind in "iu":
        return m != 0
    raise InputError(f"mask must be boolean or numeric, got dtype {m.dtype}")


def _same_shape(a, ref, what) -> np.ndarray:
    a = np.asarray(a)
    if a.shape != ref.shape:
        raise InputError(f"{what} raster has shape {a.shape}, expected {ref.shape}")
    return a


def _landuse(landuse, ref) -> np.ndarray:
    lu = _same_shape(landuse, ref, "land-use")
    if lu.dtype.kind == "f":
        vals = lu[np.asarray(ref) > 0]
        if not np.all(np.isfinite(vals)):
            raise InputError("land-use raster has NaN inside the patches; give it an integer code")
        if np.any(vals != np.round(vals)):
            raise InputError("land-use raster must hold integer class codes")
        lu = np.where(np.isfinite(lu), lu, 0).astype(np.int64)
    elif lu.dtype.kind not in "iu":
        raise InputError(f"land-use raster must hold integer class codes, got dtype {lu.dtype}")
    return lu


def _name(code, names) -> str:
    c = code.item() if hasattr(code, "item") else code
    if names is not None and c in names:
        return str(names[c])
    return str(c)


def _group_max(out, groups, vals):
    order = np.lexsort((vals, groups))
    g = groups[order]
    last = np.flatnonzero(np.r_[g[1:] != g[:-1], True])
    out[g[last]] = vals[order][last]


def _max_lengths(inside, pid, ncols, xres, yres, nmax) -> np.ndarray:
    """Largest centre-to-centre distance per patch (metres), indexed by id.

    Every vertex of a patch's convex hull is the leftmost or rightmost cell of its row within
    the patch, so only those cells are hull candidates; the farthest pair is a pair of hull
    vertices.
    """
    rows = inside // ncols
    cols = inside % ncols
    # inside is row-major sorted, so within (pid, row) the columns increase
    order = np.lexsort((cols, rows, pid))
    p, r, c = pid[order], rows[order], cols[order]
    new = np.r_[True, (p[1:] != p[:-1]) | (r[1:] != r[:-1])]
    first = np.flatnonzero(new)
    last = np.r_[first[1:] - 1, p.size - 1]
    cand_p = np.concatenate((p[first], p[last]))
    cand_x = np.concatenate((c[first], c[last])).astype(np.float64) * xres
    cand_y = np.concatenate((r[first], r[last])).astype(np.float64) * yres
    o = np.argsort(cand_p, kind="stable")
    cand_p, cand_x, cand_y = cand_p[o], cand_x[o], cand_y[o]
    bounds = np.flatnonzero(np.r_[True, cand_p[1:] != cand_p[:-1], True])
    out = np.zeros(nmax + 1)
    # one-row patches: the two row extremes are the answer
    a_all, b_all = bounds[:-1], bounds[1:]
    two = (b_all - a_all) == 2
    a2 = a_all[two]
    out[cand_p[a2]] = np.hypot(cand_x[a2 + 1] - cand_x[a2], cand_y[a2 + 1] - cand_y[a2])
    for a, b in zip(a_all[~two], b_all[~two]):
        pts = np.column_stack((cand_x[a:b], cand_y[a:b]))
        if b - a > 64:
            pts = np.unique(pts, axis=0)
        out[cand_p[a]] = _diameter(pts)
    return out


def _diameter(pts: np.ndarray) -> float:
    if pts.shape[0] < 2:
        return 0.0
    if pts.shape[0] > 64:
        from scipy.spatial import ConvexHull, QhullError
        try:
            pts = pts[ConvexHull(pts).vertices]
        except (QhullError, ValueError):      # collinear: the extremes lie on a line
            lo = np.lexsort((pts[:, 1], pts[:, 0]))
            pts = pts[[lo[0], lo[-1]]]
    best = 0.0
    step = 2048
    for s in range(0, pts.shape[0], step):
        d = pts[s:s + step, None, :] - pts[None, :, :]
        best = max(best, float(np.sqrt(np.max(np.einsum("ijk,ijk->ij", d, d)))))
    return best
