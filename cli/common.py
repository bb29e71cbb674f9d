"""What every command shares: error reporting, the shared options, progress display."""
from __future__ import annotations

import functools
import inspect
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Optional

import typer

from . import options as opt


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
    from gpucircuit.solver.residual import RESIDUAL_LIMIT

    listed = ", ".join(f"{label} (residual {r:.1e})" for label, r in report.failed.items())
    what = "pairs" if report.scenario == "pairwise" else "points"
    typer.echo(f"warning: {len(report.failed)} solves failed the residual check (> {RESIDUAL_LIMIT:g}), "
               f"resistance -777 and no current for {what} {listed}; {report.advice}", err=True)
    raise typer.Exit(1)


QUIET_KEY = "gpucircuit.quiet"
_quiet: ContextVar[bool] = ContextVar("gpucircuit_cli_quiet", default=False)


def use_shared_options(ctx: typer.Context, backend: str | None, quiet: bool) -> None:
    """Apply --backend and --quiet, given before or after the command name (the later backend wins)."""
    choose_backend(backend)
    ctx.meta[QUIET_KEY] = ctx.meta.get(QUIET_KEY, False) or quiet  # meta is shared with the commands' contexts
    _quiet.set(ctx.meta[QUIET_KEY])


def is_quiet() -> bool:
    return _quiet.get()


def cli_command(fn):
    """A command function with the shared options (--backend, --quiet) and one-line errors.

    The options are appended to ``fn``'s signature, so typer offers them on every command
    while they stay defined once, in :mod:`.options`. A command's output folder (its ``out``
    parameter) is created and checked writable before any work, and removed again if the
    command fails while it is still empty.
    """
    sig = inspect.signature(fn, eval_str=True)
    keyword = inspect.Parameter.KEYWORD_ONLY
    shared = [inspect.Parameter("cli_context", keyword, annotation=typer.Context),
              inspect.Parameter("backend", keyword, default=opt.BACKEND, annotation=Optional[str]),
              inspect.Parameter("quiet", keyword, default=opt.QUIET, annotation=bool)]

    @functools.wraps(fn)
    def wrapper(*args, cli_context, backend=None, quiet=False, **kwargs):
        with errors_as_messages():
            use_shared_options(cli_context, backend, quiet)
            if kwargs.get("out") is None:
                return fn(*args, **kwargs)
            from gpucircuit.io.outputs import output_folder

            with output_folder(kwargs["out"]):
                return fn(*args, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=[*sig.parameters.values(), *shared])
    wrapper.__annotations__ = {p.name: p.annotation for p in wrapper.__signature__.parameters.values()}
    return wrapper


def say(message: str) -> None:
    """A command's summary on stdout, unless --quiet."""
    if not is_quiet():
        typer.echo(message)


@contextmanager
def job_progress():
    """Show the progress of the library calls inside the block (nothing with --quiet); yields the display."""
    from gpucircuit.progress import reporting

    from .display import make_display

    with reporting(make_display(is_quiet())) as shown:
        yield shown


@contextmanager
def analysis_progress():
    """``report(stage, done, total)`` for the Linkage Mapper analyses; the solves they run inside stay silent."""
    from gpucircuit.progress import reporting, stage_callback

    with job_progress() as shown, reporting(None):
        yield stage_callback(shown)
