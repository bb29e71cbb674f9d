"""Omniscape on rasters larger than memory: tiles read their slab + halo from the files and the
maps go to disk by blocks of rows. The independent check is the untiled run on whole layers in
memory (itself checked against Omniscape.jl's reference outputs in test_omniscape.py)."""
import tracemalloc

import affine
import numpy as np
import pytest
from typer.testing import CliRunner

from gpucircuit._cli.main import app
from gpucircuit.errors import InputError
from gpucircuit.io.omniscape_config import load_omniscape_config
from gpucircuit.io.raster import GridSpec, read_raster
from gpucircuit.io.raster_window import RasterWindows, WindowedWriter
from gpucircuit.io.raster_write import write_raster
from gpucircuit.modes.omniscape import WindowRules
from gpucircuit.omniscape_job import plan_memory, run_omniscape_config

SPEC = GridSpec((47, 58), affine.Affine(30.0, 0, 500000.0, 0, -30.0, 4200000.0))
PLENTY = 1 << 40  # a memory figure every test-sized run fits in


def layers(tmp_path, ext: str, shape=SPEC.shape):
    """Land-cover classes with nodata holes, a sparse source layer and two condition layers."""
    rng = np.random.default_rng(7)
    spec = GridSpec(shape, SPEC.transform)
    classes = rng.integers(1, 6, shape).astype(float)
    classes[rng.random(shape) < 0.08] = np.nan
    source = np.where(rng.random(shape) < 0.3, rng.random(shape) * 2, 0.0)
    temp = np.round(rng.normal(10, 1, shape), 1)
    files = {"res": classes, "src": source, "temp": temp, "temp_future": temp + rng.normal(0, 0.3, shape),
             "zone": rng.integers(0, 3, shape).astype(float)}
    for name, data in files.items():
        write_raster(tmp_path / f"{name}{ext}", data, spec)
    (tmp_path / "reclass.txt").write_text("1 2\n2 7.5\n5 missing\n")
    return tmp_path


INI = """[Input]
resistance_file = {d}/res{ext}
radius = 4
buffer = 1
block_size = 3
project_name = {name}
{sources}
reclassify_resistance = true
reclass_table = {d}/reclass.txt
write_reclassified_resistance = true
calc_normalized_current = true
calc_flow_potential = true
write_raw_currmap = true
mask_nodata = true
write_as_tif = {tif}
conditional = true
{conditions}
"""
FROM_RESISTANCE = "source_from_resistance = true\nr_cutoff = 4"
FROM_FILE = "source_from_resistance = false\nsource_file = {d}/src{ext}\nsource_threshold = 0.5"
WITHIN = ("n_conditions = 1\ncompare_to_future = 1\ncondition1_file = {d}/temp{ext}\n"
          "condition1_future_file = {d}/temp_future{ext}\ncomparison1 = within\n"
          "condition1_lower = -0.8\ncondition1_upper = 0.8")
EQUAL_TOO = WITHIN.replace("n_conditions = 1", "n_conditions = 2") + \
    "\ncondition2_file = {d}/zone{ext}\ncomparison2 = equal"


def config(d, ext, name, sources=FROM_RESISTANCE, conditions=WITHIN, tif=True):
    text = INI.format(d=d, ext=ext, name=name, sources=sources.format(d=d, ext=ext),
                      conditions=conditions.format(d=d, ext=ext), tif="true" if tif else "false")
    path = d / f"{name}.ini"
    path.write_text(text)
    return load_omniscape_config(path)


def assert_same_outputs(tiled, whole, rtol=1e-10):
    assert [p.name for p in tiled.outputs] == [p.name for p in whole.outputs]
    assert len([p for p in whole.outputs if p.suffix in (".tif", ".asc")]) == 4
    for ours, ref in zip(tiled.outputs, whole.outputs):
        if ours.name != "config.ini":
            a, b = read_raster(ours)[0], read_raster(ref)[0]
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=ours.name)
            np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12 * np.nanmax(np.abs(b)), equal_nan=True,
                                       err_msg=ours.name)
            assert np.nanmax(np.abs(b)) > 0


@pytest.mark.parametrize("ext,sources,conditions", [(".tif", FROM_RESISTANCE, WITHIN),
                                                    (".asc", FROM_FILE, EQUAL_TOO)])
def test_tiles_read_from_files_equal_whole_layers(tmp_path, ext, sources, conditions):
    d = layers(tmp_path, ext)
    whole = run_omniscape_config(config(d, ext, "whole", sources, conditions), base=d, memory=PLENTY)
    said, seen = [], []
    tiled = run_omniscape_config(config(d, ext, "tiled", sources, conditions), base=d, tiles=(3, 2), tell=said.append,
                                 progress=lambda done, total: seen.append((done, total)))
    assert whole.maps and not tiled.maps  # the tiled run holds no whole map
    assert "3x2 tiles" in said[0] and "GiB" in said[0]
    assert tiled.windows == whole.windows > 0 and seen[-1] == (whole.windows, whole.windows)
    assert_same_outputs(tiled, whole)
    assert sorted(p.name for p in tiled.project.iterdir()) == sorted(p.name for p in tiled.outputs)  # no scratch


