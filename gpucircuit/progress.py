"""How long jobs tell the caller where they are, without ever printing.

The library announces stages (``current().stage("solve", total=40)``) and steps within them
(``current().advance()``); the caller decides what to show by installing a :class:`Progress`
with :func:`reporting`. Nothing installed means nothing shown. The receiver is held in a context
variable so that modes and pipelines report without a progress argument on every function.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator


class Progress:
    """Receives a job's stages and steps; this base ignores them (subclasses display them).

    ``stage(name, total)`` starts a stage (``total`` steps, or None when unknown) and ends the
    previous one; ``advance(n)`` records ``n`` more steps done; ``close()`` ends the last stage.
    """

    def stage(self, name: str, total: int | None = None) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


_SILENT = Progress()
_current: ContextVar[Progress] = ContextVar("gpucircuit_progress", default=_SILENT)


def current() -> Progress:
    """The receiver installed by the innermost :func:`reporting` (a silent one by default)."""
    return _current.get()


@contextmanager
def reporting(progress: Progress | None) -> Iterator[Progress]:
    """Send the progress of everything run inside the block to ``progress`` (None: to nobody),
    and close it when the block ends, failed or not."""
    progress = progress or _SILENT
    token = _current.set(progress)
    try:
        yield progress
    finally:
        _current.reset(token)
        progress.close()


def stage_callback(progress: Progress) -> Callable[[str, int, int | None], None]:
    """Adapter for analyses that call ``report(stage, done, total)`` with running counts
    (``report(stage, 0, None)`` starts a stage without a count)."""
    state = {"stage": None, "done": 0}

    def report(stage: str, done: int, total: int | None) -> None:
        if stage != state["stage"]:
            progress.stage(stage, total)
            state["stage"], state["done"] = stage, 0
        if done > state["done"]:
            progress.advance(done - state["done"])
            state["done"] = done

    return report
