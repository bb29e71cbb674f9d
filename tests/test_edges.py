"""Edge conductances of a raster: every edge against Circuitscape's formula, evaluated one edge at a time."""
import math

import numpy as np
import pytest

from gpucircuit.grid import edge_weight, edges_from_conductance


@pytest.mark.parametrize("four", [False, True])
@pytest.mark.parametrize("avg", [False, True])
def test_every_edge_is_the_formula_bit_for_bit(four, avg):
    rng = np.random.default_rng(11)
    g = 10 ** rng.uniform(-6, 6, size=(9, 11))
    g[rng.random(g.shape) < 0.25] = 0.0
    edges = edges_from_conductance(g, four, avg)
    steps = {"e": (0, 1), "s": (1, 0), "se": (1, 1), "sw": (1, -1)}
    m, n = g.shape
    for name, (di, dj) in steps.items():
        w = getattr(edges, name)
        if four and name in ("se", "sw"):
            assert w is None
            continue
        for i in range(m):
            for j in range(n):
                a = g[i, j]
                inside = 0 <= i + di < m and 0 <= j + dj < n
                b = g[i + di, j + dj] if inside else 0.0
                want = 0.0
                if a > 0 and b > 0:
                    want = 2.0 / (1.0 / a + 1.0 / b) if avg else (a + b) / 2.0
                    if di and dj:
                        want = want / math.sqrt(2)
                assert w[i, j] == want or (want == 0 and w[i, j] == 0), (name, i, j)
    sub = edge_weight(g[1:5, 2:6], g[2:6, 3:7], avg, diagonal=True)
    assert np.array_equal(sub, edges.se[1:5, 2:6]) if not four else sub.shape == (4, 4)