def test_ascii_outputs_written_by_blocks_equal_whole(tmp_path):
    d = layers(tmp_path, ".asc")
    whole = run_omniscape_config(config(d, ".asc", "whole", tif=False), base=d, memory=PLENTY)
    tiled = run_omniscape_config(config(d, ".asc", "tiled", tif=False), base=d, tiles=(2, 2))
    assert_same_outputs(tiled, whole, rtol=1e-9)  # 10 significant digits in the files


def test_small_memory_makes_the_job_choose_tiles(tmp_path):
    from gpucircuit.memory import HEADROOM

    shape = (600, 600)  # large enough that the layers, not one batch of windows or GDAL's cache, dominate the plan
    d = layers(tmp_path, ".tif", shape)
    sparse = FROM_FILE.replace("0.5", "1.98")  # few sources: a quick run
    rules = WindowRules(4, 1, 3, False, True, True)
    budget = int(plan_memory(shape, rules, 1, None) * 0.98)  # the whole layers need a little more than this
    said = []
    whole = run_omniscape_config(config(d, ".tif", "whole", sparse), base=d, memory=PLENTY, tell=said.append)
    assert "whole layers in memory" in said.pop()
    tiled = run_omniscape_config(config(d, ".tif", "tiled", sparse), base=d, memory=budget, tell=said.append)
    assert "tiles read from the files" in said[0], said
    k = int(said[0].split(" tiles")[0].split()[-1].split("x")[0])
    assert k >= 2 and plan_memory(shape, rules, 1, (k, k), streamed=True) <= HEADROOM * budget
    assert_same_outputs(tiled, whole)


def test_run_that_fits_nowhere_stops_before_work(tmp_path):
    d = layers(tmp_path, ".tif")
    with pytest.raises(InputError, match="does not fit .* even in"):
        run_omniscape_config(config(d, ".tif", "tiny"), base=d, memory=100_000)
    assert not (d / "tiny").exists()


class Stop(Exception):
    pass


def test_stopped_run_leaves_nothing_and_resumes(tmp_path):
    d = layers(tmp_path, ".tif")
    whole = run_omniscape_config(config(d, ".tif", "whole"), base=d, memory=PLENTY)
    before = set(d.iterdir())

    def stop_halfway(done, total):
        if done > total // 2:
            raise Stop

    with pytest.raises(Stop):
        run_omniscape_config(config(d, ".tif", "stopped"), base=d, tiles=(2, 2), checkpoint=d / "ck",
                             progress=stop_halfway)
    assert set(d.iterdir()) == before | {d / "ck", d / "stopped.ini"}  # no project, scratch or temporaries
    kept = sorted((d / "ck").glob("tile_*.npz"))
    assert 1 <= len(kept) < 4 and not list((d / "ck").glob("*.tmp*"))
    first = kept[0].stat().st_mtime_ns
    resumed = run_omniscape_config(config(d, ".tif", "stopped"), base=d, tiles=(2, 2), checkpoint=d / "ck")
    assert kept[0].stat().st_mtime_ns == first  # a finished tile is read back, not solved again
    assert_same_outputs(resumed, whole)


def test_tiles_on_a_dask_cluster_equal_serial(tmp_path):
    """Two workers (threads: processes take CI 15 s to start); what a process worker receives,
    a pickled slab reader, is checked to read the same cells."""
    import pickle

    from gpucircuit.omniscape_layers import FileLayers

    distributed = pytest.importorskip("distributed")
    d = layers(tmp_path, ".asc")
    cfg = config(d, ".asc", "serial", FROM_FILE)
    slab = FileLayers(cfg).slab(slice(3, 30), slice(10, 41))
    for a, b in zip(pickle.loads(pickle.dumps(slab))()[:2], slab()[:2]):
        np.testing.assert_array_equal(a, b)
    serial = run_omniscape_config(cfg, base=d, tiles=(2, 2))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        spread = run_omniscape_config(config(d, ".asc", "spread", FROM_FILE), base=d, tiles=(2, 2), client=client)
    assert_same_outputs(spread, serial, rtol=1e-12)


