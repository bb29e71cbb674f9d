import math

import pytest

from gpucircuit.analysis.sweep import width_sweep
from gpucircuit.errors import InputError


def test_width_sweep_picks_smallest_relative_change():
    cutoffs = [1000, 2000, 3000, 4000, 5000]
    totals = [100.0, 150.0, 165.0, 170.0, 180.0]
    res = width_sweep(cutoffs, totals)
    # relative changes: 0.5, 0.1, 5/165 = 0.0303, 10/170 = 0.0588
    rel = [r["relative_change"] for r in res.rows]
    assert rel[0] is None
    assert rel[1:] == pytest.approx([0.5, 0.1, 5 / 165, 10 / 170])
    assert [r["delta"] for r in res.rows][1:] == [50.0, 15.0, 5.0, 10.0]
    assert res.best_cutoff == 4000 and res.best_index == 3
    assert [r["selected"] for r in res.rows] == [False, False, False, True, False]


def test_width_sweep_sorts_and_ties_go_to_smaller_cutoff():
    res = width_sweep([3000, 1000, 2000], [110.0, 100.0, 110.0])
    # sorted: 1000:100, 2000:110 (r=0.1), 3000:110 (r=0)
    assert res.best_cutoff == 3000
    res = width_sweep([1, 2, 3], [100.0, 110.0, 121.0])   # r = 0.1 and 0.1
    assert res.best_cutoff == 2


def test_width_sweep_zero_previous_total_is_infinite_change():
    res = width_sweep([1, 2, 3], [0.0, 5.0, 6.0])
    assert math.isinf(res.rows[1]["relative_change"])
    assert res.best_cutoff == 3


def test_width_sweep_bad_inputs():
    with pytest.raises(InputError):
        width_sweep([1], [1.0])
    with pytest.raises(InputError):
        width_sweep([1, 2], [1.0])
    with pytest.raises(InputError):
        width_sweep([1, 1], [1.0, 2.0])
    with pytest.raises(InputError):
        width_sweep([1, 2], [-1.0, 2.0])
