"""A Circuitscape job from its typed config: load inputs, run the scenario, write outputs."""
from __future__ import annotations

import dataclasses
import functools
import time

import numpy as np

from . import currents_compiled
from .errors import InputError
from .grid import build_raster_graph, conductance_from_habitat, relabel
from .io import ascii_compiled
from .io.config import CircuitscapeConfig
from .io.outputs import (MapWriter, output_folder, remove_stale_temporaries, write_pairwise_resistances,
                         write_point_resistances)
from .io.points import grid_from_text, is_text_list, read_included_pairs, read_points, read_source_strengths
from .io.raster import check_same_grid, raster_shape, read_raster
from .io.raster_write import use_compiled
from .io.write_queue import WriteQueue
from .job import JobReport, need_file
from .memory import return_large_blocks_when_freed, reuse_freed_blocks
from .modes.advanced import advanced
from .modes.one_to_all import all_to_one, one_to_all
from .modes.pairwise import pairwise
from .modes.raster import MapOptions
from .network_job import run_network_job
from .progress import current
from .solver.multigrid import MultigridOptions
from .solver.options import SolveOptions
from .solver.residual import other_solver


def solve_options(cfg: CircuitscapeConfig, method: str | None = None, client=None,
                  multigrid: MultigridOptions | None = None) -> SolveOptions:
    # Circuitscape's direct solvers map to ours; cg+amg to our default (same answers, our fastest path)
    by_ini = {"cholmod": "direct", "mkl_pardiso": "direct", "direct": "direct", "mg": "mg", "amg": "amg"}
    m = method or by_ini.get(cfg.solver, "auto")
    return SolveOptions(method=m, precision=cfg.precision, client=client, multigrid=multigrid or MultigridOptions())


def load_raster_graph(cfg: CircuitscapeConfig):
    habitat_path = need_file(cfg.habitat_file, "habitat raster", "habitat_file")
    habitat, spec = read_raster(habitat_path, "habitat raster", nan_is_nodata=False)
    g = conductance_from_habitat(habitat, cfg.habitat_map_is_resistances, f"habitat raster {habitat_path}")
    del habitat  # not needed once the conductances are made
    if cfg.use_mask:
        mpath = need_file(cfg.mask_file, "mask raster", "mask_file")
        mask, mspec = read_raster(mpath, "mask raster")
        check_same_grid(spec, mspec, "habitat raster", "mask raster", mpath)
        g = np.where(np.nan_to_num(mask, nan=0.0) > 0, g, 0.0)
    merge = None
    if cfg.use_polygons:
        ppath = need_file(cfg.polygon_file, "short-circuit region raster", "polygon_file")
        poly, pspec = read_raster(ppath, "short-circuit region raster")
        check_same_grid(spec, pspec, "habitat raster", "short-circuit region raster", ppath)
        merge = relabel(poly)
    if not (g > 0).any():
        raise InputError(f"habitat raster {habitat_path} has no cell with a positive conductance")
    current().stage("graph")
    graph = build_raster_graph(g, cfg.connect_four_neighbors_only, cfg.connect_using_avg_resistances, merge=merge)
    return graph, spec


def _grid_input(path, what, key, spec, fill=np.nan):
    """A source or ground grid from a raster or, as Circuitscape allows, a ``value x y`` text list
    (told apart by content); cells a list does not name get ``fill``."""
    p = need_file(path, what, key)
    if is_text_list(p):
        return grid_from_text(p, spec, what.replace("raster", "list"), fill)
    data, s = read_raster(p, what)
    check_same_grid(spec, s, "habitat raster", what, p)
    return data


def advanced_inputs(cfg: CircuitscapeConfig, graph, spec):
    """Sources (A), finite ground conductances and direct-ground cells, conflicts resolved."""
    src = np.nan_to_num(_grid_input(cfg.source_file, "source raster", "source_file", spec, fill=0.0), nan=0.0)
    gnd_raw = _grid_input(cfg.ground_file, "ground raster", "ground_file", spec)
    has_gnd = ~np.isnan(gnd_raw)
    gv = np.nan_to_num(gnd_raw, nan=0.0)
    if (gv < 0).any():
        r, c = np.argwhere(gv < 0)[0]
        raise InputError(f"ground raster {cfg.ground_file} has a negative value at row {r}, column {c}")
    if cfg.ground_file_is_resistances:
        direct = has_gnd & (gv == 0)
        ground_g = np.where(has_gnd & (gv > 0), 1.0 / np.where(gv > 0, gv, 1), 0.0)
    else:
        direct = has_gnd & np.isinf(gv)
        ground_g = np.where(has_gnd & np.isfinite(gv), gv, 0.0)
    if cfg.use_direct_grounds:
        direct = direct | (ground_g > 0)
        ground_g = np.zeros_like(ground_g)
    if cfg.use_unit_currents:
        src = np.where(src != 0, 1.0, 0.0)
    src, ground_g, direct = _resolve_conflicts(graph, src, ground_g, direct, cfg.remove_src_or_gnd)
    return src, ground_g, direct


