"""Centrality Mapper (Linkage Mapper v3): current-flow centrality of cores and links.

The core network has one node per core and one edge per active link, with resistance = the
link's least-cost distance (``weight="cwd"``, Linkage Mapper's default) or its effective
resistance from Pinchpoint Mapper (``weight="eff_resist"``). Circuitscape's network pairwise
mode runs over all cores (1 A between every pair of connected cores, the lower id grounded);
summed over pairs,

* **link centrality** = cumulative branch current through the link's edge,
* **core centrality** = cumulative node current (Circuitscape's ``max(inflow, outflow)``; a core
  that is a pair's source or ground carries that pair's full 1 A).

Inactive links get NaN; cores in no active link get 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..graph import Network
from ..modes.network import pairwise
from ..solver.system import SolveOptions
from .corridors import Link

WEIGHTS = ("cwd", "eff_resist")


@dataclass
class CentralityResult:
    core_ids: list[int]
    core_centrality: dict[int, float]  # core id -> cumulative node current
    link_centrality: dict[int, float]  # link id -> cumulative branch current (NaN for inactive links)
    resistances: np.ndarray  # (k, k) effective resistances among cores on the network (-1 = apart)
    weight: str

    def link_columns(self) -> dict[str, dict[int, float]]:
        """New link-table column ``centrality`` by link id."""
        return {"centrality": dict(self.link_centrality)}


def link_weights(links: list[Link], weight: str = "cwd", eff_resist: dict[int, float] | None = None) -> dict[int, float]:
    """Edge resistance of every active link (link id -> value)."""
    if weight not in WEIGHTS:
        raise InputError(f"centrality weight must be one of {', '.join(WEIGHTS)}, not {weight!r}")
    out = {}
    for lk in links:
        if not lk.active:
            continue
        if weight == "cwd":
            w = lk.lcd
        else:
            w = (eff_resist or {}).get(lk.link_id, math.nan)
            if not math.isfinite(w):
                raise InputError(f"link {lk.link_id} has no effective resistance; run Pinchpoint Mapper (adjacent "
                                 f"pairs) first or use the CWD weight")
        if not (w > 0 and math.isfinite(w)):
            raise InputError(f"link {lk.link_id} has resistance {w:g}; edge resistances must be positive and finite")
        out[lk.link_id] = float(w)
    return out


def centrality(links: list[Link], core_ids=None, weight: str = "cwd", eff_resist: dict[int, float] | None = None,
               options: SolveOptions | None = None) -> CentralityResult:
    """Current-flow centrality of cores and active links (Circuitscape network pairwise over all cores).

    ``core_ids`` defaults to the cores named by any link; cores without an active link are
    isolated nodes (centrality 0).
    """
    w = link_weights(links, weight, eff_resist)
    if not w:
        raise InputError("no active links: nothing for Centrality Mapper to compute")
    active = [lk for lk in links if lk.link_id in w]
    pairs = [(min(lk.core_a, lk.core_b), max(lk.core_a, lk.core_b)) for lk in active]
    if len(set(pairs)) < len(pairs):
        dup = next(p for p in pairs if pairs.count(p) > 1)
        raise InputError(f"more than one active link joins cores {dup[0]} and {dup[1]}")
    ids = sorted({int(c) for c in (core_ids if core_ids is not None else ())}
                 | {c for lk in links for c in (lk.core_a, lk.core_b)})
    u = np.array([lk.core_a for lk in active])
    v = np.array([lk.core_b for lk in active])
    g = np.array([1.0 / w[lk.link_id] for lk in active])
    net = Network.from_edges(u, v, g, ids=ids)
    res = pairwise(net, ids, options or SolveOptions(method="direct"))
    # branch currents are ordered like net.a / net.b (index pairs, a < b); one link per core pair
    edge = {(int(net.ids[a]), int(net.ids[b])): k for k, (a, b) in enumerate(zip(net.a, net.b))}
    link_c = {}
    for lk in links:
        key = (min(lk.core_a, lk.core_b), max(lk.core_a, lk.core_b))
        link_c[lk.link_id] = float(res.cum_branch[edge[key]]) if lk.link_id in w else math.nan
    core_c = {int(i): float(c) for i, c in zip(net.ids, res.cum_node)}
    return CentralityResult(ids, core_c, link_c, res.resistances, weight)
