"""INI files as Circuitscape and Omniscape read them: ``key = value`` lines; ``[sections]``,
``;``/``#`` comments and lines without ``=`` ignored."""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError


def read_key_values(path, lower_keys: bool) -> dict[str, str]:
    """Key -> value (both stripped); ``lower_keys`` as Circuitscape does (Omniscape keeps the case)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"configuration file not found: {path}")
    out: dict[str, str] = {}
    for raw in path.read_text(errors="replace").splitlines():
        line = raw.strip()
        if not line or line[0] in ";#[" or "=" not in line:
            continue
        key, value = line.split("=", 1)
        out[key.strip().lower() if lower_keys else key.strip()] = value.strip()
    return out