def _node_sum(graph, values):
    """Per-cell value of the sum over each merged region's cells (own cells unchanged)."""
    merge = graph.merge
    if not (merge > 0).any():
        return values
    cells = merge > 0
    tot = np.bincount(merge[cells], weights=values[cells], minlength=int(merge.max()) + 1)
    out = values.copy()
    out[cells] = tot[merge[cells]]
    return out


def _resolve_conflicts(graph, src, ground_g, direct, policy):
    """A node with both a source and a ground: Circuitscape's remove_src_or_gnd policies."""
    node_src = _node_sum(graph, src)
    node_gnd = _node_sum(graph, ground_g) + _node_sum(graph, direct.astype(float))
    both = (node_src != 0) & (node_gnd != 0)
    if policy in ("rmvsrc", "rmvall"):
        src = np.where(both, 0.0, src)
    if policy in ("rmvgnd", "rmvall"):
        ground_g = np.where(both, 0.0, ground_g)
        direct = direct & ~both
    # a positive source on a direct ground would vanish into it: the ground goes (all policies)
    node_direct = _node_sum(graph, direct.astype(float)) > 0
    direct = direct & ~(node_direct & (_node_sum(graph, src) > 0))
    return src, ground_g, direct


def check_points_on_habitat(graph, cells: dict, spec) -> None:
    """Error for focal points none of whose cells carry a node (Circuitscape would report -1)."""
    node = graph.node.ravel()
    if graph.regions is not None:
        node = node | (graph.regions.ravel() > 0)
    n = graph.shape[1]
    for pid, idx in cells.items():
        if not node[np.asarray(idx)].any():
            r, c = divmod(int(idx[0]), n)
            t = spec.transform
            x, y = t.c + (c + 0.5) * t.a, t.f + (r + 0.5) * t.e
            raise InputError(f"focal point {pid} at row {r}, column {c} (x={x:g}, y={y:g}) lies on nodata")


def job_timings(t0: float, t_loaded: float, stats: list, write_s: float) -> dict:
    """Seconds per stage; the time making current maps is in ``total`` only."""
    return dict(load=t_loaded - t0, setup=sum(st.setup_s for st in stats), solve=sum(st.solve_s for st in stats),
                write=write_s, total=time.perf_counter() - t0)


def check_fits_memory(cfg: CircuitscapeConfig) -> tuple[int, int] | None:
    """Refuse a raster job too large for memory from the habitat raster's header, before reading it;
    returns the raster's shape (None when the header cannot be read)."""
    from .backend import get_backend
    from .memory import check_job_fits

    path = need_file(cfg.habitat_file, "habitat raster", "habitat_file")
    shape = raster_shape(path)
    if shape is None:
        return None  # unreadable header: the full read says why
    check_job_fits(shape[0] * shape[1], shape, f"habitat raster {path}", eight=not cfg.connect_four_neighbors_only,
                   single=cfg.precision == "single", on_gpu=get_backend().is_gpu)
    return shape


def check_focal_count(cells: dict, path, scenario: str) -> None:
    if len(cells) < 2:
        n = len(cells)
        raise InputError(f"{n} focal point{'' if n == 1 else 's'} found in {path}; {scenario} needs at least two")


