"""The helpers issue 13 folded into one each: every caller now goes through the same rules."""
from __future__ import annotations

import numpy as np
import pytest

from gpucircuit.analysis.cwd import cell_steps
from gpucircuit.analysis.patches import patch_table
from gpucircuit.analysis.report import cell_area
from gpucircuit.errors import InputError


@pytest.mark.parametrize("given, steps", [(30, (30.0, 30.0)), ((30, -20), (30.0, 20.0)), ([-5.0], (5.0, 5.0)),
                                          (np.array([2.5, 4.0]), (2.5, 4.0))])
def test_cell_steps_reads_numbers_and_pairs(given, steps):
    assert cell_steps(given) == steps
    assert cell_area(given) == steps[0] * steps[1]


@pytest.mark.parametrize("bad", [0, (30, 0), np.nan, (1, np.inf), (1, 2, 3), []])
def test_cell_steps_refuses_what_is_not_a_cell_size(bad):
    with pytest.raises(InputError, match="cell size must be"):
        cell_steps(bad)
    with pytest.raises(InputError, match="cell size must be"):
        cell_area(bad)


def test_patch_areas_use_the_same_cell_size_rules():
    labels = np.zeros((4, 4), dtype=np.int32)
    labels[:2, :3] = 1  # 6 cells
    rows = patch_table(labels, (10, -20))
    assert rows[0]["area_km2"] == pytest.approx(6 * 10 * 20 / 1e6)
    with pytest.raises(InputError, match="cell size must be"):
        patch_table(labels, (1, 2, 3))


def test_relabel_numbers_regions_by_value_and_ignores_zero_and_nan():
    from gpucircuit.grid import relabel

    p = np.array([[0.0, 7.5, 7.5], [np.nan, -2.0, 3.0]])
    # brute force: distinct values other than 0/NaN, ranked ascending from 1
    ranks = {v: i + 1 for i, v in enumerate(sorted({x for x in p.ravel() if x != 0 and not np.isnan(x)}))}
    want = np.array([[ranks.get(x, 0) if not np.isnan(x) else 0 for x in row] for row in p])
    np.testing.assert_array_equal(relabel(p), want)
    assert relabel(p).dtype == np.int64
    np.testing.assert_array_equal(relabel(np.array([[0, 4], [9, 4]])), [[0, 1], [2, 1]])
