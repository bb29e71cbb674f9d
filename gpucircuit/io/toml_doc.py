"""TOML configuration files read once, with one-line errors."""
from __future__ import annotations

import math
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


class TomlTable:
    """One TOML table with typed getters whose errors say file, place and key (``where``: e.g.
    ``[grid]`` or ``[[factors]] #2``); ``allowed`` (when given) lists the keys it may hold."""

    def __init__(self, source: Path, where: str, data, allowed: tuple[str, ...] | None = None):
        self.source, self.where = Path(source), where
        if not isinstance(data, dict):
            raise self.error(f"must be a table, got {type(data).__name__}")
        self.data = data
        if allowed is not None:
            unknown = [k for k in data if k not in allowed]
            if unknown:
                raise self.error(f"unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}")

    def error(self, message: str, key: str | None = None) -> InputError:
        return InputError(f"{self.source}: {self.where}" + (f" key {key!r}" if key else "") + f": {message}")

    def has(self, key) -> bool:
        return key in self.data

    def number(self, key, default=None, positive=False, integer=False):
        v = self.data.get(key, default)
        if v is None:
            return None
        ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok or not math.isfinite(v):
            raise self.error(f"must be {'an integer' if integer else 'a finite number'}, got {v!r}", key)
        if positive and v <= 0:
            raise self.error(f"must be positive, got {v!r}", key)
        return int(v) if integer else float(v)

    def numbers(self, key, length=None, min_length=1):
        v = self.data.get(key)
        if v is None:
            return None
        if not isinstance(v, list) or any(isinstance(x, bool) or not isinstance(x, (int, float))
                                          or not math.isfinite(x) for x in v):
            raise self.error(f"must be a list of finite numbers, got {v!r}", key)
        if length is not None and len(v) != length:
            raise self.error(f"must hold {length} numbers, got {len(v)}", key)
        if len(v) < min_length:
            raise self.error(f"must hold at least {min_length} number(s)", key)
        return tuple(float(x) for x in v)

    def string(self, key, default=None, choices=None):
        """A non-empty string; a bare integer (``foreground = 41``) is taken as its text."""
        v = self.data.get(key, default)
        if v is None:
            return None
        if not isinstance(v, (str, int)) or isinstance(v, bool) or not str(v).strip():
            raise self.error(f"must be a non-empty string, got {v!r}", key)
        v = str(v)
        if choices is not None and v not in choices:
            raise self.error(f"{v!r} is not one of {', '.join(choices)}", key)
        return v

    def boolean(self, key, default=False) -> bool:
        v = self.data.get(key, default)
        if not isinstance(v, bool):
            raise self.error(f"must be true or false, got {v!r}", key)
        return v

    def path(self, key, required=False):
        """An existing file, relative paths against the TOML file's folder."""
        v = self.string(key)
        if v is None:
            if required:
                raise self.error("is missing", key)
            return None
        p = Path(v).expanduser()
        p = p if p.is_absolute() else self.source.parent / p
        if not p.exists():
            raise self.error(f"file not found: {p}", key)
        return p

    def paths(self, key) -> list[Path]:
        v = self.data.get(key, [])
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list):
            raise self.error(f"must be a path or a list of paths, got {v!r}", key)
        return [TomlTable(self.source, self.where, {key: x}).path(key) for x in v]

    def checked(self, fn, *args):
        """Call an option parser; its error (which names the command-line option) gets this file and table."""
        try:
            return fn(*args)
        except InputError as err:
            raise self.error(str(err)) from None
