"""The node-current map: Circuitscape's definition, the same bits whatever the bands of rows."""
import numpy as np
import pytest

from gpucircuit.currents import CurrentMapper
from gpucircuit.grid import build_raster_graph
from reference import node_currents_of, raster_edge_list


@pytest.mark.parametrize("four", [False, True])
def test_banded_map_is_the_definition_bit_for_bit_across_bands(four):
    rng = np.random.default_rng(3)
    m, n = 23, 31
    g = 10 ** rng.uniform(-3, 0, (m, n))
    g[rng.random((m, n)) < 0.1] = 0
    volts = rng.standard_normal((m, n))
    volts[rng.random((m, n)) < 0.3] = 0.0  # equal neighbours: zero flows, -0.0 parts
    volts[4, 5] = 1e7  # one huge branch, so the 1e-8 cut drops real flows
    graph = build_raster_graph(g, four_neighbors=four)
    whole = CurrentMapper(graph, band_cells=m * n)(volts)
    ref = node_currents_of(raster_edge_list(g, four), volts)
    np.testing.assert_allclose(whole, np.where(g > 0, ref, 0), rtol=1e-12, atol=0)
    assert (whole > 0).sum() > 0.5 * (g > 0).sum()
    for band in (1, n - 1, n, 2 * n + 5, 7 * n):  # bands under a row, of one row, several, ragged
        out = CurrentMapper(graph, band_cells=band)(volts)
        assert np.array_equal(out.view(np.uint64), whole.view(np.uint64)), band


@pytest.mark.parametrize("four", [False, True])
def test_compiled_sums_are_the_numpy_passes_bit_for_bit(four):
    """The compiled loops (large maps on the host) against the banded NumPy passes: every cell's
    additions in the same order, so the same bits; with grounds and a merged region too."""
    from gpucircuit import currents_compiled

    if not currents_compiled.available():
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(4)
    m, n = 37, 29
    g = 10 ** rng.uniform(-3, 0, (m, n))
    g[rng.random((m, n)) < 0.1] = 0
    merge = np.zeros((m, n), np.int32)
    merge[5:8, 6:9] = 1
    volts = rng.standard_normal((m, n))
    volts[rng.random((m, n)) < 0.3] = 0.0
    volts[9, 10] = 1e7
    ground = np.where(rng.random((m, n)) < 0.05, rng.random((m, n)), 0.0)
    for merged in (None, merge):
        graph = build_raster_graph(g, four_neighbors=four, merge=merged)
        numpy_map = CurrentMapper(graph, band_cells=3 * n, compiled=False)(volts, ground)
        compiled = CurrentMapper(graph, compiled=True)
        assert compiled.compiled
        got = compiled(volts, ground)
        assert (got > 0).sum() > 0.5 * (g > 0).sum()
        assert np.array_equal(got.view(np.uint64), numpy_map.view(np.uint64))
