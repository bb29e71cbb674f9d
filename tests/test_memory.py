"""Memory planning: batches that fit, and a clear refusal naming the size that would fit."""
import pytest

from gpucircuit.errors import SolverError
from gpucircuit.memory import PER_RHS_BYTES, SETUP_BYTES, plan_batch


def test_batch_grows_with_free_memory():
    cells = 10_000_000
    small = plan_batch(cells, 50, 4 * 2**30)
    large = plan_batch(cells, 50, 24 * 2**30)
    assert 1 <= small < large <= 50
    # the chosen batch really fits the budget
    assert cells * (SETUP_BYTES[True] + large * PER_RHS_BYTES) <= 24 * 2**30 * 0.9


def test_refusal_names_a_size_that_fits():
    with pytest.raises(SolverError) as err:
        plan_batch(205_000_000, 1, 8 * 2**30, where="NVIDIA L4")
    msg = str(err.value)
    assert "does not fit in NVIDIA L4 memory" in msg and "would fit" in msg
    fit = int(msg.split("up to about ")[1].split(" cells")[0].replace(",", ""))
    assert plan_batch(fit, 1, 8 * 2**30) == 1  # the suggested size is accepted
