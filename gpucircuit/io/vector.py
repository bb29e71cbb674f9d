"""Vector output: lines (least-cost paths) to GeoPackage with pyogrio + shapely, written atomically."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import InputError


def cell_centres(path_cells: np.ndarray, transform) -> np.ndarray:
    """Map coordinates ``(x, y)`` of the centres of cells given as ``(row, col)`` rows."""
    rc = np.asarray(path_cells, dtype=np.float64)
    cols, rows = rc[:, 1] + 0.5, rc[:, 0] + 0.5
    t = transform
    return np.column_stack([t.a * cols + t.b * rows + t.c, t.d * cols + t.e * rows + t.f])


def write_lines(path, lines: list[np.ndarray], fields: dict[str, list], crs=None, layer: str | None = None) -> Path:
    """Write LineStrings (each an ``(k, 2)`` coordinate array) with attribute ``fields`` to a GeoPackage."""
    import pyogrio.raw
    import shapely

    path = Path(path)
    n = len(lines)
    for name, values in fields.items():
        if len(values) != n:
            raise InputError(f"field {name!r} has {len(values)} values for {n} lines")
    geoms = [shapely.linestrings(c) if len(c) >= 2 else shapely.linestrings(np.vstack([c, c])) for c in lines]
    wkb = np.array(shapely.to_wkb(geoms), dtype=object) if n else np.array([], dtype=object)
    names = list(fields)
    arrays = [np.asarray(fields[k]) for k in names]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".gpkg", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # let GDAL create it
    try:
        pyogrio.raw.write(
            tmp, wkb, arrays, names, layer=layer or path.stem, driver="GPKG", geometry_type="LineString",
            crs=None if crs is None else crs.to_wkt(),
        )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_polygons(path: Path, polygons, fields: dict[str, list], crs=None, layer: str | None = None) -> Path:
    """(Multi)Polygons with attribute ``fields`` to a GeoPackage, atomically (MultiPolygon layer)."""
    import os
    import tempfile

    import numpy as np
    import pyogrio.raw
    import shapely

    geoms = [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in polygons]
    wkb = np.array(shapely.to_wkb(geoms), dtype=object) if geoms else np.array([], dtype=object)
    names = list(fields)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".gpkg", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        pyogrio.raw.write(tmp, wkb, [np.asarray(fields[k]) for k in names], names, layer=layer or path.stem,
                          driver="GPKG", geometry_type="MultiPolygon", crs=None if crs is None else crs.to_wkt())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
