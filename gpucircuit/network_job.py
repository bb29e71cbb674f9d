"""A Circuitscape network job from its typed config: read the graph and node files, run the
network mode, write Circuitscape's text outputs keyed by the input's node ids."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import InputError
from .graph import Network, read_network
from .io.config import CircuitscapeConfig
from .io.outputs import fmt, write_pairwise_resistances
from .io.points import read_included_pairs
from .io.raster_write import write_text_atomic
from .job import JobReport, need_file
from .modes import network
from .solver.options import SolveOptions

BRANCH_WRITE_MIN = 1e-6  # branch currents at or below this are left out of every branch file


def _read_id_values(path: Path, what: str) -> dict[int, float]:
    if not Path(path).exists():
        raise InputError(f"{what} not found: {path}")
    data = np.loadtxt(path, ndmin=2, comments=("#", ";"))
    if data.size == 0 or data.shape[1] < 2:
        raise InputError(f"{what} {path} must have rows 'node value'")
    out: dict[int, float] = {}
    for nid, val in data[:, :2]:
        out[int(nid)] = out.get(int(nid), 0.0) + float(val)
    return out


def _node_lines(ids, values, mask=None) -> str:
    sel = np.ones(len(ids), bool) if mask is None else mask
    return "".join(f"{int(i)} {fmt(v)}\n" for i, v in zip(np.asarray(ids)[sel], np.asarray(values)[sel]))


def _branch_lines(net: Network, cur: np.ndarray, mask=None) -> str:
    """Branch rows carrying more than BRANCH_WRITE_MIN, as Circuitscape writes every branch file
    (the cumulative one too, so components without focal nodes leave no rows)."""
    sel = np.abs(cur) > BRANCH_WRITE_MIN
    if mask is not None:
        sel &= mask[net.a]
    return "".join(
        f"{int(net.ids[a])} {int(net.ids[b])} {fmt(abs(c))}\n"
        for a, b, c in zip(net.a[sel], net.b[sel], cur[sel])
    )


def run_network_job(cfg: CircuitscapeConfig, options: SolveOptions) -> JobReport:
    """Network scenario from a typed config; writes Circuitscape's text outputs."""
    net = read_network(need_file(cfg.habitat_file, "graph file", "habitat_file"), cfg.habitat_map_is_resistances)
    prefix = cfg.output_prefix
    prefix.parent.mkdir(parents=True, exist_ok=True)
    report = JobReport(cfg.scenario)

    def out(name, text):
        p = Path(f"{prefix}_{name}.txt")
        write_text_atomic(p, text)
        report.outputs.append(p)

    if cfg.scenario == "advanced":
        src = _read_id_values(need_file(cfg.source_file, "source file", "source_file"), "source file")
        gnd = _read_id_values(need_file(cfg.ground_file, "ground file", "ground_file"), "ground file")
        v, nodec, br, report.stats = network.advanced(net, src, gnd, cfg.ground_file_is_resistances,
                                                      cfg.use_direct_grounds, cfg.use_unit_currents,
                                                      cfg.remove_src_or_gnd, options)
        if cfg.write_volt_maps:
            out("voltages", _node_lines(net.ids, v))
        if cfg.write_cur_maps:
            out("node_currents", _node_lines(net.ids, nodec))
            out("branch_currents", _branch_lines(net, br))
        return report
    ppath = need_file(cfg.point_file, "focal node file", "point_file")
    focal = np.loadtxt(ppath, ndmin=1, comments=("#", ";")).ravel()
    if focal.size == 0:
        raise InputError(f"focal node file {ppath} holds no nodes")
    ids = sorted(set(int(i) for i in focal))
    include = None
    if cfg.use_included_pairs:
        ids, include = read_included_pairs(need_file(cfg.included_pairs_file, "included pairs file",
                                                     "included_pairs_file"), ids)

    def sink(a, b, v, mask):
        if cfg.write_volt_maps:
            out(f"voltages_{a}_{b}", _node_lines(net.ids, v, mask))
        if cfg.write_cur_maps and not cfg.write_cum_cur_map_only:
            out(f"node_currents_{a}_{b}", _node_lines(net.ids, network.node_currents(net, v), mask))
            out(f"branch_currents_{a}_{b}", _branch_lines(net, network.branch_currents(net, v), mask))

    res = network.pairwise(net, ids, options, sink, include)
    report.outputs += write_pairwise_resistances(prefix, res.ids, res.resistances)
    if cfg.write_cur_maps or cfg.write_cum_cur_map_only:
        out("node_currents_cum", _node_lines(net.ids, res.cum_node))
        out("branch_currents_cum", _branch_lines(net, res.cum_branch))
    report.resistances, report.ids, report.stats = res.resistances, res.ids, res.stats
    return report
