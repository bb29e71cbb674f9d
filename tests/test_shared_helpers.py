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


@pytest.mark.parametrize("value, full, six", [
    (None, "", ""), (np.nan, "", ""), (True, "true", "true"), (np.bool_(False), "false", "false"),
    (np.inf, "inf", "inf"), (-np.inf, "-inf", "-inf"), (1 / 3, repr(1 / 3), "0.333333"),
    (np.float32(0.5), "0.5", "0.5"), (np.int64(7), "7", "7"), (12, "12", "12"), ("x", "x", "x"),
])
def test_csv_cell(value, full, six):
    from gpucircuit.io.csv_table import csv_cell

    assert csv_cell(value) == full
    assert csv_cell(value, digits=6) == six


def test_link_tables_round_trip_through_the_shared_formatter(tmp_path):
    from gpucircuit.analysis.corridors import Link, link_table_text, read_link_table

    links = [Link(1, 1, 2, "cwd", euclidean=3.0, lcd=1 / 3, lcp_length=np.inf, constellation=True),
             Link(2, 1, 3, "euclidean", status="max_cwd", crossed_core=4)]
    text = link_table_text(links)
    row = text.splitlines()[1].split(",")
    assert "0.333333" in row and "inf" in row and "true" in row  # rounded to 6, inf, booleans as CSV says
    path = tmp_path / "links.csv"
    path.write_text(text)
    back = read_link_table(path)
    assert [(lk.link_id, lk.status, lk.crossed_core) for lk in back] == [(1, "active", None), (2, "max_cwd", 4)]
    assert back[0].lcd == pytest.approx(1 / 3, abs=1e-6) and np.isnan(back[1].lcd)


def test_toml_table_getters_name_file_place_and_key(tmp_path):
    from gpucircuit.errors import InputError
    from gpucircuit.io.toml_doc import TomlTable

    src = tmp_path / "study.toml"
    t = TomlTable(src, "[mspa]", {"foreground": 41, "edge_width": 2.5, "flag": "yes"}, ("foreground", "edge_width",
                                                                                        "flag", "landcover"))
    assert t.string("foreground") == "41"  # a bare integer is its text
    with pytest.raises(InputError, match=r"study.toml: \[mspa\] key 'edge_width': must be an integer, got 2.5"):
        t.number("edge_width", integer=True)
    with pytest.raises(InputError, match=r"key 'flag': must be true or false"):
        t.boolean("flag")
    with pytest.raises(InputError, match=r"key 'landcover': is missing"):
        t.path("landcover", required=True)
    assert t.path("landcover") is None
    with pytest.raises(InputError, match=r"\[mspa\]: unknown key 'bogus'"):
        TomlTable(src, "[mspa]", {"bogus": 1}, ("foreground",))
