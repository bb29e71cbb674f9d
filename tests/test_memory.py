"""Memory planning: batches that fit, a clear refusal naming the size that would fit, and a plan
that is never below what the solver really allocates (measured with tracemalloc on the CPU path)."""
import sys
from pathlib import Path

import pytest

from gpucircuit.errors import SolverError
from gpucircuit.memory import (HEADROOM, KEPT_BYTES, PER_RHS_BYTES, SETUP_PEAK_BYTES, TILE_BYTES, TILE_RHS_BYTES,
                               need_bytes, plan_batch, tiles_fit)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_batch_grows_with_free_memory():
    cells = 10_000_000
    small = plan_batch(cells, 50, 4 * 2**30)
    large = plan_batch(cells, 50, 24 * 2**30)
    assert 1 <= small < large <= 50
    # the chosen batch really fits the budget
    assert need_bytes(cells, large) <= 24 * 2**30 * HEADROOM


def test_refusal_names_a_size_that_fits():
    with pytest.raises(SolverError) as err:
        plan_batch(205_000_000, 1, 8 * 2**30, where="NVIDIA L4")
    msg = str(err.value)
    assert "does not fit in NVIDIA L4 memory" in msg and "would fit" in msg and "precision = single" in msg
    fit = int(msg.split("up to about ")[1].split(" cells")[0].replace(",", ""))
    assert plan_batch(fit, 1, 8 * 2**30) == 1  # the suggested size is accepted


def test_205M_cells_single_precision_is_planned_within_24GiB():
    """The issue's target: one 8-neighbour solve of 205 M cells on a 24 GiB card (precision single)."""
    assert plan_batch(205_000_000, 1, 24 * 2**30, single=True) == 1
    with pytest.raises(SolverError):
        plan_batch(205_000_000, 1, 24 * 2**30, single=False)
    # the tile solves do not fit beside it there (it runs without them), on a 40 GiB card they do
    assert not tiles_fit(205_000_000, 24 * 2**30, single=True)
    assert tiles_fit(205_000_000, 40 * 2**30, single=True)


@pytest.mark.parametrize("four", [False, True])
@pytest.mark.parametrize("precision", ["single", "double"])
def test_plan_covers_measured_allocations(four, precision):
    """bench_memory traces what the solver allocates on its device side; the plan's constants must
    cover it (or batches would be planned that do not fit) without being more than 25 % above.
    600^2 is the smallest grid where the per-cell figures have settled (fixed costs aside)."""
    from bench_memory import measure

    key = (not four, precision == "single")
    r1 = measure(600, four, precision, nrhs=1)
    r2 = measure(600, four, precision, nrhs=2)
    # measured with the tile solves (they fit here), so planned with them
    tiles = TILE_BYTES[not four]
    assert r1["kept_B_per_cell"] <= KEPT_BYTES[key] + tiles <= 1.25 * r1["kept_B_per_cell"] + 1
    assert r1["setup_peak_B_per_cell"] <= SETUP_PEAK_BYTES[key] + tiles <= 1.25 * r1["setup_peak_B_per_cell"]
    per_rhs = r2["solve_extra_B_per_cell"] - r1["solve_extra_B_per_cell"]
    assert per_rhs <= PER_RHS_BYTES[not four] + TILE_RHS_BYTES[not four] <= 1.25 * per_rhs
    assert r1["peak_B_per_cell"] * r1["cells"] <= need_bytes(r1["cells"], 1, not four, precision == "single", tiles=True)
