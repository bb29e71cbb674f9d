"""Raster input and output: GeoTIFF and ESRI ASCII grids (optionally gzipped), written atomically.

Rasters come in as float64 arrays with nodata turned into NaN, plus a :class:`GridSpec`
that carries the georeferencing so outputs keep the input's CRS and transform.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

NODATA_OUT = -9999.0


@dataclass(frozen=True)
class GridSpec:
    """Shape and georeferencing of a raster."""

    shape: tuple[int, int]
    transform: object  # affine.Affine
    crs: object | None = None  # rasterio CRS or None

    @property
    def cellsize(self) -> float:
        return float(abs(self.transform.a))

    def matches(self, other: "GridSpec", tol: float = 1e-6) -> bool:
        if self.shape != other.shape:
            return False
        a, b = self.transform, other.transform
        scale = max(abs(a.a), abs(a.e), 1e-12)
        return all(abs(x - y) <= tol * max(scale, abs(x), abs(y)) for x, y in zip(a[:6], b[:6]))


def _vsi_path(path: Path) -> str:
    return f"/vsigzip/{path}" if path.suffix == ".gz" else str(path)


def read_raster(path, name: str = "raster", nan_is_nodata: bool = True) -> tuple[np.ndarray, GridSpec]:
    """Read band 1 as float64 with nodata as NaN. ``name`` labels error messages.

    With ``nan_is_nodata=False`` a NaN cell in a raster whose declared nodata is not NaN is an
    error (it is usually a broken resistance computation, not intended nodata).
    """
    import rasterio
    from rasterio.errors import RasterioIOError

    path = Path(path)
    if not path.exists():
        raise InputError(f"{name} file not found: {path}")
    try:
        with rasterio.open(_vsi_path(path)) as ds:
            data = ds.read(1, masked=True).astype(np.float64)
            spec = GridSpec((ds.height, ds.width), ds.transform, ds.crs)
            declared = ds.nodata
    except (RasterioIOError, ValueError) as err:
        raise InputError(f"cannot read {name} {path}: {str(err).splitlines()[0]}") from None
    out = data.filled(np.nan)
    if not nan_is_nodata and not (declared is not None and np.isnan(declared)):
        raw_nan = np.isnan(out) & ~np.ma.getmaskarray(data)
        if raw_nan.any():
            r, c = np.argwhere(raw_nan)[0]
            raise InputError(f"{name} {path} has NaN values ({int(raw_nan.sum())} cells, first at row {r}, "
                             f"column {c}) that are not its nodata value {declared}")
    return out, spec


def check_same_grid(ref: GridSpec, other: GridSpec, ref_name: str, other_name: str, path) -> None:
    """Error unless ``other`` has the same shape and georeferencing as ``ref``."""
    if ref.shape != other.shape:
        raise InputError(
            f"{other_name} {path} has {other.shape[0]} rows x {other.shape[1]} columns, "
            f"but the {ref_name} has {ref.shape[0]} x {ref.shape[1]}"
        )
    if not ref.matches(other):
        raise InputError(
            f"{other_name} {path} is not aligned with the {ref_name} "
            f"(origin/cell size {tuple(other.transform[:6])} vs {tuple(ref.transform[:6])})"
        )
    if ref.crs is not None and other.crs is not None and ref.crs != other.crs:
        raise InputError(f"{other_name} {path} has CRS {other.crs}, but the {ref_name} has {ref.crs}")


def _atomic_target(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are for sharing
    return Path(tmp)


def write_text_atomic(path, text: str) -> None:
    path = Path(path)
    tmp = _atomic_target(path)
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _fmt_header_number(x: float) -> str:
    x = float(x)
    return repr(x) if x != int(x) or abs(x) >= 1e15 else f"{x:.1f}"


def ascii_grid_text(data: np.ndarray, spec: GridSpec, nodata: float = NODATA_OUT) -> str:
    """ESRI ASCII grid text; values with 10 significant digits, NaN written as ``nodata``."""
    m, n = data.shape
    t = spec.transform
    lines = [
        f"ncols         {n}",
        f"nrows         {m}",
        f"xllcorner     {_fmt_header_number(t.c)}",
        f"yllcorner     {_fmt_header_number(t.f + m * t.e)}",
        f"cellsize      {_fmt_header_number(abs(t.a))}",
        f"NODATA_value  {int(nodata) if float(nodata).is_integer() else nodata}",
    ]
    out = np.where(np.isnan(data), nodata, data)
    body = "\n".join(" ".join(f"{v:.10g}" for v in row) + " " for row in out)
    return "\n".join(lines) + "\n" + body + "\n"


def write_raster(path, data: np.ndarray, spec: GridSpec, nodata: float = NODATA_OUT, compress: bool = False) -> Path:
    """Write ``data`` (NaN = nodata) as GeoTIFF (``.tif``) or ASCII grid (anything else), atomically."""
    import rasterio

    path = Path(path)
    data = np.asarray(data, dtype=np.float64)
    if path.suffix.lower() in (".tif", ".tiff"):
        tmp = _atomic_target(path)
        try:
            profile = dict(
                driver="GTiff", height=data.shape[0], width=data.shape[1], count=1, dtype="float64",
                transform=spec.transform, nodata=nodata, crs=spec.crs,
            )
            if compress:
                profile.update(compress="deflate")
            if data.size > 1 << 20:
                profile.update(tiled=True, blockxsize=512, blockysize=512, BIGTIFF="IF_SAFER")
            with rasterio.open(tmp, "w", **profile) as ds:
                ds.write(np.where(np.isnan(data), nodata, data), 1)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        text = ascii_grid_text(data, spec, nodata)
        if compress:
            import gzip

            path = path.with_name(path.name + ".gz") if path.suffix != ".gz" else path
            tmp = _atomic_target(path)
            try:
                with gzip.open(tmp, "wt") as fh:
                    fh.write(text)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        else:
            write_text_atomic(path, text)
    return path
