"""What the commands show of a job's progress: live bars on a terminal, plain lines otherwise.

Both receive :class:`gpucircuit.progress.Progress` calls. Plain lines go to stderr (one when a
stage starts, one when a counted stage completes, and one per tenth of a long loop), so logs of
batch jobs say where a job is and how long it has left:

    [  3.2 s] solve 12/40 (ETA 18 s)

Lines of a job's first second are held back and shown only once it runs longer: a quick job, or
bad input found while loading, leaves stderr to the one line that matters.
"""
from __future__ import annotations

import sys
import time

from gpucircuit.progress import Progress

LINE_GAP_S = 1.0  # a long loop reports each tenth, but not more often than this
HOLD_S = 1.0  # plain lines wait this long after the start of a job before they are shown


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


class StageDisplay(Progress):
    """Keeps the current stage, its count and its times; subclasses decide how to show them."""

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self.t0 = clock()
        self.name: str | None = None
        self.total: int | None = None
        self.done = 0
        self.t_stage = self.t0

    def stage(self, name: str, total: int | None = None) -> None:
        if self.name is not None:
            self.finished()
        self.name, self.total, self.done, self.t_stage = name, total, 0, self.clock()
        self.started()

    def advance(self, n: int = 1) -> None:
        self.done += n
        self.advanced()

    def close(self) -> None:
        if self.name is not None:
            self.finished()
        self.name = None
        self.stopped()

    def count(self) -> str:
        return f"{self.done}/{self.total}" if self.total else ""

    def eta(self) -> float | None:
        """Seconds left in a counted stage at the rate so far (None before the first step)."""
        if not self.total or self.done <= 0:
            return None
        return (self.clock() - self.t_stage) / self.done * max(self.total - self.done, 0)

    def started(self) -> None:
        pass

    def advanced(self) -> None:
        pass

    def finished(self) -> None:
        pass

    def stopped(self) -> None:
        pass


class PlainDisplay(StageDisplay):
    """One line per stage on stderr (and per tenth of a long loop), for logs and pipes."""

    def __init__(self, stream=None, clock=time.perf_counter, hold_s: float | None = None):
        super().__init__(clock)
        self.stream = stream
        self.hold_s = HOLD_S if hold_s is None else hold_s
        self.held: list[str] = []
        self.t_line = self.t0
        self.tenth = 0

    def line(self, text: str) -> None:
        now = self.clock()
        self.held.append(f"[{now - self.t0:5.1f} s] {text}\n")
        self.t_line = now
        if now - self.t0 >= self.hold_s:
            stream = self.stream or sys.stderr  # looked up late: test runners swap sys.stderr
            stream.write("".join(self.held))
            stream.flush()
            self.held.clear()

    def stopped(self) -> None:
        self.held.clear()  # the job ended within the hold: nothing to follow

    def started(self) -> None:
        self.tenth = 0
        self.line(f"{self.name} {self.count()}".rstrip())

    def advanced(self) -> None:
        if not self.total:
            return
        if self.done >= self.total:
            if self.tenth < 10:
                self.tenth = 10
                self.line(f"{self.name} {self.count()}")
            return
        tenth = 10 * self.done // self.total
        if tenth > self.tenth and self.clock() - self.t_line >= LINE_GAP_S:
            self.tenth = tenth
            self.line(f"{self.name} {self.count()} (ETA {duration(self.eta())})")


class RichDisplay(StageDisplay):
    """Live rows on a terminal: one per stage, with its bar, count, elapsed time and ETA."""

    def __init__(self, console=None, clock=time.perf_counter):
        from rich.console import Console
        from rich.progress import (BarColumn, Progress as Bars, SpinnerColumn, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        super().__init__(clock)
        self.bars = Bars(SpinnerColumn(finished_text="[green]✓"), TextColumn("{task.description}"), BarColumn(),
                         TextColumn("{task.fields[count]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                         console=console or Console(stderr=True))
        self.task = None
        self.bars.start()

    def started(self) -> None:
        self.task = self.bars.add_task(self.name, total=self.total, count=self.count())

    def advanced(self) -> None:
        self.bars.update(self.task, completed=self.done, count=self.count())

    def finished(self) -> None:
        if not self.total:  # a stage without a count shows full once it is over
            self.bars.update(self.task, total=1, completed=1)
        self.bars.stop_task(self.task)

    def stopped(self) -> None:
        self.bars.stop()


def make_display(quiet: bool) -> Progress:
    """Nothing with ``quiet``; live bars when stderr is a terminal; plain lines otherwise."""
    if quiet:
        return Progress()
    return RichDisplay() if sys.stderr.isatty() else PlainDisplay()
