"""Backend dispatch: each public operation runs the implementation of its argument's backend, on
every backend present (NumPy always; CuPy where a device is), against a host-side definition."""
from __future__ import annotations

import numpy as np
import pytest

from gpucircuit.backend import array_module, dispatch, is_device_array, to_host
from gpucircuit.edges import GridEdges
from gpucircuit.operators import GridOperator
from devices import cupy_or_none


CUPY = cupy_or_none()
BACKENDS = [pytest.param(np, id="numpy"),
            pytest.param(CUPY, id="cupy", marks=pytest.mark.skipif(CUPY is None, reason="needs CuPy and a device"))]


def test_dispatch_picks_by_the_chosen_argument():
    f = dispatch(lambda a, b: ("host", a, b), lambda a, b: ("device", a, b), on=1)
    assert f(1, np.zeros(2))[0] == "host"

    class FakeDevice:  # an array type from a "cupy..." module is the device's
        pass

    FakeDevice.__module__ = "cupy._core.core"
    dev = FakeDevice()
    assert is_device_array(dev) and not is_device_array(np.zeros(1))
    assert f(1, dev) == ("device", 1, dev)
    assert f(dev, np.zeros(1))[0] == "host"  # only argument ``on`` decides


@pytest.mark.parametrize("xp", BACKENDS)
def test_operations_run_on_the_arrays_backend(xp):
    rng = np.random.default_rng(3)
    shape = (9, 7)
    w = [rng.uniform(0.1, 2.0, shape) for _ in range(4)]
    for a, (di, dj) in zip(w, [(0, 1), (1, 0), (1, 1), (1, -1)]):  # no edge leaves the grid
        if dj > 0:
            a[:, -dj:] = 0
        if dj < 0:
            a[:, :-dj] = 0
        if di:
            a[-di:, :] = 0
    active = rng.random(shape) > 0.2
    op = GridOperator.build(GridEdges(*(xp.asarray(a) for a in w)), xp.asarray(active))
    x = rng.standard_normal((2,) + shape)
    y = op.apply(xp.asarray(x))
    assert array_module(y) is xp
    want = op_host(op).to_csr() @ x.reshape(2, -1).T
    np.testing.assert_allclose(to_host(y).reshape(2, -1), want.T, rtol=1e-12, atol=1e-12)
    assert isinstance(to_host(y), np.ndarray)


def op_host(op):
    """The same operator with its arrays on the host (to_csr builds the independent sparse matrix)."""
    e = op.edges
    return GridOperator(GridEdges(*(None if a is None else to_host(a) for a in (e.e, e.s, e.se, e.sw))),
                        to_host(op.diag), to_host(op.active))
