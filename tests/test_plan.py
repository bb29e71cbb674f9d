"""``gpucircuit plan``: the plan agrees with the job's own refusal, from headers alone."""
import numpy as np
import pytest
from typer.testing import CliRunner

from gpucircuit._cli.main import app
from gpucircuit.errors import InputError, SolverError
from gpucircuit.memory import check_job_fits
from gpucircuit.plan import parse_bytes, plan_rows

GIB = 2**30


def refused(cells, row, host, device, eight=True):
    try:
        check_job_fits(cells, (cells, 1), "raster", eight=eight, single=row.precision == "single",
                       on_gpu=row.where == "GPU", host_free=host, device_free=device)
    except SolverError:
        return True
    return False


@pytest.mark.parametrize("eight", [True, False])
def test_plan_agrees_with_the_refusal_at_the_largest_size(eight):
    host, device = 64 * GIB, 24 * GIB
    for row in plan_rows(205_000_000, eight, host, device):
        assert row.fits == (not refused(205_000_000, row, host, device, eight)), row
        n = row.largest_cells
        assert not refused(n, row, host, device, eight), row
        assert refused(int(n * 1.01) + 1000, row, host, device, eight), row


def test_plan_rows_grow_with_cells_and_the_device_takes_less_in_single_precision():
    small, big = plan_rows(10**6), plan_rows(10**8)
    for a, b in zip(small, big):
        assert b.host_bytes > 20 * a.host_bytes  # 100x the cells; the interpreter is a fixed part
    cpu_double, cpu_single, gpu_double, gpu_single = big
    assert gpu_single.device_bytes < gpu_double.device_bytes
    assert gpu_double.host_bytes < cpu_double.host_bytes  # the solver's arrays live on the device
    assert cpu_double.fits is None and cpu_double.device_bytes is None


def test_parse_bytes():
    assert parse_bytes("64G", "x") == 64 * GIB
    assert parse_bytes("24GiB", "x") == 24 * GIB
    assert parse_bytes("512m", "x") == 512 * 2**20
    assert parse_bytes("1000", "x") == 1000
    with pytest.raises(InputError, match="not a size"):
        parse_bytes("lots", "--host-memory")


def test_plan_command_reads_only_the_header(tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    tif = tmp_path / "big.tif"
    with rasterio.open(tif, "w", driver="GTiff", height=3000, width=4000, count=1, dtype="float32",
                       transform=from_origin(0, 3000, 1, 1), sparse_ok=True, tiled=True) as ds:
        ds.write(np.ones((1, 256, 256), np.float32), window=((0, 256), (0, 256)))
    ini = tmp_path / "job.ini"
    ini.write_text(f"[Circuitscape mode]\nscenario = pairwise\nhabitat_file = {tif}\npoint_file = p.txt\n"
                   f"output_file = {tmp_path / 'o.out'}\nconnect_four_neighbors_only = True\n")
    runner = CliRunner()
    for args, neighbours in (([str(tif)], "8 neighbours"), ([str(ini)], "4 neighbours")):
        res = runner.invoke(app, ["plan", *args, "--host-memory", "2G"])
        assert res.exit_code == 0, res.output
        assert "12,000,000 cells" in res.output and neighbours in res.output
        assert sum(line.split()[4] == "no" for line in res.output.splitlines()[2:]) >= 1  # 2 GiB is too little
    res = runner.invoke(app, ["plan", "--cells", "1000", "--host-memory", "lots"])
    assert res.exit_code != 0 and "not a size" in res.output and "Traceback" not in res.output
