"""Core areas (habitat patches) for Linkage Mapper analyses, as a raster of integer ids.

Cores come either as a raster of ids on the resistance grid (0, negative values and nodata =
no core) or as polygons (Shapefile, GeoPackage, anything GDAL reads) with an integer id field,
rasterised onto the resistance grid with :func:`rasterio.features.rasterize` (a cell belongs to
a polygon when its centre falls inside it; later features win where polygons overlap).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .raster import GridSpec, check_same_grid, read_raster

_RASTER_SUFFIXES = {".tif", ".tiff", ".asc", ".gz", ".img", ".vrt", ".grd", ".bil", ".flt"}


@dataclass
class Cores:
    """Core ids rasterised on the resistance grid (0 = not a core) and the polygons, if any."""

    labels: np.ndarray  # int64 (rows, cols)
    ids: list[int]
    geometries: dict[int, object] | None = None  # core id -> shapely geometry (polygon input only)


def read_cores(path, spec: GridSpec, resistance: np.ndarray | None = None, field: str = "core_id") -> Cores:
    """Read cores from ``path`` onto the grid ``spec``.

    ``resistance`` (NaN = nodata), when given, removes core cells on nodata and is used to
    report cores that lie only on nodata. Errors (:class:`InputError`): missing file or field,
    CRS mismatch, no core on the raster, fewer than two cores.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"cores file not found: {path}")
    if path.suffix.lower() in _RASTER_SUFFIXES:
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
    return np.where(finite & (data > 0), data, 0).astype(np.int64)


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
    if bool(info["crs"]) != (spec.crs is not None):  # one side unknown: cannot tell if they line up
        missing, other = (f"cores {path}", "the resistance raster") if not info["crs"] else \
            ("the resistance raster", f"cores {path}")
        raise InputError(f"{missing} has no CRS but {other} has one: give both the same CRS")
    if info["crs"] and spec.crs is not None:
        crs = CRS.from_user_input(info["crs"])
        if crs != spec.crs:
            raise InputError(f"cores {path} are in CRS {crs.to_string()!r}, but the resistance raster is in {spec.crs.to_string()!r}")
    _meta, _fids, wkb, values = pyogrio.raw.read(path, columns=[field])
    geoms = shapely.from_wkb(wkb)
    ids = np.asarray(values[0])
    keep = [k for k, g in enumerate(geoms) if g is not None and not g.is_empty]
    if not keep:
        raise InputError(f"cores {path} has no polygons")
    try:
        ids_f = ids[keep].astype(np.float64)
    except (TypeError, ValueError):
        raise InputError(f"cores {path}: field {field!r} must hold integer ids") from None
    if np.any(~np.isfinite(ids_f)) or np.any(ids_f != np.round(ids_f)) or np.any(ids_f <= 0):
        raise InputError(f"cores {path}: field {field!r} must hold positive integer ids")
    kids = ids_f.astype(np.int64)
    labels = rasterize(
        ((geoms[k], int(i)) for k, i in zip(keep, kids)),
        out_shape=spec.shape, transform=spec.transform, fill=0, dtype="int64" if _int64_ok() else "int32",
    ).astype(np.int64)
    if not labels.any():
        raise InputError(f"cores {path} do not overlap the resistance raster (no core cell on the grid)")
    merged: dict[int, object] = {}
    for k, i in zip(keep, kids):
        merged[int(i)] = geoms[k] if int(i) not in merged else shapely.union(merged[int(i)], geoms[k])
    return labels, merged


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
    else:
        ids = present
    if len(ids) < 2:
        if not ids:
            raise InputError(f"{where}: no core cells on the resistance raster")
        raise InputError(f"{where}: only one core ({ids[0]}) on the resistance raster; need at least two")
    if geoms is not None:
        geoms = {i: g for i, g in geoms.items() if i in ids}
    return Cores(labels=labels, ids=ids, geometries=geoms)
