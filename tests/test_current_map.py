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
