"""Compare a gpucircuit run of a Circuitscape INI with Circuitscape's reference outputs.

Upstream's rules: resistances element-wise |ours - ref| <= 1e-3; ASCII grids compared after
the 6 header lines with sum((ours - ref)^2) < 1e-6; network text files row-sorted (keyed by
node ids, a missing entry counting as 0), same rule. Every file we write must have a reference.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from shared_data import CS_DIR  # noqa: E402


def find_cases():
    """(name, ini path) for every Circuitscape INI in the conformance inputs."""
    return sorted((p.stem, p) for p in (CS_DIR / "input").rglob("*.ini"))


def read_grid_values(path: Path) -> np.ndarray:
    lines = path.read_text().splitlines()[6:]
    return np.array([[float(v) for v in ln.split()] for ln in lines if ln.strip()])


def read_table(path: Path) -> dict[tuple, float]:
    """Network text output: rows keyed by their leading id columns."""
    out = {}
    for ln in path.read_text().splitlines():
        parts = ln.split()
        if not parts:
            continue
        vals = [float(v) for v in parts]
        out[tuple(vals[:-1])] = vals[-1]
    return out


def compare_file(ours: Path, ref: Path) -> str | None:
    """None if they agree, else a message."""
    name = ours.name
    if name.endswith("_resistances.out") or name.endswith("_resistances_3columns.out"):
        a = np.loadtxt(ours, ndmin=2)
        b = np.loadtxt(ref, ndmin=2)
        if a.shape != b.shape:
            return f"{name}: shape {a.shape} != reference {b.shape}"
        err = np.abs(a - b).max()
        return None if err <= 1e-3 else f"{name}: max |diff| {err:.3g} > 1e-3"
    if name.endswith(".asc"):
        a, b = read_grid_values(ours), read_grid_values(ref)
        if a.shape != b.shape:
            return f"{name}: shape {a.shape} != reference {b.shape}"
        err = float(((a - b) ** 2).sum())
        return None if err < 1e-6 else f"{name}: sum of squared differences {err:.3g} >= 1e-6"
    if name.endswith(".txt"):
        a, b = read_table(ours), read_table(ref)
        keys = set(a) | set(b)
        err = sum((a.get(k, 0.0) - b.get(k, 0.0)) ** 2 for k in keys)
        return None if err < 1e-6 else f"{name}: sum of squared differences {err:.3g} >= 1e-6"
    return f"{name}: unexpected output type"
