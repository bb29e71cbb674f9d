"""Ecological breakpoints: where corridors (least-cost paths or corridor boundaries) cross roads
and railways.

:func:`find_breakpoints` intersects the corridor geometries with line features given either as
a GeoPackage / Shapefile (read with pyogrio) or as an in-memory list, and reports one row per
intersection point with the crossed line's attributes.
"""

from __future__ import annotations

import os
from typing import Iterable

import numpy as np

from gpucircuit.errors import InputError

__all__ = ["find_breakpoints", "read_lines"]

_RESERVED = ("link_id", "x", "y", "kind", "line_index", "distance_along")


def read_lines(path, layer=None, columns=None, where=None):
    """Read line features with pyogrio: ``(list of (attrs dict, geometry), crs or None)``.

    ``layer``: layer name or index (default: the first); ``columns``: attribute names to keep
    (default: all); ``where``: an OGR SQL filter, e.g. ``"fclass IN ('primary', 'rail')"``.
    Features without geometry are skipped.
    """
    import shapely
    from pyogrio import raw
    from pyogrio.errors import DataSourceError, DataLayerError

    p = os.fspath(path)
    if not os.path.exists(p):
        raise InputError(f"line file not found: {p}")
    try:
        meta, _, geoms, fields = raw.read(p, layer=layer, columns=columns, where=where)
    except (DataSourceError, DataLayerError, ValueError) as err:
        raise InputError(f"cannot read line features from {p}: {str(err).splitlines()[0]}") from None
    names = [str(n) for n in meta["fields"]]
    out = []
    if geoms is None:
        raise InputError(f"{p} has no geometry column")
    for t, wkb in enumerate(geoms):
        if wkb is None:
            continue
        attrs = {n: _py(col[t]) for n, col in zip(names, fields)}
        out.append((attrs, shapely.from_wkb(wkb)))
    return out, meta.get("crs")


def find_breakpoints(paths: Iterable, lines, *, paths_crs=None, lines_crs=None, layer=None,
                     columns=None, where=None) -> list[dict]:
    """Points where corridor geometries cross line features (roads, railways).

    ``paths``: ``(link_id, geometry)`` pairs; the geometry is a (Multi)LineString — a
    least-cost path — or a (Multi)Polygon, whose boundary is used (corridor edges).
    ``lines``: a GeoPackage / Shapefile path (read via :func:`read_lines` with ``layer``,
    ``columns``, ``where``) or a list of ``(attrs dict, geometry)``.
    ``paths_crs`` / ``lines_crs``: anything ``rasterio.crs.CRS.from_user_input`` accepts
    (``"EPSG:32648"``, WKT, a CRS object).  A file's own CRS is used for ``lines``; if both
    sides have a CRS and they differ, :class:`InputError` is raised; with either side unknown
    no check is possible and none is made.

    Rows are ordered by link (input order) then position along the path.  Keys: ``link_id``,
    ``x``, ``y``, ``kind`` (``"crossing"`` for a point intersection, ``"overlap"`` where the
    path runs along the line — reported at the overlap's midpoint), ``line_index`` (the
    feature's position among the lines read), ``distance_along`` (from the path's start, in
    CRS units) and the line's attributes (a name clashing with these keys gets a ``line_``
    prefix).  The same point found twice for one path and one feature is reported once.
    """
    import shapely
    from shapely import STRtree

    if isinstance(lines, (str, os.PathLike)):
        feats, file_crs = read_lines(lines, layer=layer, columns=columns, where=where)
        if file_crs and lines_crs is not None and not _same_crs(file_crs, lines_crs):
            raise InputError(f"lines_crs {lines_crs} differs from the CRS of {os.fspath(lines)}")
        lines_crs = file_crs or lines_crs
    else:
        feats = list(lines)
    if paths_crs is not None and lines_crs is not None and not _same_crs(paths_crs, lines_crs):
        raise InputError(f"CRS mismatch: corridors are in {_crs_name(paths_crs)} but lines are in "
                         f"{_crs_name(lines_crs)}; reproject one of them")

    line_geoms, line_attrs = [], []
    for t, item in enumerate(feats):
        try:
            attrs, geom = item
        except (TypeError, ValueError):
            raise InputError(f"line feature {t} must be (attrs dict, geometry)") from None
        line_geoms.append(_lineal(geom, f"line feature {t}"))
        line_attrs.append(dict(attrs or {}))
    tree = STRtree(line_geoms) if line_geoms else None

    rows = []
    for t, item in enumerate(paths):
        try:
            link_id, geom = item
        except (TypeError, ValueError):
            raise InputError(f"path {t} must be (link_id, geometry)") from None
        path = _lineal(geom, f"path {link_id!r}")
        if tree is None or path is None:
            continue
        link_rows = []
        for li in tree.query(path, predicate="intersects"):
            li = int(li)
            inter = shapely.intersection(path, line_geoms[li])
            seen = set()
            for x, y, kind in _points(inter):
                key = (round(x, 9), round(y, 9))
                if key in seen:
                    continue
                seen.add(key)
                row = {"link_id": link_id, "x": x, "y": y, "kind": kind, "line_index": li,
                       "distance_along": float(path.project(shapely.Point(x, y)))}
                for k, v in line_attrs[li].items():
                    row[f"line_{k}" if k in _RESERVED else k] = v
                link_rows.append(row)
        link_rows.sort(key=lambda r: (r["distance_along"], r["line_index"]))
        rows.extend(link_rows)
    return rows


# --------------------------------------------------------------------------- internals

def _lineal(geom, what):
    import shapely

    if geom is None:
        return None
    if not isinstance(geom, shapely.Geometry):
        raise InputError(f"{what} is not a shapely geometry")
    if geom.is_empty:
        return None
    gt = geom.geom_type
    if gt in ("LineString", "MultiLineString", "LinearRing"):
        return geom
    if gt in ("Polygon", "MultiPolygon"):
        return geom.boundary
    if gt == "GeometryCollection":
        parts = [_lineal(g, what) for g in shapely.get_parts(geom)]
        parts = [p for p in parts if p is not None]
        return shapely.union_all(parts) if parts else None
    raise InputError(f"{what} is a {gt}; expected a line or polygon")


def _points(geom):
    """``(x, y, kind)`` for each piece of an intersection result."""
    import shapely

    if geom is None or geom.is_empty:
        return
    for part in shapely.get_parts(geom):
        gt = part.geom_type
        if gt == "Point":
            yield float(part.x), float(part.y), "crossing"
        elif gt in ("LineString", "LinearRing"):
            mid = part.interpolate(0.5, normalized=True)
            yield float(mid.x), float(mid.y), "overlap"
        elif gt.startswith("Multi") or gt == "GeometryCollection":
            yield from _points(part)


def _same_crs(a, b) -> bool:
    from rasterio.crs import CRS
    from rasterio.errors import CRSError

    try:
        return CRS.from_user_input(a) == CRS.from_user_input(b)
    except CRSError as err:
        raise InputError(f"unreadable CRS: {str(err).splitlines()[0]}") from None


def _crs_name(c) -> str:
    from rasterio.crs import CRS

    try:
        crs = CRS.from_user_input(c)
        return crs.to_string() or str(c)
    except Exception:  # noqa: BLE001 - only used to word an error message
        return str(c)


def _py(v):
    if isinstance(v, np.generic):
        return v.item()
    return v
