"""What a job returns (JobReport) and how it checks the input files its configuration names."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError


@dataclass
class JobReport:
    scenario: str
    outputs: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    resistances: np.ndarray | None = None
    ids: list[int] | None = None
    stats: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)  # seconds: load, setup, solve, write, total
    cells: int | None = None  # raster cells (rows x columns); None for networks
    failed: dict = field(default_factory=dict)  # label -> residual of solves that failed (resistance -777)
    advice: str = ""  # what to try when some solves failed


def need_file(path: Path | None, what: str, key: str) -> Path:
    """``path``, checked set and present; the error names the configuration ``key``."""
    if path is None:
        raise InputError(f"the {what} is not set: give {key} in the configuration")
    if not Path(path).exists():
        raise InputError(f"{what} not found: {path} ({key})")
    return Path(path)
