"""What every command shares: error reporting, backend choice, progress display."""
from __future__ import annotations

import functools
import sys
from contextlib import contextmanager

import typer


def choose_backend(choice: str | None) -> None:
    if choice:
        with errors_as_messages():
            from gpucircuit.backend import set_backend

            set_backend(choice)


class _Terminated(BaseException):
    """SIGTERM as an exception, so that ``finally`` blocks remove half-written temporaries."""


def _raise_terminated(signum, frame):
    raise _Terminated


@contextmanager
def _sigterm_as_exception():
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def errors_as_messages():
    """Turn expected failures into one line on stderr and exit status 1 (never a traceback).
    Ctrl-C and SIGTERM stop the command through its ``finally`` blocks (exit 130 / 143)."""
    from gpucircuit.errors import GpuCircuitError

    try:
        with _sigterm_as_exception():
            yield
    except GpuCircuitError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    except MemoryError:
        typer.echo("error: out of memory: the problem does not fit; try --backend cpu or a smaller region",
                   err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None
    except _Terminated:
        typer.echo("terminated", err=True)
        raise typer.Exit(143) from None
    except Exception as err:  # GPU out-of-memory comes from CuPy with its own type
        if type(err).__name__ == "OutOfMemoryError":
            typer.echo(f"error: out of GPU memory ({err}); try --backend cpu or a smaller region", err=True)
            raise typer.Exit(1) from None
        raise


def exit_if_solves_failed(report) -> None:
    """After a job has written everything: one warning line for the solves that failed their residual
    check (their resistances are -777, as in Circuitscape), then exit status 1."""
    if not report.failed:
        return
    from gpucircuit.solver.system import RESIDUAL_LIMIT

    listed = ", ".join(f"{label} (residual {r:.1e})" for label, r in report.failed.items())
    what = "pairs" if report.scenario == "pairwise" else "points"
    typer.echo(f"warning: {len(report.failed)} solves failed the residual check (> {RESIDUAL_LIMIT:g}), "
               f"resistance -777 and no current for {what} {listed}; {report.advice}", err=True)
    raise typer.Exit(1)


def user_errors(fn):
    """Decorator form of :func:`errors_as_messages` for command functions."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with errors_as_messages():
            return fn(*args, **kwargs)

    return wrapper


@contextmanager
def progress_counter(description: str, total: int | None = None):
    """A rich progress bar on stderr; yields ``advance(label)``. Quiet when stderr is not a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True, disable=not sys.stderr.isatty()) as prog:
        task = prog.add_task(description, total=total)

        def advance(label: str = ""):
            prog.update(task, advance=1, description=f"{description} {label}".strip())

        yield advance


WORKERS_HELP = "Spread independent solves over a local dask cluster of this many workers."
SCHEDULER_HELP = "Address of a running dask scheduler to send solves to (e.g. tcp://10.0.0.5:8786)."
GPUS_HELP = "With --workers: one worker per GPU (dask-cuda LocalCUDACluster)."