def test_peak_memory_of_a_tiled_run_is_a_tiles_not_the_rasters(tmp_path):
    """Python's share, which tracemalloc sees; GDAL's block cache (a band of 256-row blocks per
    output being written: the raster's width, not its size) is bounded apart and counted in the
    plan, and the whole process's RSS is measured by benchmarks/bench_omniscape_tiled.py."""
    shape = (2000, 2000)
    rng = np.random.default_rng(3)
    spec = GridSpec(shape, SPEC.transform)
    write_raster(tmp_path / "res.tif", np.exp(rng.random(shape) * 3), spec)
    source = np.zeros(shape)
    for r, c in zip(rng.integers(0, shape[0] - 3, 30), rng.integers(0, shape[1] - 3, 30)):
        source[r:r + 3, c:c + 3] = 1.0  # 30 patches: a few windows, as the test is about the I/O
    write_raster(tmp_path / "src.tif", source, spec)
    ini = tmp_path / "big.ini"
    ini.write_text(f"resistance_file = {tmp_path}/res.tif\nsource_file = {tmp_path}/src.tif\n"
                   "source_from_resistance = false\nradius = 5\nproject_name = big\ncalc_normalized_current = true\n")
    raster_bytes = shape[0] * shape[1] * 8
    warm = tmp_path / "warm"  # a small tiled run first: the modules it imports are not the run's memory
    warm.mkdir()
    run_omniscape_config(config(layers(warm, ".tif"), ".tif", "warm"), base=warm, tiles=(2, 2))
    tracemalloc.start()
    try:
        report = run_omniscape_config(load_omniscape_config(ini), base=tmp_path, tiles=(8, 8))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.windows == np.count_nonzero(source)
    assert peak < raster_bytes / 2, peak  # one float64 map of the raster would not fit in this
    cum = read_raster(report.project / "cum_currmap.tif")[0]
    assert cum.shape == shape and np.count_nonzero(np.nan_to_num(cum)) > report.windows


def test_windows_of_an_ascii_grid_equal_the_whole_read(tmp_path):
    rng = np.random.default_rng(5)
    data = np.round(rng.random((9, 13)) * 100, 3)
    data[2, 3] = np.nan
    write_raster(tmp_path / "a.asc", data, GridSpec(data.shape, SPEC.transform))
    text = (tmp_path / "a.asc").read_text().splitlines()
    wrapped = text[:6] + [w for line in text[6:] for w in (" ".join(line.split()[:5]), " ".join(line.split()[5:]))]
    (tmp_path / "b.asc").write_text("\n".join(wrapped) + "\n")  # rows wrapped over two lines each
    for name in ("a.asc", "b.asc"):
        whole = read_raster(tmp_path / name)[0]
        win = RasterWindows(tmp_path / name, "grid")
        np.testing.assert_array_equal(win.read(slice(1, 8), slice(2, 11)), whole[1:8, 2:11])
        np.testing.assert_array_equal(win.read(slice(0, 9), slice(0, 13)), whole)


def test_windowed_writer_leaves_nothing_when_discarded(tmp_path):
    spec = GridSpec((4, 5), SPEC.transform)
    w = WindowedWriter(tmp_path / "x.tif", spec)
    w.write(np.ones((2, 5)))
    w.discard()
    assert list(tmp_path.iterdir()) == []


def test_cli_gpus_without_dask_cuda_or_gpus_is_one_line(tmp_path, monkeypatch):
    d = layers(tmp_path, ".tif")
    config(d, ".tif", "gpu")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["--backend", "cpu", "omniscape", str(d / "gpu.ini"), "--gpus", "2"])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: --gpus 2"), result.output
    assert not (tmp_path / "gpu").exists()


def test_cli_memory_option_plans_and_says_so(tmp_path, monkeypatch):
    d = layers(tmp_path, ".tif")
    config(d, ".tif", "cli")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["--backend", "cpu", "omniscape", str(d / "cli.ini"), "--memory", "2GB"])
    assert result.exit_code == 0, result.output
    assert "whole layers in memory" in result.output and (tmp_path / "cli" / "cum_currmap.tif").exists()
    for size, start in (("100KB", "error: this Omniscape run does not fit"), ("lots", "error: --memory")):
        bad = CliRunner().invoke(app, ["--backend", "cpu", "omniscape", str(d / "cli.ini"), "--memory", size])
        assert bad.exit_code == 1 and bad.output.startswith(start) and bad.output.count("\n") == 1, bad.output
    assert not (tmp_path / "cli_1").exists()


def test_bad_ascii_cell_in_a_tiled_run_is_one_error_and_no_folder(tmp_path):
    d = layers(tmp_path, ".asc")
    lines = (d / "res.asc").read_text().splitlines()
    words = lines[30].split()
    words[7] = "x1"
    lines[30] = " ".join(words)
    (d / "res.asc").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"res\.asc has 'x1' near row 24"):
        run_omniscape_config(config(d, ".asc", "bad"), base=d, tiles=(2, 2))
    (d / "res.asc").write_text("\n".join(lines[:-1]) + "\n")  # a row short
    with pytest.raises(InputError, match="holds 2668 values, but its header says 47 rows x 58 columns"):
        run_omniscape_config(config(d, ".asc", "short"), base=d, tiles=(2, 2))
    assert not (d / "bad").exists() and not (d / "short").exists()
