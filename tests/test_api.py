"""The documented array API example runs and means what it says."""
import doctest

import numpy as np

import gpucircuit as gc
import gpucircuit.api


def test_docstring_example_runs():
    result = doctest.testmod(gpucircuit.api)
    assert result.attempted >= 4 and result.failed == 0


def test_barrier_raises_resistance_between_points_it_separates():
    res = np.ones((30, 30))
    pts = {1: [(2, 15)], 2: [(27, 15)]}
    open_r = gc.pairwise(res, pts).resistances[0, 1]
    res[14:16, 2:30] = 1000.0  # a wall with a gap on the left
    walled = gc.pairwise(res, pts)
    assert walled.resistances[0, 1] > open_r
    # current squeezes through the gap: the gap carries more than the same row inside the wall
    assert walled.cum_current[14, 0] > 10 * walled.cum_current[14, 20]


def test_cli_help_does_not_load_scipy():
    import subprocess
    import sys

    code = "import sys, gpucircuit._cli.main; print('scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
