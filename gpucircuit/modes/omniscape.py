"""Omniscape's moving window, with Omniscape.jl's rules, on arrays (no files, no config object).

For every target (the centre of a ``block_size`` block whose summed source strength is > 0):

* the window is the square of half-width ``d = radius + buffer`` around the target, clipped to
  the raster; its conductances are kept within distance ``d`` of the target (a disc), its sources
  within ``radius``;
* the sources of the target's block are zeroed, at the block's place in an *unclipped* window
  (Omniscape.jl indexes from the window's nominal centre, so in windows clipped at the top or
  left edge another block is zeroed; we follow it to give the same numbers);
* the target's strength is spread over the remaining sources in proportion to their strength;
  with conditional connectivity, sources whose present condition is not within ``[lower, upper]``
  of (or not equal to) the target block's future median (mode) are then dropped;
* the target cell is grounded (0 V); current flows on the window's 8- (or 4-) neighbour graph
  with average conductances, and only the target's component is solved (Circuitscape's advanced
  mode: a source on the ground is removed, sources on nodata are lost);
* the node currents (``max(inflow, outflow)``, branches under 1e-8 of the window's largest cut)
  are multiplied by the block-artifact correction (``block_size > 1``) and added to the map.

Flow potential is the same with conductance 1 on the whole clipped window (nodata and cells
outside the disc included); windows clipped alike share that operator, so it is factorised once
per window shape and solved for all their sources together.

Speed: windows are solved in batches. Up to ``ND_MAX_SIZE`` cells a side (the direct method) a
batch is eliminated together by batched nested dissection on the windows' common grid pattern
(:mod:`~gpucircuit.solver.nested_dissection`), neighbouring targets on one frame per group so that
the subtrees inside all their discs are eliminated once; larger windows, or multigrid, are laid out as one
raster of windows stacked along the rows with an empty row between them, which makes one
block-diagonal circuit solved by :class:`~gpucircuit.solver.system.GroundedSystem`. All arrays
are host NumPy arrays.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import InputError
from ..solver.nested_dissection import factor_stats
from .window_solves import SharedWindow, solve_shared, solve_windows, solve_windows_nd

SHARED_CACHE = 32  # flow-potential operators kept (edge windows come in many clip shapes)
# cells per stacked batch: measured on 2 cores, radius 5 windows ran 2-4x faster in batches of
# 64 than one by one, and larger stacks got slower (the factorisation's fill grows); radius 50
# windows (7,850 cells) are factorisation-bound, so batching neither helps nor hurts them
BATCH_CELLS = 8192
# batched nested dissection (the "direct" method): windows up to this side (measured on 2 cores,
# CPU time per window against the stacked sparse path: radius 10 about even, radius 50 1.2x,
# radius 100 1.8x faster; larger windows not measured), batches up to this many bytes (kept
# elimination blocks + fronts in flight, per window, times the batch). Flow potential stays on
# one SuperLU factor per clip shape: its per-window cost is a pair of triangular solves (~2 ms
# at radius 50), an order below a window's elimination
ND_MAX_SIZE = 201
ND_BATCH_BYTES = 512 * 2 ** 20
ND_MAX_BATCH = 512
# g x g groups of block centres (g = 1 + GROUP_SPAN // block_size), windows this wide, share subtrees; against
# each window alone: radius 50 block 1 1.18-1.25x, block 3 0.97-1.12x, radius 100 1.21-1.42x (0.95x, 24 quiet windows)
GROUP_SPAN, GROUP_MIN_SIZE = 3, 101


def uses_nested_dissection(rules: "WindowRules", method: str) -> bool:
    """Whether windows are solved by batched nested dissection rather than stacked into one
    sparse system (multigrid asked for, or windows too large for dense fronts)."""
    return method in ("direct", "auto") and rules.size <= ND_MAX_SIZE


def default_batch(rules: "WindowRules", method: str = "direct") -> int:
    """Windows per batch: by memory for nested dissection, by cells for the stacked system."""
    if uses_nested_dissection(rules, method):
        kept = factor_stats(rules.size, rules.four_neighbors, radius=rules.half)["kept_bytes"]
        per_window = kept + 48 * rules.size ** 2 * 8  # + fronts, value table, currents in flight
        return int(np.clip(ND_BATCH_BYTES // per_window, 1, ND_MAX_BATCH))
    return max(1, BATCH_CELLS // (rules.size * rules.size))


def target_groups(targets: "Targets", rules: "WindowRules"):
    """(targets ordered group by group, group key and frame offsets (rows, cols) of each, span) of
    the groups of neighbours solved together; None for small windows, blocks too far apart."""
    block_size = rules.block_size
    g = 1 + GROUP_SPAN // block_size
    if g == 1 or not len(targets) or rules.size < GROUP_MIN_SIZE:
        return None
    br = (block_size - 1) // 2
    ly, lx = (targets.rows - br) // block_size, (targets.cols - br) // block_size  # the targets' lattice
    key = (ly // g) * (int(lx.max()) // g + 1) + lx // g
    order = np.argsort(key, kind="stable")
    ly, lx = ly[order], lx[order]
    return targets.take(order), key[order], ((ly % g) * block_size, (lx % g) * block_size), (g - 1) * block_size


@dataclass(frozen=True)
class WindowRules:
    """How windows are cut and solved (Omniscape's radius, buffer, block_size and so on)."""

    radius: int
    buffer: int = 0
    block_size: int = 1  # odd
    four_neighbors: bool = False
    correct_artifacts: bool = True
    flow_potential: bool = False

    def __post_init__(self):
        if self.radius < 1 or self.buffer < 0 or self.block_size < 1 or self.block_size % 2 == 0:
            raise InputError(f"window rules need radius >= 1, buffer >= 0 and an odd block_size >= 1, got "
                             f"radius {self.radius}, buffer {self.buffer}, block_size {self.block_size}")

    @property
    def half(self) -> int:
        """Half-width d of the square window (radius + buffer)."""
        return self.radius + self.buffer

    @property
    def size(self) -> int:
        return 2 * self.half + 1

    @property
    def block_radius(self) -> int:
        return (self.block_size - 1) // 2


@dataclass(frozen=True)
class Condition:
    """One condition for conditional connectivity: present and future layers (NaN = nodata)."""

    present: np.ndarray
    future: np.ndarray
    comparison: str  # within | equal
    lower: float = 0.0
    upper: float = 0.0


@dataclass(frozen=True)
class Targets:
    """Target cells (0-based rows, columns) and the current each one draws (its block's sum)."""

    rows: np.ndarray
    cols: np.ndarray
    amps: np.ndarray

    def __len__(self) -> int:
        return int(self.rows.size)

    def take(self, index) -> "Targets":
        return Targets(self.rows[index], self.cols[index], self.amps[index])


def find_targets(source: np.ndarray, block_size: int) -> Targets:
    """Block centres from row/column ``block_radius`` every ``block_size`` cells (full blocks only),
    with their block's summed source strength; blocks summing to 0 are no targets."""
    br = (block_size - 1) // 2
    m, n = source.shape
    ys = np.arange(br, m - br, block_size)
    xs = np.arange(br, n - br, block_size)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    yy, xx = yy.ravel(), xx.ravel()
    if block_size == 1:
        amps = source[yy, xx].astype(np.float64)
    else:
        blocks = sliding_window_view(np.nan_to_num(source), (block_size, block_size))
        amps = blocks[yy - br, xx - br].sum(axis=(1, 2))
    keep = amps > 0
    return Targets(yy[keep], xx[keep], amps[keep])


class _Padded:
    """The layers padded by d on every side, so a target's window is a plain (S, S) slice."""

    def __init__(self, layers: dict[str, np.ndarray], d: int):
        self.d = d
        self.views = {}
        for name, a in layers.items():
            fill = {"g": 0.0, "src": 0.0, "inside": False}.get(name, np.nan)  # conditions: nodata
            p = np.pad(a, d, constant_values=fill)
            self.views[name] = sliding_window_view(p, (2 * d + 1, 2 * d + 1))

    def gather(self, name: str, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(k, S, S) windows of a layer for targets at (rows, cols) in the padded layer's frame."""
        return self.views[name][rows, cols]


def _disc(d: int, r: int) -> np.ndarray:
    i = np.arange(-d, d + 1)
    return np.hypot(i[:, None], i[None, :]) <= r


def _ranges(pos: np.ndarray, extent: int, d: int, br: int, size: int):
    """Per window along one axis: first in-raster cell (padded frame), count, and the zeroed block
    (Omniscape.jl's nominal-centre indexing) as [lo, hi] in the padded frame."""
    lo_cell = np.maximum(pos - d, 0)
    hi_cell = np.minimum(pos + d, extent - 1)
    offset = lo_cell - (pos - d)  # rows of the window above the raster
    count = hi_cell - lo_cell + 1
    block_lo = d - br + offset
    block_hi = np.minimum(d + br, extent - 1) + offset
    block_lo = np.maximum(block_lo, offset)
    block_hi = np.minimum(block_hi, offset + count - 1)
    return offset, count, block_lo, block_hi


def _block_mask(lo, hi, size):
    idx = np.arange(size)
    return (idx[None, :] >= lo[:, None]) & (idx[None, :] <= hi[:, None])


def _mode_first(values: np.ndarray) -> float:
    """Most frequent value; ties go to the one met first (StatsBase.mode's rule)."""
    uniq, first, counts = np.unique(values, return_index=True, return_counts=True)
    best = counts == counts.max()
    return float(uniq[best][np.argmin(first[best])])


def _condition_mask(cond: Condition, pad: _Padded, name: str, rows, cols, block_rows, block_cols, br) -> np.ndarray:
    """(k, S, S) True where a source fails the condition (NaN present values never fail)."""
    present = pad.gather(name, rows, cols)
    block = 2 * br + 1
    future = sliding_window_view(cond.future, (block, block))[block_rows - br, block_cols - br]
    flat = future.reshape(future.shape[0], -1)
    if cond.comparison == "within":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-nodata block: NaN, so nothing fails
            value = np.nanmedian(flat, axis=1)
        diff = present - value[:, None, None]
        with np.errstate(invalid="ignore"):
            return (diff > cond.upper) | (diff < cond.lower)
    values = []
    for row in future:  # column-major order, as Julia walks the block
        v = row.T.ravel()
        v = v[~np.isnan(v)]
        values.append(_mode_first(v) if v.size else np.nan)
    value = np.asarray(values)
    return ~np.isnan(present) & (present != value[:, None, None])


class WindowSource:
    """Cuts windows for targets out of one raster (or a slab of it, with a halo of d)."""

    def __init__(self, conductance: np.ndarray, source: np.ndarray, rules: WindowRules,
                 conditions: Sequence[Condition] = (), origin=(0, 0), full_shape=None):
        self.rules = rules
        self.origin = origin
        self.full_shape = tuple(full_shape or conductance.shape)
        self.conditions = list(conditions)
        d = rules.half
        layers = {"g": np.where(np.isnan(conductance), 0.0, conductance),
                  "src": np.nan_to_num(source), "inside": np.ones(conductance.shape, bool)}
        for i, c in enumerate(self.conditions):
            layers[f"present{i}"] = c.present
        self.pad = _Padded(layers, d)
        self.g_disc = _disc(d, d)
        self.src_disc = _disc(d, rules.radius)

    def cut(self, targets: Targets):
        """(conductance, sources, in-raster mask, clip offsets) of each target's window."""
        r = self.rules
        d, br, size = r.half, r.block_radius, r.size
        y0, x0 = self.origin
        ly, lx = targets.rows - y0, targets.cols - x0  # slab frame = padded frame's window corner
        g = self.pad.gather("g", ly, lx) * self.g_disc
        src = self.pad.gather("src", ly, lx) * self.src_disc
        inside = self.pad.gather("inside", ly, lx)
        m, n = self.full_shape
        oy, cy, bly, bhy = _ranges(targets.rows, m, d, br, size)
        ox, cx, blx, bhx = _ranges(targets.cols, n, d, br, size)
        src[_block_mask(bly, bhy, size)[:, :, None] & _block_mask(blx, bhx, size)[:, None, :]] = 0.0
        total = src.sum(axis=(1, 2))
        scale = np.divide(targets.amps, total, out=np.zeros_like(total), where=total > 0)
        src *= scale[:, None, None]
        for i, c in enumerate(self.conditions):
            src[_condition_mask(c, self.pad, f"present{i}", ly, lx, targets.rows - y0, targets.cols - x0, br)] = 0.0
        return g, src, inside, (oy, cy, ox, cx)


def block_correction(rules: WindowRules, method: str = "auto") -> np.ndarray:
    """Omniscape's block-artifact correction (S, S): the current a block's cells would carry if
    each were its own target (a unit-source disc, box-summed over the block) over the current
    of the block solved as one target, on a uniform window. 1 where either is 0."""
    d, r, bs, size = rules.half, rules.radius, rules.block_size, rules.size
    g = _disc(d, d).astype(np.float64)
    disc = _disc(d, r)
    ones = np.ones((size, size))
    single = np.where(disc, ones, 0.0)
    n_sources = single.sum()
    single[d, d] = 0.0
    single[single != 0] = 1.0 / (n_sources - 1)
    cut = WindowSource(ones, ones, WindowRules(r, rules.buffer, bs, rules.four_neighbors, False, False))
    centre = np.array([d])
    _, blocked, _, _ = cut.cut(Targets(centre, centre, np.array([float(bs * bs)])))
    cur = solve_shared(g, np.stack([blocked[0], single]), rules.four_neighbors, method)
    block_cur, null_cur = cur
    br = rules.block_radius
    total = np.zeros((size, size))
    for a in range(-br, br + 1):
        for b in range(-br, br + 1):
            total[max(a, 0):size + min(a, 0), max(b, 0):size + min(b, 0)] += \
                null_cur[max(-a, 0):size + min(-a, 0), max(-b, 0):size + min(-b, 0)]
    total[block_cur == 0] = 0.0
    total[total == 0] = 1.0
    block_cur = np.where(block_cur == 0, 1.0, block_cur)
    return total / block_cur


def _correction_windows(corr: np.ndarray, clip, k: int, size: int) -> np.ndarray:
    """The correction as Omniscape.jl lines it up with each (clipped) window: it keeps the
    window's far edge, which in a window clipped on both sides of an axis is not its centre."""
    oy, cy, ox, cx = clip
    out = np.broadcast_to(corr, (k, size, size))
    shift_y = np.where((oy > 0) & (oy + cy < size), -oy, 0)  # clipped both ends: Julia keeps 1..count
    shift_x = np.where((ox > 0) & (ox + cx < size), -ox, 0)
    odd = np.flatnonzero((shift_y != 0) | (shift_x != 0))
    if odd.size:
        out = out.copy()
        for i in odd:
            out[i] = np.roll(corr, (-shift_y[i], -shift_x[i]), axis=(0, 1))
    return out


@dataclass
class OmniscapeMaps:
    cum_currmap: np.ndarray
    flow_potential: np.ndarray | None
    windows: int


def _fp_groups(clip):
    oy, cy, ox, cx = clip
    keys = np.stack([oy, cy, ox, cx], axis=1)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    return uniq, inverse.ravel()


def accumulate(cut: WindowSource, targets: Targets, out_shape, method: str = "direct", batch: int | None = None,
               correction: np.ndarray | None = None, progress: Callable[[int], None] | None = None,
               grouped: bool = True) -> OmniscapeMaps:
    """Cumulative current (and flow potential) of ``targets`` on a map of ``out_shape`` whose
    top-left cell is ``cut.origin`` (overlap-add of every window's currents); ``grouped``: solve
    neighbouring windows in groups (:func:`target_groups`), the same maps to rounding."""
    r = cut.rules
    d, size = r.half, r.size
    m, n = out_shape
    batch = batch or default_batch(r, method)
    nested = uses_nested_dissection(r, method)
    cum = np.zeros((m + 2 * d, n + 2 * d))
    fp = np.zeros_like(cum) if r.flow_potential else None
    y0, x0 = cut.origin
    shared: dict[tuple, SharedWindow] = {}  # flow-potential operators by clip shape, kept across batches
    grouping = target_groups(targets, r) if nested and grouped else None
    if grouping is not None:  # a group's windows one after the other, so that batches hold whole groups
        targets, group_key, (oy, ox), span = grouping
    for start in range(0, len(targets), batch):
        here = slice(start, start + batch)
        part = targets.take(here)
        g, src, inside, clip = cut.cut(part)
        if grouping is not None:
            groups = np.unique(group_key[here], return_inverse=True)[1].ravel()
            cur = solve_windows_nd(g, src, r.four_neighbors, groups, (oy[here], ox[here]), span)
        elif nested:
            cur = solve_windows_nd(g, src, r.four_neighbors)
        else:
            cur = solve_windows(g, src, r.four_neighbors, method)
        fcur = None
        if fp is not None:
            fcur = np.zeros_like(cur)
            keys, inverse = _fp_groups(clip)
            for gi, key in enumerate(map(tuple, keys)):
                members = np.flatnonzero(inverse == gi)
                if key not in shared:
                    if len(shared) >= SHARED_CACHE:
                        shared.pop(next(iter(shared)))
                    shared[key] = SharedWindow(inside[members[0]].astype(np.float64), r.four_neighbors, method,
                                               rhs_hint=len(members))
                fcur[members] = shared[key].currents(src[members])
        if correction is not None:
            corr = _correction_windows(correction, clip, len(part), size)
            cur *= corr
            if fcur is not None:
                fcur *= corr
        for i, (y, x) in enumerate(zip(part.rows - y0, part.cols - x0)):
            cum[y:y + size, x:x + size] += cur[i]
            if fp is not None:
                fp[y:y + size, x:x + size] += fcur[i]
        if progress is not None:
            progress(len(part))
    crop = (slice(d, d + m), slice(d, d + n))
    return OmniscapeMaps(cum[crop], None if fp is None else fp[crop], len(targets))


def omniscape(conductance: np.ndarray, source: np.ndarray, rules: WindowRules, conditions: Sequence[Condition] = (),
              method: str = "direct", batch: int | None = None,
              progress: Callable[[int], None] | None = None) -> OmniscapeMaps:
    """Cumulative current (and flow potential) of an Omniscape run on whole in-memory layers.

    ``conductance``: cell conductances (NaN or <= 0 = no node); ``source``: source strengths after
    Omniscape's threshold (NaN = 0)."""
    targets = find_targets(np.nan_to_num(source), rules.block_size)
    correction = block_correction(rules, method) if rules.correct_artifacts and rules.block_size > 1 else None
    cut = WindowSource(conductance, source, rules, conditions)
    return accumulate(cut, targets, conductance.shape, method, batch, correction, progress)
