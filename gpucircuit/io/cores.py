"""Core areas (habitat patches) for Linkage Mapper analyses, as a raster of integer ids.

Cores come either as a raster of ids on the resistance grid (0, negative values and nodata =
no core) or as polygons (Shapefile, GeoPackage, anything GDAL reads) with an integer id field,
rasterised onto the resistance grid with :func:`rasterio.features.rasterize` (a cell belongs to
a polygon when its centre falls inside it; later features win where polygons overlap).
Nothing is dropped silently: unreadable features, cores reaching outside the resistance raster
and cores that cover no cell are errors naming the ids (Linkage Mapper stops on them too).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .notice import warn_user
from .raster import GridSpec, check_same_crs, check_same_grid, is_ascii_grid, read_raster

_RASTER_SUFFIXES = {".tif", ".tiff", ".asc", ".gz", ".img", ".vrt", ".grd", ".bil", ".flt"}


@dataclass
class Cores:
    """Core ids rasterised on the resistance grid (0 = not a core) and the polygons, if any."""

    labels: np.ndarray  # int64 (rows, cols)
    ids: list[int]
    geometries: dict[int, object] | None = None  # core id -> shapely geometry (polygon input only)


def read_cores(path, spec: GridSpec, resistance: np.ndarray | None = None, field: str = "core_id") -> Cores:
    """Read cores from ``path`` onto the grid ``spec``.

    ``resistance`` (NaN = nodata), when given, removes core cells on nodata (with a warning
    naming cores left with no cell). A core raster whose values look like class codes is split
    into its patches (see :func:`split_class_codes`). Errors (:class:`InputError`): missing file
    or field, CRS mismatch, damaged vector file, cores outside the raster or covering no cell,
    no core on the raster, fewer than two cores.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"cores file not found: {path}")
    if path.suffix.lower() in _RASTER_SUFFIXES or is_ascii_grid(path):
        labels, geoms = _read_core_raster(path, spec), None
    else:
        labels, geoms = _read_core_polygons(path, spec, field)
    return _finish(labels, geoms, resistance, path)


def cores_from_labels(labels: np.ndarray, resistance: np.ndarray | None = None, where: str = "core raster") -> Cores:
    """Validate an in-memory id raster (0 / negative = no core) the same way :func:`read_cores` does."""
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        finite = np.isfinite(labels)
        if np.any(labels[finite] != np.round(labels[finite])):
            raise InputError(f"{where} has non-integer core ids")
        labels = np.where(finite, labels, 0).astype(np.int64)
    return _finish(labels.astype(np.int64), None, resistance, where)


def _read_core_raster(path: Path, spec: GridSpec) -> np.ndarray:
    data, cspec = read_raster(path, name="cores raster")
    check_same_grid(spec, cspec, "resistance raster", "cores raster", path)
    finite = np.isfinite(data)
    if np.any(data[finite] != np.round(data[finite])):
        raise InputError(f"cores raster {path} has non-integer values; core ids must be integers")
    return split_class_codes(np.where(finite & (data > 0), data, 0).astype(np.int64), f"cores raster {path}")


def split_class_codes(labels: np.ndarray, where: str) -> np.ndarray:
    """Cores from a raster that may hold class codes (e.g. an MSPA map: 17 = core, 3 = edge ...)
    rather than core ids.

    Rule: cores are connected patches, so if any value > 0 forms more than one 8-connected patch
    of cells holding that value, the values are read as class codes and every 8-connected patch
    of equal value becomes a core of its own, numbered 1, 2, ... by value and then by position
    (row-major order of the patch's bounding box scan); one warning line says so. A raster in
    which every id is a single patch is returned unchanged.
    """
    from scipy import ndimage

    positive = labels > 0
    if not positive.any():
        return labels
    values, dense = np.unique(labels[positive], return_inverse=True)
    index = np.zeros(labels.shape, dtype=np.int64)
    index[positive] = dense.ravel() + 1  # 1..K, so find_objects stays small whatever the ids
    eight = np.ones((3, 3), dtype=bool)
    boxes = ndimage.find_objects(index)
    counts = [ndimage.label(index[box] == k, structure=eight)[1] for k, box in enumerate(boxes, 1)]
    split = [(int(values[k]), c) for k, c in enumerate(counts) if c > 1]
    if not split:
        return labels
    out = np.zeros(labels.shape, dtype=np.int64)
    offset = 0
    for k, box in enumerate(boxes, 1):
        patches, count = ndimage.label(index[box] == k, structure=eight)
        view = out[box]
        view[patches > 0] = patches[patches > 0] + offset
        offset += count
    shown = ", ".join(f"value {v} forms {c} patches" for v, c in split[:3]) + (", ..." if len(split) > 3 else "")
    warn_user(f"{where} looks class-coded ({shown}): each 8-connected patch of equal value is taken as "
              f"a core of its own ({offset} cores)")
    return out