def run_config(cfg: CircuitscapeConfig, method: str | None = None, strict_points: bool = False,
               client=None, multigrid: MultigridOptions | None = None) -> JobReport:
    """Run a Circuitscape job and write its outputs; returns what was written.

    The output folder is created and checked writable, and the job's memory checked from the
    raster headers, before anything is read or solved; a failed run removes the folder again if
    it created it and nothing was written. Solves that fail their residual check give -777 and
    are listed in ``report.failed`` (the job carries on, as Circuitscape does).
    ``strict_points`` turns focal points on nodata into an error instead of Circuitscape's -1;
    ``multigrid`` sets the ``mg`` solver's hierarchy and cycle (default: the backend's).
    Progress goes to :func:`gpucircuit.progress.current`.
    """
    t0 = time.perf_counter()
    prefix = cfg.output_prefix
    with output_folder(prefix.parent):
        remove_stale_temporaries(prefix)
        if cfg.data_type == "network":
            current().stage("network")
            report = run_network_job(cfg, solve_options(cfg, method))  # networks are small: no cluster
            report.timings = dict(total=time.perf_counter() - t0)
        else:
            shape = check_fits_memory(cfg)
            report = _run_raster_job(cfg, method, strict_points, client, multigrid, t0, shape)
    report.seconds = report.timings.get("total", time.perf_counter() - t0)
    return report


