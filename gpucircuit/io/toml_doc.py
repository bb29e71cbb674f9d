"""TOML configuration files read once, with one-line errors."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def read_toml(path, what: str) -> dict:
    """The document of the TOML file ``path`` (``what`` names it in errors: "resistance config")."""
    source = Path(path)
    if not source.is_file():
        raise InputError(f"{what} not found: {source}")
    try:
        with open(source, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{source}: not valid TOML: {err}") from None
    except UnicodeDecodeError:
        raise InputError(f"{source}: not valid TOML: not UTF-8 text") from None
