"""Maps written at disk speed: ASCII grids block by block (Circuitscape's layout, optionally gzipped),
GeoTIFFs tiled and DEFLATE-compressed in the computation's precision."""
import gzip
import tracemalloc

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from typer.testing import CliRunner

import rasters
from gpucircuit._cli.main import app
from gpucircuit.io import raster_write
from gpucircuit.io.outputs import MapWriter
from gpucircuit.io.raster import GridSpec, raster_shape, read_raster
from gpucircuit.io.raster_write import write_raster

TRANSFORM = from_origin(500000.0, 4100000.0, 30.0, 30.0)


def plain_ascii(data, spec):
    """The format written out by hand, value by value: Circuitscape's header, 10 significant digits,
    -9999 for NaN, a space after every row's last value."""
    m, n = data.shape
    head = (f"ncols         {n}\nnrows         {m}\nxllcorner     {spec.transform.c:.1f}\n"
            f"yllcorner     {spec.transform.f - 30.0 * m:.1f}\ncellsize      30.0\nNODATA_value  -9999\n")
    rows = []
    for row in data:
        rows.append(" ".join("-9999" if np.isnan(v) else f"{float(v):.10g}" for v in row) + " \n")
    return head + "".join(rows)


def landscape_map(shape, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    data = (np.exp(rng.standard_normal(shape) * 4) * 1e-3).astype(dtype)
    data[rng.random(shape) < 0.2] = np.nan
    data[0, 0] = 0.0
    return data


@pytest.mark.parametrize("block_cells", [1, 12, 1 << 18])  # one row per block, a remainder, all at once
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ascii_grid_matches_value_by_value_formatting(tmp_path, monkeypatch, block_cells, dtype):
    monkeypatch.setattr(raster_write, "_ROWS_PER_BLOCK_CELLS", block_cells)
    data = landscape_map((7, 5), dtype=dtype)
    spec = GridSpec(data.shape, TRANSFORM)
    path = write_raster(tmp_path / "m.asc", data, spec)
    assert path.read_text() == plain_ascii(data, spec)


def test_compressed_ascii_grid_is_the_same_text_gzipped(tmp_path):
    data = landscape_map((40, 30))
    spec = GridSpec(data.shape, TRANSFORM)
    path = write_raster(tmp_path / "m.asc", data, spec, compress=True)
    assert path.name == "m.asc.gz" and not (tmp_path / "m.asc").exists()
    assert gzip.decompress(path.read_bytes()).decode() == plain_ascii(data, spec)
    assert raster_shape(path) == (40, 30)


def test_ascii_grid_is_not_built_whole_in_memory(tmp_path):
    data = landscape_map((1000, 1000))
    spec = GridSpec(data.shape, TRANSFORM)
    tracemalloc.start()
    try:
        path = write_raster(tmp_path / "m.asc", data, spec)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = path.stat().st_size
    assert size > 10e6 and peak < size / 2, (size, peak)  # about 5 MB: one block


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_geotiff_is_tiled_deflate_with_the_float_predictor(tmp_path, dtype):
    data = landscape_map((300, 520), dtype=dtype)
    spec = GridSpec(data.shape, TRANSFORM, rasterio.crs.CRS.from_epsg(32610))
    path = write_raster(tmp_path / "m.tif", data, spec)
    with rasterio.open(path) as ds:
        assert ds.dtypes[0] == np.dtype(dtype).name
        assert ds.profile["tiled"] and ds.block_shapes[0] == (256, 256)
        assert ds.compression.name.lower() == "deflate"
        assert ds.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "3"
        assert ds.nodata == -9999 and ds.transform == TRANSFORM and ds.crs.to_epsg() == 32610
        got = ds.read(1, masked=True)
    np.testing.assert_array_equal(got.mask, np.isnan(data))
    np.testing.assert_array_equal(got.filled(np.nan), data)  # lossless
    assert raster_shape(path) == (300, 520)


def test_small_geotiff_is_written_untiled(tmp_path):
    data = landscape_map((9, 11))
    path = write_raster(tmp_path / "m.tif", data, GridSpec(data.shape, TRANSFORM))
    with rasterio.open(path) as ds:
        np.testing.assert_array_equal(ds.read(1, masked=True).filled(np.nan), data)


def test_map_writer_keeps_single_precision_for_geotiffs(tmp_path):
    data = landscape_map((20, 20))
    spec = GridSpec(data.shape, TRANSFORM)
    single = MapWriter(tmp_path / "s", spec, np.ones(data.shape, bool), as_tif=True, dtype=np.float32)
    double = MapWriter(tmp_path / "d", spec, np.ones(data.shape, bool), as_tif=True)
    for writer, want in ((single, "float32"), (double, "float64")):
        with rasterio.open(writer.current("cum_curmap", data)) as ds:
            assert ds.dtypes[0] == want
            np.testing.assert_allclose(ds.read(1, masked=True).filled(np.nan), data.astype(want), rtol=0)


def test_header_shape_without_reading_cells(tmp_path):
    asc = tmp_path / "claims.asc"
    asc.write_text("NCOLS 70000\nNROWS 3\nxllcorner 0\nyllcorner 0\ncellsize 1\nnodata_value -9999\n1\n")
    assert raster_shape(asc) == (3, 70000)
    assert raster_shape(tmp_path / "missing.tif") is None
    (tmp_path / "junk.tif").write_text("not a raster")
    assert raster_shape(tmp_path / "junk.tif") is None


def run_pairwise(folder, name, habitat, points, **extra):
    """Run a pairwise INI job with per-pair current maps into ``folder/name``."""
    keys = dict(scenario="pairwise", habitat_file=habitat, point_file=points, output_file=folder / name / "j.out",
                write_cur_maps="True", **extra)
    ini = folder / f"{name}.ini"
    ini.write_text("".join(f"{k} = {v}\n" for k, v in keys.items()))
    result = CliRunner().invoke(app, ["--backend", "cpu", "run", str(ini)])
    assert result.exit_code == 0, result.output
    return folder / name


def test_ini_job_compress_grids_and_single_precision_tifs(tmp_path):
    res, pts, tif, txt = rasters.job_inputs(tmp_path, (16, 19), 41, 3)

    def job(name, **extra):
        return run_pairwise(tmp_path, name, tif, txt, **extra)

    plain, packed = job("plain"), job("packed", compress_grids="True")
    names = sorted(p.name for p in plain.glob("*.asc"))
    assert names and sorted(p.name for p in packed.glob("*.asc.gz")) == [n + ".gz" for n in names]
    for n in names:
        assert gzip.decompress((packed / (n + ".gz")).read_bytes()).decode() == (plain / n).read_text()
    single = job("single", write_as_tif="True", precision="single")
    with rasterio.open(single / "j_cum_curmap.tif") as ds:
        assert ds.dtypes[0] == "float32"
    with rasterio.open(job("double", write_as_tif="True") / "j_cum_curmap.tif") as ds:
        assert ds.dtypes[0] == "float64"


@pytest.mark.parametrize("extra", [{}, {"compress_grids": "True"}, {"write_as_tif": "True"}])
def test_one_pair_cumulative_map_is_its_pairs_map_and_several_pairs_sum(tmp_path, extra, monkeypatch):
    formatted = []  # maps written from arrays (the one-pair cumulative map is a file copy instead)
    original = MapWriter.current
    monkeypatch.setattr(MapWriter, "current", lambda self, name, data: formatted.append(name) or original(self, name, data))
    res, pts, tif, _ = rasters.job_inputs(tmp_path, (18, 21), 43, 3)

    def job(name, points):
        return run_pairwise(tmp_path, name, tif, rasters.write_points(tmp_path / f"{name}.txt", points, TRANSFORM), **extra)

    def read(path):
        return read_raster(path)[0]

    one = job("one", {1: pts[1], 2: pts[2]})
    cum = sorted(one.glob("j_cum_curmap.*"))
    pair = sorted(one.glob("j_curmap_*"))
    assert len(cum) == len(pair) == 1 and cum[0].name == pair[0].name.replace("curmap_1_2", "cum_curmap")
    assert cum[0].read_bytes() == pair[0].read_bytes() and np.nanmax(read(cum[0])) > 0
    assert formatted == ["curmap_1_2"]
    three = job("three", pts)
    pairs = [read(p) for p in sorted(three.glob("j_curmap_*"))]
    total = read(next(three.glob("j_cum_curmap.*")))
    assert len(pairs) == 3 and "cum_curmap" in formatted and all(not np.allclose(p, total, equal_nan=True) for p in pairs)
    np.testing.assert_allclose(total, np.sum(pairs, axis=0), rtol=1e-8, atol=1e-12)
