"""Writing small GeoTIFF inputs for tests."""
import numpy as np
import rasterio
from rasterio.transform import from_origin

from reference import pick_points, random_landscape

UTM_TRANSFORM = from_origin(500000.0, 4100000.0, 30.0, 30.0)  # 30 m cells in EPSG:32610


def write_tif(path, data, transform, crs, nodata=-9999.0, nan_as_nodata=True):
    """A float64 GeoTIFF of ``data``; NaN cells become ``nodata`` unless ``nan_as_nodata`` is False."""
    values = np.where(np.isnan(data), nodata, data) if nan_as_nodata else data
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1], count=1,
                       dtype="float64", transform=transform, nodata=nodata, crs=crs) as ds:
        ds.write(values, 1)
    return path


def write_points(path, pts, transform):
    """A Circuitscape point file ("id x y" at cell centres) of ``pts`` ({id: [(row, col), ...]})
    on a north-up grid of ``transform``."""
    path.write_text("".join(f"{pid} {transform.c + (c + 0.5) * transform.a} {transform.f + (r + 0.5) * transform.e}\n"
                            for pid, cells in pts.items() for r, c in cells))
    return path


def job_inputs(folder, shape, seed, points):
    """A random resistance landscape (no nodata wall) and ``points`` focal points on it, written in
    ``folder`` as ``res.tif`` (30 m, EPSG:32610) and ``pts.txt``: (res, pts, tif path, point file path)."""
    res = random_landscape(shape, seed=seed, split=False)
    pts = pick_points(res, points, seed=seed + 1)
    tif = write_tif(folder / "res.tif", res, UTM_TRANSFORM, "EPSG:32610")
    return res, pts, tif, write_points(folder / "pts.txt", pts, UTM_TRANSFORM)
