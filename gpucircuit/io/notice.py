"""Warnings the user must see: one line each on stderr, as the CLI prints errors."""
from __future__ import annotations

import sys


def warn_user(message: str) -> None:
    """Print ``warning: message`` as one line on stderr (newlines in ``message`` are flattened)."""
    print("warning: " + " ".join(message.split()), file=sys.stderr)
