"""The tables the studies publish that the analysis modules do not already give (rows = lists of dicts).

Pure functions of arrays and rows: sources with their share of the study area and dPC rank, the
corridor summary, per-class tables of a classified map, breakpoints by line type and the width
sweep as a share of the study area.
"""
from __future__ import annotations

import math

import numpy as np

from ..analysis.patches import label_patches, patch_table

GRAVITY_UNITS = ("G is dimensionless: S_i in m², P_i in resistance units, L_ij and L_max in cost-distance "
                 "units (areas are also given in km²)")


def source_rows(cores: list[dict], dpc_rows: list[dict], study_km2: float) -> list[dict]:
    """Core rows plus ``share_of_study_pct`` (core area / study area) and ``dpc``, ``dpc_rank`` (1 = most important)."""
    by_id = {r["core_id"]: r for r in dpc_rows}
    return [{**c, "share_of_study_pct": 100.0 * c["area_km2"] / study_km2,
             "dpc": by_id[c["core_id"]]["dpc"], "dpc_rank": by_id[c["core_id"]]["rank"]} for c in cores]


def corridor_rows(importance: list[dict], cores: list[dict]) -> list[dict]:
    """Importance rows with both cores' areas in km²."""
    area = {c["core_id"]: c["area_km2"] for c in cores}
    return [{**r, "area_a_km2": area[r["core_a"]], "area_b_km2": area[r["core_b"]]} for r in importance]


def corridor_summary(importance: list[dict], threshold: float) -> list[dict]:
    """One row: count, total / mean / min / max least-cost-path length (km), important count and share (%)."""
    km = [r["lcp_length_km"] for r in importance]
    n = len(km)
    important = sum(r["class"] == "important" for r in importance)
    return [{"corridors": n, "total_length_km": float(sum(km)),
             "mean_length_km": float(np.mean(km)) if n else math.nan,
             "min_length_km": float(min(km)) if n else math.nan, "max_length_km": float(max(km)) if n else math.nan,
             "gravity_threshold": threshold, "important": important,
             "important_share_pct": 100.0 * important / n if n else math.nan, "gravity_units": GRAVITY_UNITS}]


def class_rows(classes, edges, corridor, cell_area_m2: float, cellsize) -> list[dict]:
    """Per class of a classified map: value range, cells, km², 8-connected patches, Σ patch length
    (km, each patch's largest extent) and share of the corridor area (%)."""
    classes = np.asarray(classes)
    corridor_cells = int(np.count_nonzero(corridor))
    rows = []
    for c in range(1, len(edges)):
        mask = classes == c
        ids, n = label_patches(mask)
        patches = patch_table(ids, cellsize) if n else []
        cells = int(mask.sum())
        rows.append({"class": c, "lower": float(edges[c - 1]), "upper": float(edges[c]), "cells": cells,
                     "area_km2": cells * cell_area_m2 / 1e6, "patches": n,
                     "length_km": float(sum(p["max_length_km"] for p in patches)),
                     "share_of_corridors_pct": 100.0 * cells / corridor_cells if corridor_cells else math.nan})
    return rows


def breakpoints_by_type(rows: list[dict], field: str | None) -> list[dict]:
    """Breakpoint counts per line file and (with ``field``) per value of that line attribute."""
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (r["lines"], "" if field is None else str(r.get(field, "")))
        counts[key] = counts.get(key, 0) + 1
    return [{"lines": k[0], "type": k[1], "breakpoints": v} for k, v in sorted(counts.items())]


def sweep_rows(rows: list[dict], study_km2: float, used_cutoff: float | None) -> list[dict]:
    """Width-sweep rows plus ``corridor_share_pct`` (corridor area / study area) and ``used_for_maps``."""
    return [{**r, "corridor_share_pct": 100.0 * r["corridor_area_km2"] / study_km2,
             "used_for_maps": used_cutoff is not None and math.isclose(r["cutoff"], used_cutoff)} for r in rows]