def _read_core_polygons(path: Path, spec: GridSpec, field: str):
    import pyogrio
    import shapely
    from rasterio.crs import CRS
    from rasterio.features import rasterize

    try:
        info = pyogrio.read_info(path)
    except Exception as err:  # noqa: BLE001 - GDAL says why in its message
        raise InputError(f"cannot read cores {path}: {str(err).splitlines()[0]}") from None
    fields = list(info["fields"])
    if field not in fields:
        raise InputError(f"cores {path} has no field {field!r} (fields: {', '.join(fields) or 'none'})")
    check_same_crs(spec.crs, CRS.from_user_input(info["crs"]) if info["crs"] else None,
                   "resistance raster", f"cores {path}")
    try:
        _meta, _fids, wkb, values = pyogrio.raw.read(path, columns=[field])
    except Exception as err:  # noqa: BLE001 - a damaged .dbf / .shp: GDAL says what failed
        raise InputError(f"cannot read cores {path}: {str(err).splitlines()[0]}") from None
    expected = int(info.get("features") or 0)
    if expected > 0 and len(wkb) != expected:
        raise InputError(f"cores {path}: read {len(wkb)} of the {expected} features it declares "
                         "(a truncated or damaged file?)")
    geoms = shapely.from_wkb(wkb)
    ids = np.asarray(values[0])
    lost = [k for k, g in enumerate(geoms) if g is None or g.is_empty]
    if lost:  # GDAL returns no geometry for records cut off a truncated .shp
        named = ", ".join(str(ids[k]) for k in lost[:10]) + (", ..." if len(lost) > 10 else "")
        raise InputError(f"cores {path}: {len(lost)} of {len(geoms)} features have no geometry "
                         f"({field} {named}); is the .shp truncated or damaged?")
    try:
        ids_f = ids.astype(np.float64)
    except (TypeError, ValueError):
        raise InputError(f"cores {path}: field {field!r} must hold integer ids") from None
    if np.any(~np.isfinite(ids_f)) or np.any(ids_f != np.round(ids_f)) or np.any(ids_f <= 0):
        raise InputError(f"cores {path}: field {field!r} must hold positive integer ids")
    kids = ids_f.astype(np.int64)
    _check_inside(path, geoms, kids, spec)
    labels = rasterize(
        ((g, int(i)) for g, i in zip(geoms, kids)),
        out_shape=spec.shape, transform=spec.transform, fill=0, dtype="int64" if _int64_ok() else "int32",
    ).astype(np.int64)
    missing = sorted(set(kids.tolist()) - set(np.unique(labels).tolist()))
    if missing:
        raise InputError(f"cores {path}: core(s) {', '.join(map(str, missing))} cover no cell centre of the "
                         "resistance raster (smaller than a cell, or hidden under later polygons)")
    merged: dict[int, object] = {}
    for g, i in zip(geoms, kids):
        merged[int(i)] = g if int(i) not in merged else shapely.union(merged[int(i)], g)
    return labels, merged


def _check_inside(path: Path, geoms, ids: np.ndarray, spec: GridSpec) -> None:
    """Error naming every core that reaches outside the resistance raster (Linkage Mapper stops
    on such cores too: the part outside would be cut off without notice)."""
    import shapely

    t = spec.transform
    m, n = spec.shape
    xs, ys = (t.c, t.c + t.a * n), (t.f, t.f + t.e * m)
    tol = 1e-6 * max(abs(t.a), abs(t.e))
    bounds = shapely.bounds(np.asarray(geoms, dtype=object))
    outside = (bounds[:, 0] < min(xs) - tol) | (bounds[:, 2] > max(xs) + tol) | \
              (bounds[:, 1] < min(ys) - tol) | (bounds[:, 3] > max(ys) + tol)
    if outside.any():
        bad = sorted(set(ids[outside].tolist()))
        apart = (bounds[:, 0] > max(xs)) | (bounds[:, 2] < min(xs)) | (bounds[:, 1] > max(ys)) | (bounds[:, 3] < min(ys))
        if apart.all():
            raise InputError(f"cores {path} do not overlap the resistance raster (no core cell on the grid)")
        raise InputError(f"cores {path}: core(s) {', '.join(map(str, bad))} lie partly or wholly outside the "
                         f"resistance raster (extent x {min(xs):g}..{max(xs):g}, y {min(ys):g}..{max(ys):g})")


def _int64_ok() -> bool:
    import rasterio

    major, minor = (int(x) for x in rasterio.__version__.split(".")[:2])
    return (major, minor) >= (1, 3)


def _finish(labels: np.ndarray, geoms, resistance, where) -> Cores:
    present = [int(i) for i in np.unique(labels) if i > 0]
    if resistance is not None:
        valid = np.isfinite(resistance)
        if labels.shape != valid.shape:
            raise InputError(f"{where}: core raster shape {labels.shape} differs from the resistance raster {valid.shape}")
        on_nodata = [i for i in present if not np.any(valid & (labels == i))]
        labels = np.where(valid, labels, 0)
        ids = [i for i in present if i not in on_nodata]
        if on_nodata and len(ids) < 2:
            raise InputError(
                f"{where}: core(s) {', '.join(map(str, on_nodata))} lie only on resistance nodata; "
                f"{len(ids)} usable core(s) left, need at least two"
            )
        if on_nodata:
            warn_user(f"{where}: core(s) {', '.join(map(str, on_nodata))} lie only on resistance nodata "
                      "and are left out")
    else:
        ids = present
    if len(ids) < 2:
        if not ids:
            raise InputError(f"{where}: no core cells on the resistance raster")
        raise InputError(f"{where}: only one core ({ids[0]}) on the resistance raster; need at least two")
    if geoms is not None:
        geoms = {i: g for i, g in geoms.items() if i in ids}
    return Cores(labels=labels, ids=ids, geometries=geoms)
