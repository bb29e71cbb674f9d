"""Network-level indices of an ecological network (cores = nodes, corridors = edges).

* :func:`network_structure` — the planar-graph indices α (circuitry), β (edges per node) and
  γ (connectivity) from node and edge counts.
* :func:`pc_analysis` / :func:`pc_dpc` — the probability of connectivity PC and each node's
  importance dPC (Saura & Pascual-Hortal 2007; fractions of Saura & Rubio 2010), as computed by
  Conefor.
* :func:`gravity_matrix` — corridor importance by the gravity model (Kong et al. 2010).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import csgraph_from_dense, shortest_path

from gpucircuit.errors import InputError

__all__ = ["network_structure", "alpha_index", "beta_index", "gamma_index",
           "PCResult", "pc_analysis", "pc_dpc", "dpc_table", "gravity_matrix", "shortest_distances"]


# --------------------------------------------------------------------------- α, β, γ

def _counts(v, e) -> tuple[int, int]:
    for name, x in (("node count", v), ("edge count", e)):
        if isinstance(x, bool) or not float(x).is_integer():
            raise InputError(f"{name} must be a whole number, got {x!r}")
    v, e = int(v), int(e)
    if v < 3:
        raise InputError(f"network indices need at least 3 nodes, got {v}")
    if e < 0:
        raise InputError(f"edge count must be non-negative, got {e}")
    return v, e


def alpha_index(v, e) -> float:
    """α = (e − v + 1) / (2v − 5): observed circuits over the planar maximum (0 for a tree)."""
    v, e = _counts(v, e)
    return (e - v + 1) / (2 * v - 5)


def beta_index(v, e) -> float:
    """β = e / v: edges per node (< 1 for trees and disconnected networks)."""
    v, e = _counts(v, e)
    return e / v


def gamma_index(v, e) -> float:
    """γ = e / (3(v − 2)): edges over the planar maximum."""
    v, e = _counts(v, e)
    return e / (3 * (v - 2))


def network_structure(v, e) -> dict:
    """``{"nodes", "edges", "alpha", "beta", "gamma"}`` for ``v`` nodes and ``e`` edges.

    Needs ``v >= 3`` (the planar maxima ``2v − 5`` circuits and ``3(v − 2)`` edges are defined
    from 3 nodes).  For a connected planar network 0 ≤ α ≤ 1 and γ ≤ 1; α < 0 means the network
    is disconnected (fewer than ``v − 1`` edges) and α or γ above 1 means more edges than a
    planar graph can have (e.g. crossing corridors counted as separate edges).
    """
    v, e = _counts(v, e)
    return {"nodes": v, "edges": e, "alpha": alpha_index(v, e), "beta": beta_index(v, e),
            "gamma": gamma_index(v, e)}


# --------------------------------------------------------------------------- PC / dPC

@dataclass
class PCResult:
    """Result of :func:`pc_analysis` (arrays indexed like ``areas``).

    ``pc``: probability of connectivity; ``pc_num``: its numerator Σ a_i a_j p*_ij;
    ``dpc``: importance (%) of each node, ``dpc = dpc_intra + dpc_flux + dpc_connector``;
    ``pstar``: matrix of maximum-product probabilities (``pstar[i, i] = 1``);
    ``k``: the decay constant of ``p = exp(−k d)``.
    """

    pc: float
    pc_num: float
    dpc: np.ndarray
    dpc_intra: np.ndarray
    dpc_flux: np.ndarray
    dpc_connector: np.ndarray
    pstar: np.ndarray
    k: float


def pc_analysis(areas, distances, d_threshold, p_threshold, landscape_area) -> PCResult:
    """Probability of connectivity and node importances (Conefor's PC / dPC).

    ``areas``: node attributes a_i (habitat area; any unit, the same as ``landscape_area``).
    ``distances``: ``n × n`` distances between nodes (edge-to-edge Euclidean or least-cost,
    same unit as ``d_threshold``); the diagonal is ignored; ``inf`` or NaN = no direct link.
    The direct probability is ``p_ij = exp(−k d_ij)`` with ``k = −ln(p_threshold) / d_threshold``
    (e.g. 0.5 at 5,000 m).  ``p*_ij`` is the maximum product of probabilities over all paths;
    since ``−ln p = k d`` it is ``exp(−k · shortest-path distance)`` (Dijkstra).

    ``PC = Σ_i Σ_j a_i a_j p*_ij / A_L²`` (i = j included, ``p*_ii = 1``), ``A_L`` =
    ``landscape_area``.  ``dPC_i = 100 (PC − PC_i') / PC`` where ``PC_i'`` is PC of the network
    without node i (paths through i lost, A_L unchanged).  Fractions: ``dPCintra_i =
    100 a_i² / ΣΣ``, ``dPCflux_i = 100 Σ_{j≠i} a_i a_j (p*_ij + p*_ji) / ΣΣ``, ``dPCconnector_i
    = dPC_i − intra − flux`` (the loss of paths that pass through i).

    Cost: one all-pairs Dijkstra, plus one more for every node that lies on some other pair's
    best path (connector nodes), i.e. at most ``O(n⁴)`` for a dense distance matrix — fine for
    the tens to hundreds of cores of the seed studies.
    """
    a = np.asarray(areas, dtype=np.float64).ravel()
    n = a.size
    if n == 0:
        raise InputError("PC needs at least one node")
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise InputError("node areas must be finite and non-negative")
    d = np.array(distances, dtype=np.float64)
    if d.shape != (n, n):
        raise InputError(f"distance matrix has shape {d.shape}, expected ({n}, {n}) for {n} nodes")
    d[np.isnan(d)] = np.inf
    if np.any(d < 0):
        raise InputError("distances must be non-negative")
    try:
        dth, pth, AL = float(d_threshold), float(p_threshold), float(landscape_area)
    except (TypeError, ValueError):
        raise InputError("distance threshold, probability and landscape area must be numbers") from None
    if not (dth > 0 and math.isfinite(dth)):
        raise InputError(f"distance threshold must be a positive number, got {d_threshold!r}")
    if not 0 < pth < 1:
        raise InputError(f"probability at the distance threshold must be in (0, 1), got {p_threshold!r}")
    if not AL > 0 or not math.isfinite(AL):
        raise InputError(f"landscape area must be a positive number, got {landscape_area!r}")
    if a.sum() > AL * (1 + 1e-9):
        raise InputError(f"total node area {a.sum():g} exceeds the landscape area {AL:g} (units?)")
    k = -math.log(pth) / dth

    sp = shortest_distances(d)
    pstar = np.exp(-k * sp)
    num = float(a @ pstar @ a)
    if num == 0:
        raise InputError("PC is zero (all node areas are zero); dPC is undefined")

    dpc = np.empty(n)
    intra = 100.0 * a * a / num
    off = pstar.copy()
    np.fill_diagonal(off, 0.0)
    flux = 100.0 * a * (off @ a + off.T @ a) / num
    finite = np.isfinite(sp)
    for i in range(n):
        keep = np.arange(n) != i
        ak = a[keep]
        if n > 2 and _is_connector(sp, finite, i):
            sub = shortest_distances(d[np.ix_(keep, keep)])
            num_i = float(ak @ np.exp(-k * sub) @ ak)
        else:
            num_i = float(ak @ pstar[np.ix_(keep, keep)] @ ak)
        dpc[i] = 100.0 * (num - num_i) / num
    connector = dpc - intra - flux
    connector[np.abs(connector) < 1e-9 * max(1.0, float(np.abs(dpc).max()))] = 0.0
    return PCResult(pc=num / AL**2, pc_num=num, dpc=dpc, dpc_intra=intra, dpc_flux=flux,
                    dpc_connector=connector, pstar=pstar, k=k)


def pc_dpc(areas, distances, d_threshold, p_threshold, landscape_area) -> tuple[float, np.ndarray]:
    """``(PC, dPC array in %)``; see :func:`pc_analysis` for definitions and the fractions."""
    r = pc_analysis(areas, distances, d_threshold, p_threshold, landscape_area)
    return r.pc, r.dpc


def dpc_table(result: PCResult, node_ids=None) -> list[dict]:
    """Rows ``node, dpc, dpc_intra, dpc_flux, dpc_connector, rank`` sorted by dPC (descending)."""
    n = result.dpc.size
    ids = list(range(n)) if node_ids is None else list(node_ids)
    if len(ids) != n:
        raise InputError(f"{len(ids)} node ids for {n} nodes")
    order = np.argsort(-result.dpc, kind="stable")
    return [{"node": ids[i], "dpc": float(result.dpc[i]), "dpc_intra": float(result.dpc_intra[i]),
             "dpc_flux": float(result.dpc_flux[i]),
             "dpc_connector": float(result.dpc_connector[i]), "rank": r + 1}
            for r, i in enumerate(order)]


def shortest_distances(d: np.ndarray) -> np.ndarray:
    """All-pairs shortest-path lengths over a dense distance matrix (``inf`` = no direct link; the
    diagonal is ignored; zero-length links are kept): ``p*`` of PC is ``exp(−k ·`` this ``)``."""
    g = d.copy()
    np.fill_diagonal(g, np.inf)
    graph = csgraph_from_dense(g, null_value=np.inf)      # keeps zero-distance links
    return shortest_path(graph, method="D", directed=True)


def _is_connector(sp, finite, i) -> bool:
    """Is node i an intermediate of some best path between two other nodes?"""
    via = sp[:, i][:, None] + sp[i, :][None, :]
    hit = finite & (via <= sp * (1 + 1e-12) + 1e-300)
    hit[i, :] = False
    hit[:, i] = False
    np.fill_diagonal(hit, False)
    return bool(hit.any())


# --------------------------------------------------------------------------- gravity model

def gravity_matrix(areas, mean_resistance, links, threshold: float = 1.0,
                   node_ids=None) -> list[dict]:
    """Corridor importance by the gravity model, ranked by G (descending).

    ``G_ij = L_max² · ln(S_i) · ln(S_j) / (L_ij² · P_i · P_j)`` with ``S`` the source (core)
    area, ``P`` its mean resistance, ``L_ij`` the link's least-cost distance and ``L_max`` the
    largest ``L`` over ``links``.  ``links``: ``(i, j, lcd)`` tuples where ``i``/``j`` index the
    arrays (0-based), or are ids from ``node_ids`` (the ids of the arrays' entries, e.g. core
    ids).  Areas must exceed 1 in their unit (ln S ≤ 0 otherwise — use m² or ha, not km²).

    Rows: ``link`` (position in ``links``), ``i``, ``j``, ``lcd``, ``G``, ``class``
    (``"important"`` if G > ``threshold``, else ``"general"``) and ``rank`` (1 = largest G).
    """
    S = np.asarray(areas, dtype=np.float64).ravel()
    P = np.asarray(mean_resistance, dtype=np.float64).ravel()
    if S.size != P.size:
        raise InputError(f"{S.size} areas but {P.size} mean resistances")
    if not np.all(np.isfinite(S)) or np.any(S <= 1):
        raise InputError("gravity model: source areas must be > 1 (ln S <= 0 otherwise); use m² or ha")
    if not np.all(np.isfinite(P)) or np.any(P <= 0):
        raise InputError("gravity model: mean resistances must be positive and finite")
    index = {i: i for i in range(S.size)} if node_ids is None else {
        (x.item() if hasattr(x, "item") else x): t for t, x in enumerate(node_ids)}
    if len(index) != S.size:
        raise InputError(f"{len(index)} distinct node ids for {S.size} nodes")
    parsed = []
    for t, link in enumerate(links):
        try:
            i, j, lcd = link
        except (TypeError, ValueError):
            raise InputError(f"link {t} must be (i, j, lcd), got {link!r}") from None
        if i not in index or j not in index:
            raise InputError(f"link {t} refers to an unknown node ({i!r}, {j!r})")
        lcd = float(lcd)
        if not lcd > 0 or not math.isfinite(lcd):
            raise InputError(f"link {t} least-cost distance must be positive, got {lcd!r}")
        parsed.append((t, i, j, index[i], index[j], lcd))
    if not parsed:
        return []
    lmax = max(p[-1] for p in parsed)
    rows = []
    for t, i, j, a, b, lcd in parsed:
        g = lmax**2 * math.log(S[a]) * math.log(S[b]) / (lcd**2 * P[a] * P[b])
        rows.append({"link": t, "i": i, "j": j, "lcd": lcd, "G": g,
                     "class": "important" if g > threshold else "general"})
    rows.sort(key=lambda r: (-r["G"], r["link"]))
    for r, row in enumerate(rows):
        row["rank"] = r + 1
    return rows
