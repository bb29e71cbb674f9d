"""Each Linkage Mapper tool on its own, as its command runs it: read the inputs, reuse OUT's link table
when there is one (else run Linkage Pathways first and leave its files too), compute, write.

Each function returns ``(result, links, outputs)`` (``corridor_tool``: the core ids in place of the links, the
links being in ``result``); ``report(stage, done, total)`` shows progress.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from .chain import cellsize_of, check_radii, links_and_cwds, load_inputs, run_linkage
from .files import (LINK_TABLE, read_link_column, write_barrier_outputs, write_centrality_outputs,
                    write_linkage_outputs, write_pinchpoint_outputs)


def corridor_tool(resistance: Path, cores: Path, core_field: str, out: Path, options, write_cwd: bool, report):
    """Linkage Pathways: corridors, link table and least-cost paths."""
    r, spec, core_set = load_inputs(resistance, cores, core_field)
    result = run_linkage(r, spec, core_set, options, report)
    out.mkdir(parents=True, exist_ok=True)
    return result, core_set.ids, write_linkage_outputs(out, result, spec, write_cwd)


def _links(out, r, spec, core_set, method, report):
    links, cwds, fresh = links_and_cwds(out, r, spec, core_set, method, report)
    outputs = write_linkage_outputs(out, fresh, spec, write_cwd=False) if fresh else []
    return links, cwds, outputs


def pinchpoint_tool(resistance: Path, cores: Path, core_field: str, out: Path, options, method: str, report):
    """Pinchpoint Mapper: current through the corridors at the options' CWD cutoff."""
    from ..analysis.pinchpoints import pinchpoint_analysis

    r, spec, core_set = load_inputs(resistance, cores, core_field)
    out.mkdir(parents=True, exist_ok=True)
    links, cwds, outputs = _links(out, r, spec, core_set, method, report)
    result = pinchpoint_analysis(r, core_set.labels, cwds, links, cellsize_of(spec), options, progress=report)
    return result, links, outputs + write_pinchpoint_outputs(out, result, spec, links, core_set.labels)


def barrier_tool(resistance: Path, cores: Path, core_field: str, out: Path, radii, method: str, percent: bool,
                 want_sum: bool, report, raw_scores: bool = False):
    """Barrier Mapper: improvement scores over the radii (a radius below the cell size is refused first)."""
    from ..analysis.barriers import barrier_analysis

    r, spec, core_set = load_inputs(resistance, cores, core_field)
    check_radii(radii, cellsize_of(spec))
    out.mkdir(parents=True, exist_ok=True)
    links, cwds, outputs = _links(out, r, spec, core_set, method, report)
    res = barrier_analysis(cwds, links, radii, cellsize_of(spec), valid=np.isfinite(r), percent=percent,
                           want_sum=want_sum, progress=report)
    return res, links, outputs + write_barrier_outputs(out, res, spec, want_sum, raw_scores)


def centrality_tool(resistance: Path | None, cores: Path | None, core_field: str, out: Path, weight: str,
                    method: str, report):
    """Centrality Mapper on OUT's link table, or on a fresh Linkage Pathways run of RESISTANCE and CORES."""
    from ..analysis.centrality import centrality
    from ..analysis.corridors import LinkageOptions, read_link_table

    if (resistance is None) != (cores is None):
        raise InputError("give both RESISTANCE and CORES, or neither (to use OUT's link table)")
    table = out / LINK_TABLE
    spec = core_set = None
    outputs = []
    if resistance is not None:
        r, spec, core_set = load_inputs(resistance, cores, core_field)
    if table.exists():
        links = read_link_table(table)
        eff = read_link_column(table, "eff_resist") if weight == "eff_resist" else None
    elif core_set is None:
        raise InputError(f"no link table {table}: give RESISTANCE and CORES or run 'gpucircuit corridors' first")
    elif weight == "eff_resist":
        raise InputError(f"no link table {table}: run 'gpucircuit pinchpoints' first for --weight eff-resist")
    else:
        out.mkdir(parents=True, exist_ok=True)
        fresh = run_linkage(r, spec, core_set, LinkageOptions(method=method), report)
        outputs += write_linkage_outputs(out, fresh, spec, write_cwd=False)
        links, eff = fresh.links, None
    if core_set is not None:
        unknown = sorted({c for lk in links for c in (lk.core_a, lk.core_b)} - set(core_set.ids))
        if unknown:
            raise InputError(f"link table {table} names core(s) {', '.join(map(str, unknown))} not in the cores given")
    res = centrality(links, core_set.ids if core_set else None, weight, eff)
    return res, links, outputs + write_centrality_outputs(out, res, links, spec, core_set.labels if core_set else None)