def _same_bits(a, b) -> bool:
    """Whether two maps hold the same values bit for bit (-0.0 is not 0.0: they print differently)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype or a.dtype.kind != "f":
        return False
    view = np.dtype(f"u{a.dtype.itemsize}")
    return bool(np.array_equal(np.ascontiguousarray(a).view(view), np.ascontiguousarray(b).view(view)))


def writer_preparation(as_tif: bool, cells: int):
    """What a map writer process makes ready as it starts, while the job loads and solves: a heap
    that reuses the blocks its maps go through, and the compiled ASCII formatter (0.5 s a process)
    when the maps are ASCII and large enough to use it."""
    return functools.partial(_prepare_writer, not as_tif and use_compiled(cells))


def _prepare_writer(compiled_ascii: bool) -> None:
    reuse_freed_blocks()
    if compiled_ascii:
        ascii_compiled.warm()


def _run_raster_job(cfg, method, strict_points, client, multigrid, t0, shape=None) -> JobReport:
    """``shape``: the habitat raster's, from its header (None: unknown; the maps are then written
    by this process)."""
    return_large_blocks_when_freed()  # grid-sized arrays leave no resident heap behind
    per_solve_cur = cfg.write_cur_maps and not cfg.write_cum_cur_map_only
    if cfg.scenario == "advanced":
        maps_wanted = cfg.write_volt_maps or cfg.write_cur_maps or cfg.write_cum_cur_map_only
    else:
        maps_wanted = per_solve_cur or cfg.write_volt_maps
    # The map writer processes are forked first, while this process is small: forked after the load,
    # they share its pages copy-on-write and both sides pay page faults for it (24 M-cell one-pair
    # job: the writers' page faults 1.9 M -> 0.7 M, maps + writing 7.6 -> 6.1 s).
    cells = shape[0] * shape[1] if shape else 0
    queue = WriteQueue.for_maps(maps_wanted, cells, prepare=writer_preparation(cfg.write_as_tif, cells))
    with queue:
        return _raster_job(cfg, method, strict_points, client, multigrid, t0, queue, per_solve_cur)


def _raster_job(cfg, method, strict_points, client, multigrid, t0, queue, per_solve_cur) -> JobReport:
    current().stage("load")
    graph, spec = load_raster_graph(cfg)
    t_loaded = time.perf_counter()
    prefix = cfg.output_prefix
    # the node mask only serves the null-to-nodata options: no (m, n) mask through the solve otherwise
    nulls = cfg.set_null_currents_to_nodata or cfg.set_null_voltages_to_nodata
    writer = MapWriter(prefix, spec, graph.g > 0 if nulls else None, cfg.write_as_tif, cfg.compress_grids, cfg.log_transform_maps,
                       cfg.set_null_currents_to_nodata, cfg.set_null_voltages_to_nodata,
                       dtype=np.float32 if cfg.precision == "single" else np.float64)
    # per-pair / per-point maps are formatted in other processes while the next ones are made
    writer.offload, writer.spread = queue.call, (queue.imap if queue.processes else None)
    report = JobReport(cfg.scenario, cells=graph.shape[0] * graph.shape[1])
    options = solve_options(cfg, method, client, multigrid)
    maps = MapOptions(
        currents=cfg.write_cur_maps or cfg.write_cum_cur_map_only or cfg.write_max_cur_maps,
        voltages=cfg.write_volt_maps, max_map=cfg.write_max_cur_maps,
        per_pair=per_solve_cur or cfg.write_volt_maps,
    )

    if cfg.scenario == "advanced":
        src, ground_g, direct = advanced_inputs(cfg, graph, spec)
        res = advanced(graph, src, ground_g, direct, options, maps)
        current().stage("write")
        if cfg.write_volt_maps:
            queue.submit(writer.voltage, "voltmap", res.voltages)
        if cfg.write_cur_maps or cfg.write_cum_cur_map_only:
            queue.submit(writer.current, "curmap", res.current)
        report.outputs += queue.drain()
        report.stats = res.stats
        report.timings = job_timings(t0, t_loaded, res.stats, writer.seconds)
        report.seconds = report.timings["total"]
        return report

    point_file = need_file(cfg.point_file, "point file", "point_file")
    cells = read_points(point_file, spec)
    check_focal_count(cells, point_file, cfg.scenario)
    options = dataclasses.replace(options, keep_going=True)  # failed solves give -777, as in Circuitscape
    if strict_points:
        check_points_on_habitat(graph, cells, spec)
    pair_focal_zero = cfg.set_focal_node_currents_to_zero and cfg.scenario == "pairwise"

    # labels of the per-solve current maps, and the map itself while it is the only one: a one-pair
    # job's cumulative map has the same bits and is then copied, not formatted again
    cur_labels: list = []
    sole_map: dict = {}

    def sink(label, volts, cur):
        if cfg.write_volt_maps and volts is not None:
            queue.submit(writer.voltage, f"voltmap_{label}", volts)
        if per_solve_cur and cur is not None:
            queue.submit(writer.current, f"curmap_{label}", cur)
            cur_labels.append(label)
            sole_map.clear()
            if len(cur_labels) == 1:
                sole_map[label] = cur

    include = None
    if cfg.use_included_pairs:
        # one-to-all / all-to-one drop the points the file does not name in exclude mode too
        ids, include = read_included_pairs(need_file(cfg.included_pairs_file, "included pairs file",
                                                     "included_pairs_file"), sorted(cells),
                                           prune_exclude=cfg.scenario != "pairwise")
        cells = {i: cells[i] for i in ids}
        check_focal_count(cells, f"{point_file} (kept by {cfg.included_pairs_file})", cfg.scenario)
    if (maps.currents and len(cells) > 2 and graph.shape[0] * graph.shape[1] >= currents_compiled.MIN_CELLS):
        # a current map per point or pair: the compiled loops (half the time of the NumPy passes,
        # for ~140 MB of numba) load in a thread while the solves are set up; a one-pair job's one
        # map keeps the NumPy passes and the memory
        currents_compiled.request()
    strengths = None
    if cfg.scenario != "pairwise" and cfg.use_variable_source_strengths:
        strengths = read_source_strengths(need_file(cfg.variable_source_file, "variable source strength file",
                                                "variable_source_file"))
    if cfg.scenario == "pairwise":
        res = pairwise(graph, cells, include, maps, sink, options, focal_currents_zero=pair_focal_zero)
    else:
        fn = one_to_all if cfg.scenario == "one-to-all" else all_to_one
        res = fn(graph, cells, strengths, maps, sink, options, include=include)
    current().stage("write")
    # the cumulative and maximum maps join the queue, so their formatting overlaps the last
    # per-solve maps' (one core each) instead of following it
    twin = None  # the per-solve map whose file the cumulative map copies
    if res.cum_current is not None and (cfg.write_cur_maps or cfg.write_cum_cur_map_only):
        if sole_map and _same_bits(next(iter(sole_map.values())), res.cum_current):
            twin = f"curmap_{cur_labels[0]}"
        else:
            queue.submit(writer.current, "cum_curmap", res.cum_current)
    sole_map.clear()
    if res.max_current is not None and cfg.write_max_cur_maps:
        queue.submit(writer.current, "max_curmap", res.max_current)
    report.outputs += queue.drain()
    if twin is not None:
        written = next(p for p in report.outputs if p.name.startswith(f"{prefix.name}_{twin}."))
        report.outputs.append(writer.copy(written, twin, "cum_curmap"))
    if cfg.scenario == "pairwise":
        report.outputs += write_pairwise_resistances(prefix, res.ids, res.resistances)
    else:
        report.outputs += write_point_resistances(prefix, res.ids, res.resistances)
    report.resistances, report.ids, report.stats = res.resistances, res.ids, res.stats
    report.failed = res.failed
    if res.failed:
        report.advice = f"try --solver {other_solver(res.stats[0].method if res.stats else 'mg')}"
    report.timings = job_timings(t0, t_loaded, res.stats, writer.seconds)
    report.seconds = report.timings["total"]
    return report
