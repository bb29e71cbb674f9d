"""The ``resistance`` study's layers on one grid: the template grid its TOML file describes (a
raster to copy, or a CRS, cell size and extent), and rasters and vector layers resampled or
burnt onto it."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import InputError
from .factors import ResistanceConfig
from .raster import GridSpec, check_same_crs, read_raster


MAX_CELLS = 1 << 33    # a grid this large is a unit mistake (cell size in degrees vs metres), not a study



def template_grid(cfg: ResistanceConfig) -> GridSpec:
    """The output grid: the ``like`` raster's (optionally at a new cell size) or the explicit one."""
    import rasterio
    from rasterio.crs import CRS
    from rasterio.errors import CRSError, RasterioIOError

    g = cfg.grid
    if g.like is not None:
        try:
            with rasterio.open(g.like) as ds:
                transform, crs, (h, w) = ds.transform, ds.crs, ds.shape
        except RasterioIOError as err:
            raise cfg.error("[grid] key 'like'", f"cannot read {g.like}: {str(err).splitlines()[0]}") from None
        if transform.b or transform.d:
            raise cfg.error("[grid] key 'like'", f"{g.like} is rotated; give crs, cellsize and extent instead")
        if g.cellsize is None or math.isclose(g.cellsize, abs(transform.a)):
            spec = GridSpec((h, w), transform, crs)
        else:
            xmin, ymax = transform.c, transform.f
            xmax, ymin = xmin + w * transform.a, ymax + h * transform.e
            spec = _grid_over((xmin, ymin, xmax, ymax), g.cellsize, crs)
    else:
        try:
            crs = CRS.from_user_input(g.crs)
        except CRSError as err:
            raise cfg.error("[grid] key 'crs'", f"{g.crs!r} is not a CRS: {str(err).splitlines()[0]}") from None
        spec = _grid_over(g.extent, g.cellsize, crs)
    if spec.shape[0] * spec.shape[1] > MAX_CELLS:
        raise cfg.error("[grid]", f"{spec.shape[0]} x {spec.shape[1]} cells is too large: check cellsize and extent")
    return spec



def _grid_over(extent, cellsize: float, crs) -> GridSpec:
    """Cells of ``cellsize`` from the top-left corner, covering the extent (last row/column may overhang)."""
    from affine import Affine

    xmin, ymin, xmax, ymax = extent
    cols = max(1, math.ceil((xmax - xmin) / cellsize - 1e-9))
    rows = max(1, math.ceil((ymax - ymin) / cellsize - 1e-9))
    return GridSpec((rows, cols), Affine(cellsize, 0.0, xmin, 0.0, -cellsize, ymax), crs)



def padded_grid(spec: GridSpec, cells: int) -> GridSpec:
    """``spec`` grown by ``cells`` on every side (same cells, same CRS)."""
    from affine import Affine

    h, w = spec.shape
    t = spec.transform
    grown = Affine(t.a, t.b, t.c - cells * (t.a + t.b), t.d, t.e, t.f - cells * (t.d + t.e))
    return GridSpec((h + 2 * cells, w + 2 * cells), grown, spec.crs)



def raster_on_grid(path: Path, spec: GridSpec, resampling: str, name: str) -> np.ndarray:
    """Band 1 of a raster on the template grid (float64, NaN = nodata), reprojected and resampled
    by rasterio when its grid differs; cells of the template outside the raster are nodata."""
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    data, src = read_raster(path, name=name)
    same_crs = src.crs == spec.crs  # both unknown counts as the same
    if src.matches(spec) and (same_crs or src.crs is None or spec.crs is None):
        check_same_crs(spec.crs, src.crs, "template grid", f"{name} {path}")  # one unknown: cannot tell
        return data
    if src.crs is None or spec.crs is None:
        raise InputError(f"{name} {path} is not on the template grid and "
                         f"{'it' if src.crs is None else 'the template'} has no CRS to reproject with")
    out = np.full(spec.shape, np.nan)
    reproject(data, out, src_transform=src.transform, src_crs=src.crs, src_nodata=np.nan,
              dst_transform=spec.transform, dst_crs=spec.crs, dst_nodata=np.nan,
              resampling=getattr(Resampling, resampling))
    return out



def vector_on_grid(path: Path, spec: GridSpec, name: str, layer: str | None = None,
                   all_touched: bool = False) -> np.ndarray:
    """Boolean raster of the cells a vector layer's features cover on the template grid (reprojected
    to its CRS); with ``all_touched`` every cell a feature touches, else cells whose centre it covers
    (lines: the cells along them)."""
    import shapely
    from pyogrio import raw
    from pyogrio.errors import DataLayerError, DataSourceError
    from rasterio.crs import CRS
    from rasterio.features import rasterize
    from rasterio.warp import transform_geom

    try:
        meta, _, geoms, _ = raw.read(str(path), layer=layer, columns=[])
    except (DataSourceError, DataLayerError, ValueError) as err:
        raise InputError(f"cannot read {name} {path}: {str(err).splitlines()[0]}") from None
    shapes = [shapely.from_wkb(g) for g in (geoms if geoms is not None else []) if g is not None]
    shapes = [s for s in shapes if not s.is_empty]
    if not shapes:
        raise InputError(f"{name} {path} has no features")
    src_crs = CRS.from_user_input(meta["crs"]) if meta.get("crs") else None
    mapped = [shapely.geometry.mapping(s) for s in shapes]
    if src_crs is None or spec.crs is None:
        check_same_crs(spec.crs, src_crs, "template grid", f"{name} {path}")  # both unknown: taken as aligned
    elif src_crs != spec.crs:
        mapped = transform_geom(src_crs, spec.crs, mapped)
    burnt = rasterize(((g, 1) for g in mapped), out_shape=spec.shape, transform=spec.transform, fill=0,
                      all_touched=all_touched, dtype="uint8")
    return burnt.astype(bool)
