"""Linkage Pathways (Linkage Mapper v3): adjacency, link pruning, normalised least-cost corridors.

Steps, as in Linkage Mapper:

1. **CWD per core** (:mod:`.cwd`), 0 inside the core.
2. **Candidate links** = pairs of cores that are adjacent by cost-weighted allocation (each
   cell goes to the core of least CWD) and/or Euclidean allocation (nearest core cell); two
   cores are adjacent when their zones touch (8-neighbour contact). With both methods the
   candidate set is the union.
3. **Per link**: least-cost distance (LCD) = min of CWD_A over core B's cells; least-cost path
   (LCP) traced back from the cell of B attaining the LCD; Euclidean distance between the cores.
4. **Pruning**: links above ``max_euclidean`` or ``max_cwd``, unreachable links, and links whose
   LCP crosses a third core (``drop_crossing``) are dropped; optional k-nearest-neighbour pruning
   (a link survives if it is among the ``knn`` cheapest links of either core); optional
   connecting of constellations: Kruskal over the surviving candidates by increasing LCD, adding
   the cheapest link between groups that the kept links leave disconnected.
5. **Corridors**: per active link CWD_A + CWD_B - LCD (0 on the LCP), mosaicked by minimum,
   cells above ``cwd_threshold`` set to nodata.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError
from ..io.csv_table import csv_cell
from .cwd import CostSurface, cell_steps, min_over, path_length, pick_method, trace_least_cost_path

ACTIVE = "active"


@dataclass
class Link:
    """One candidate link between two cores (``core_a < core_b``)."""

    link_id: int
    core_a: int
    core_b: int
    adjacency: str  # "cwd", "euclidean" or "cwd+euclidean"
    euclidean: float = math.nan
    lcd: float = math.nan
    lcp_length: float = math.nan
    status: str = ACTIVE
    constellation: bool = False  # added back by connect-constellations
    crossed_core: int | None = None
    path: np.ndarray | None = field(default=None, repr=False)  # (k, 2) rows/cols, from B to A

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    @property
    def cwd_to_euclidean(self) -> float:
        return self.lcd / self.euclidean if self.euclidean > 0 and math.isfinite(self.lcd) else math.nan

    @property
    def cwd_to_path_length(self) -> float:
        return self.lcd / self.lcp_length if self.lcp_length > 0 and math.isfinite(self.lcd) else math.nan


@dataclass
class LinkageOptions:
    """Linkage Pathways settings (defaults: Linkage Mapper's demo choices, no distance limits)."""

    cwd_adjacency: bool = True
    euclidean_adjacency: bool = True
    max_cwd: float | None = None
    max_euclidean: float | None = None
    drop_crossing: bool = True
    knn: int | None = None
    connect_constellations: bool = True
    cwd_threshold: float | None = None
    method: str = "auto"  # CWD engine: auto | dijkstra | sweep


@dataclass
class LinkageResult:
    core_ids: list[int]
    links: list[Link]
    cwd: dict[int, np.ndarray]
    corridors: np.ndarray  # normalised least-cost corridor mosaic, NaN = nodata
    cost_allocation: np.ndarray | None = None
    euclidean_allocation: np.ndarray | None = None

    @property
    def active_links(self) -> list[Link]:
        return [lk for lk in self.links if lk.active]


# -- allocation and adjacency ---------------------------------------------------------------
def cost_allocation(cwds: dict[int, np.ndarray]) -> np.ndarray:
    """Core id of least CWD for each cell (0 where no core is reachable); ties go to the lower id."""
    ids = sorted(cwds)
    first = cwds[ids[0]]
    best = np.full(first.shape, np.inf)
    alloc = np.zeros(first.shape, dtype=np.int64)
    for cid in ids:
        d = cwds[cid]
        better = d < best
        best = np.where(better, d, best)
        alloc[better] = cid
    return alloc


def euclidean_allocation(labels: np.ndarray, cellsize=1.0) -> np.ndarray:
    """Core id of the nearest core cell (by cell-centre distance) for every cell."""
    from scipy.ndimage import distance_transform_edt

    dx, dy = cell_steps(cellsize)
    idx = distance_transform_edt(labels <= 0, sampling=(dy, dx), return_distances=False, return_indices=True)
    return labels[idx[0], idx[1]]


def adjacent_pairs(alloc: np.ndarray) -> set[tuple[int, int]]:
    """Pairs ``(a, b)``, ``a < b``, of non-zero zones that touch (8-neighbour contact)."""
    pairs: set[tuple[int, int]] = set()
    for a, b in ((alloc[:, 1:], alloc[:, :-1]), (alloc[1:, :], alloc[:-1, :]),
                 (alloc[1:, 1:], alloc[:-1, :-1]), (alloc[1:, :-1], alloc[:-1, 1:])):
        ok = (a > 0) & (b > 0) & (a != b)
        if ok.any():
            lo, hi = np.minimum(a[ok], b[ok]), np.maximum(a[ok], b[ok])
            pairs.update(zip(*np.unique(np.stack([lo, hi]), axis=1).tolist()))
    return {(int(a), int(b)) for a, b in pairs}


def euclidean_core_distances(labels: np.ndarray, ids: list[int], cellsize=1.0) -> dict[tuple[int, int], float]:
    """Minimum cell-centre distance between every pair of cores (map units)."""
    from scipy.ndimage import distance_transform_edt

    dx, dy = cell_steps(cellsize)
    out = {}
    for k, a in enumerate(ids[:-1]):
        dist = distance_transform_edt(labels != a, sampling=(dy, dx))
        for b in ids[k + 1:]:
            out[(a, b)] = float(dist[labels == b].min())
    return out


def polygon_core_distances(geometries: dict[int, object]) -> dict[tuple[int, int], float]:
    """Edge-to-edge distance between core polygons (what Linkage Mapper's distance file holds)."""
    import shapely

    ids = sorted(geometries)
    return {(a, b): float(shapely.distance(geometries[a], geometries[b])) for k, a in enumerate(ids) for b in ids[k + 1:]}


# -- pruning --------------------------------------------------------------------------------
def knn_keep(links: list[Link], k: int) -> set[int]:
    """Ids of links among the ``k`` cheapest (by LCD) of either of their cores."""
    if k < 1:
        raise InputError(f"number of nearest neighbours must be at least 1, got {k}")
    by_core: dict[int, list[Link]] = {}
    for lk in links:
        by_core.setdefault(lk.core_a, []).append(lk)
        by_core.setdefault(lk.core_b, []).append(lk)
    keep: set[int] = set()
    for lst in by_core.values():
        lst.sort(key=lambda lk: (lk.lcd, lk.link_id))
        keep.update(lk.link_id for lk in lst[:k])
    return keep


def constellation_links(core_ids: list[int], kept: list[Link], candidates: list[Link]) -> list[int]:
    """Kruskal: cheapest candidate links that join groups the ``kept`` links leave apart."""
    parent = {c: c for c in core_ids}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for lk in kept:
        parent[find(lk.core_a)] = find(lk.core_b)
    added = []
    for lk in sorted(candidates, key=lambda lk: (lk.lcd, lk.link_id)):
        ra, rb = find(lk.core_a), find(lk.core_b)
        if ra != rb:
            parent[ra] = rb
            added.append(lk.link_id)
    return added


# -- corridors ------------------------------------------------------------------------------
def normalized_corridor(cwd_a: np.ndarray, cwd_b: np.ndarray, lcd: float) -> np.ndarray:
    """CWD_A + CWD_B - LCD (0 on the least-cost path, ``inf`` where either is unreachable)."""
    return cwd_a + cwd_b - lcd


def corridor_mosaic(cwds: dict[int, np.ndarray], links: list[Link], threshold: float | None = None,
                    valid: np.ndarray | None = None) -> np.ndarray:
    """Minimum over active links of the normalised corridors; NaN above ``threshold``/unreachable."""
    shape = next(iter(cwds.values())).shape
    out = np.full(shape, np.inf)
    for lk in links:
        if lk.active:
            np.minimum(out, normalized_corridor(cwds[lk.core_a], cwds[lk.core_b], lk.lcd), out=out)
    out = np.maximum(out, 0.0)  # rounding can leave -1e-12 on the path
    bad = ~np.isfinite(out)
    if threshold is not None:
        bad |= out > threshold
    if valid is not None:
        bad |= ~valid
    out[bad] = np.nan
    return out


def core_distances(surface: CostSurface, labels: np.ndarray, ids: list[int], method: str = "auto",
                   progress: Callable[[str, int, int], None] | None = None,
                   batch_bytes: float = 2e9) -> dict[int, np.ndarray]:
    """CWD of every core in ``ids``. The array (GPU) engine relaxes several cores per pass (a batch
    axis, bounded by ``batch_bytes`` of float64 distances); Dijkstra runs one core at a time."""
    report = progress or (lambda stage, done, total: None)
    method = pick_method(method)
    batch = 1 if method == "dijkstra" else max(1, min(len(ids), int(batch_bytes // (labels.size * 8))))
    out: dict[int, np.ndarray] = {}
    for k in range(0, len(ids), batch):
        chunk = ids[k:k + batch]
        src = np.stack([labels == c for c in chunk]) if len(chunk) > 1 else labels == chunk[0]
        d = surface.distance(src, method=method)
        for n, c in enumerate(chunk):
            out[c] = d[n] if len(chunk) > 1 else d
        report("cost-weighted distance", len(out), len(ids))
    return out


# -- the whole tool -------------------------------------------------------------------------
def linkage_pathways(
    resistance: np.ndarray,
    labels: np.ndarray,
    cellsize=1.0,
    options: LinkageOptions | None = None,
    *,
    euclidean_distances: dict[tuple[int, int], float] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> LinkageResult:
    """Run Linkage Pathways on ``resistance`` (NaN = nodata) and core ``labels`` (0 = none).

    ``euclidean_distances`` overrides the raster cell-centre distances between cores (e.g.
    polygon edge-to-edge distances). ``progress(stage, done, total)`` is called as work advances.
    """
    opts = options or LinkageOptions()
    if not (opts.cwd_adjacency or opts.euclidean_adjacency):
        raise InputError("choose at least one adjacency method (cost-weighted or Euclidean)")
    report = progress or (lambda stage, done, total: None)
    resistance = np.asarray(resistance, dtype=np.float64)
    labels = np.asarray(labels)
    if labels.shape != resistance.shape:
        raise InputError(f"core raster shape {labels.shape} differs from the resistance raster {resistance.shape}")
    valid = np.isfinite(resistance)
    labels = np.where(valid, labels, 0)
    ids = [int(i) for i in np.unique(labels) if i > 0]
    if len(ids) < 2:
        raise InputError(f"need at least two cores on valid resistance cells, found {len(ids)}")
    surface = CostSurface(resistance, cellsize)

    cwds = core_distances(surface, labels, ids, opts.method, report)

    calloc = cost_allocation(cwds) if opts.cwd_adjacency else None
    ealloc = euclidean_allocation(labels, cellsize) if opts.euclidean_adjacency else None
    cpairs = adjacent_pairs(calloc) if calloc is not None else set()
    epairs = adjacent_pairs(ealloc) if ealloc is not None else set()
    if euclidean_distances is None:
        euclidean_distances = euclidean_core_distances(labels, ids, cellsize)

    links: list[Link] = []
    for n, (a, b) in enumerate(sorted(cpairs | epairs)):
        kind = "+".join(name for name, s in (("cwd", cpairs), ("euclidean", epairs)) if (a, b) in s)
        lk = Link(link_id=n + 1, core_a=a, core_b=b, adjacency=kind, euclidean=euclidean_distances[(a, b)])
        lk.lcd, start = min_over(cwds[a], labels == b)
        if start is None:
            lk.status = "unreachable"
        else:
            lk.path = trace_least_cost_path(cwds[a], resistance, start, cellsize)
            lk.lcp_length = path_length(lk.path, cellsize)
            on = labels[lk.path[:, 0], lk.path[:, 1]]
            others = on[(on > 0) & (on != a) & (on != b)]
            lk.crossed_core = int(others[0]) if others.size else None
        links.append(lk)
        report("links", n + 1, len(cpairs | epairs))

    for lk in links:
        if lk.status != ACTIVE:
            continue
        if opts.max_euclidean is not None and lk.euclidean > opts.max_euclidean:
            lk.status = "max_euclidean"
        elif opts.max_cwd is not None and lk.lcd > opts.max_cwd:
            lk.status = "max_cwd"
        elif opts.drop_crossing and lk.crossed_core is not None:
            lk.status = "crosses_core"
    survivors = [lk for lk in links if lk.active]
    if opts.knn is not None:
        keep = knn_keep(survivors, opts.knn)
        for lk in survivors:
            if lk.link_id not in keep:
                lk.status = "knn_pruned"
        if opts.connect_constellations:
            kept = [lk for lk in survivors if lk.active]
            pruned = [lk for lk in survivors if not lk.active]
            for lid in constellation_links(ids, kept, pruned):
                lk = links[lid - 1]
                lk.status, lk.constellation = ACTIVE, True

    corridors = corridor_mosaic(cwds, links, opts.cwd_threshold, valid)
    report("corridors", 1, 1)
    return LinkageResult(ids, links, cwds, corridors, calloc, ealloc)


# -- link table -----------------------------------------------------------------------------
LINK_TABLE_COLUMNS = (
    "link_id", "core_a", "core_b", "adjacency", "status", "constellation", "crossed_core",
    "euclidean_distance", "cwd", "lcp_length", "cwd_to_euclidean", "cwd_to_path_length",
)


def link_table_text(links: list[Link]) -> str:
    """The link table as CSV text (one row per candidate link, with its status)."""
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(LINK_TABLE_COLUMNS)
    for lk in links:
        w.writerow([csv_cell(v, digits=6) for v in (
            lk.link_id, lk.core_a, lk.core_b, lk.adjacency, lk.status, lk.constellation, lk.crossed_core,
            lk.euclidean, lk.lcd, lk.lcp_length, lk.cwd_to_euclidean, lk.cwd_to_path_length,
        )])
    return buf.getvalue()


def read_link_table(path) -> list[Link]:
    """Links from a link table written by :func:`link_table_text` (paths are not stored)."""
    path = Path(path)
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as err:
        raise InputError(f"cannot read link table {path}: {err.strerror}") from None
    missing = [c for c in ("link_id", "core_a", "core_b", "status", "cwd") if rows and c not in rows[0]]
    if missing:
        raise InputError(f"link table {path} lacks column(s) {', '.join(missing)}")

    def num(s):
        return float(s) if s not in ("", None) else math.nan

    links = []
    for n, row in enumerate(rows, start=2):
        try:
            links.append(Link(
                link_id=int(row["link_id"]), core_a=int(row["core_a"]), core_b=int(row["core_b"]),
                adjacency=row.get("adjacency", ""), status=row["status"],
                constellation=row.get("constellation") == "true",
                crossed_core=int(row["crossed_core"]) if row.get("crossed_core") else None,
                euclidean=num(row.get("euclidean_distance")), lcd=num(row["cwd"]),
                lcp_length=num(row.get("lcp_length")),
            ))
        except (TypeError, ValueError):
            raise InputError(f"link table {path}, line {n}: bad value") from None
    return links
