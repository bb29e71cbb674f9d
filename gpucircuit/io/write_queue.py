"""Map files written in the background while the caller computes the next maps.

Making a current map is large NumPy operations (which release the GIL), but formatting an ASCII
grid is pure Python (which holds it): in a thread of this process it would slow the maps down
instead of running beside them. So a writer thread hands each file to a worker *process*
(``call``) and waits, GIL-free, for it: the maps and the formatting use different cores. At most
``depth`` maps wait, which bounds the memory they hold.

A failed write is re-raised in the caller at its next ``submit`` or at ``drain``; leaving the
``with`` block on an error drops the waiting writes and lets the running ones finish (a file is
complete or its temporary is removed, as for any write).
"""
from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ..errors import OutputError


# maps smaller than this are written by a thread of this process: formatting 2^18 cells takes
# ~0.1 s, too little to pay for starting processes and sending them the maps
PROCESS_MIN_CELLS = 1 << 18


def leave_signals_to_the_caller(prepare=None) -> None:
    """In a worker: Ctrl-C and SIGTERM reach the whole process group, but it is the caller that
    stops the job (one line, no traceback); a worker finishes the file it is writing and is then
    shut down by the caller. ``prepare()``, if given, runs next (while the caller loads and solves)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if prepare is not None:
        prepare()


class WriteQueue:
    """``submit(fn, *args)`` runs ``fn`` in one of ``workers`` writer threads; ``call(fn, *args)``
    (for those threads) runs it in one of ``processes`` worker processes, or here when there are none."""

    def __init__(self, depth: int = 2, workers: int = 1, processes: int = 0, prepare=None):
        self.depth = max(1, depth, workers)
        self.done: list = []  # results of the finished writes, in submission order
        self._pending: deque = deque()
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="gpucircuit-write")
        self._procs = None
        self._processes = processes
        if processes > 0:
            # fork where there is one: a spawned worker would re-run the caller's main script (a
            # script without a ``__main__`` guard would recurse). All workers are forked at the first
            # submit, here: the caller makes the queue before it loads anything large, and it runs no
            # writer thread yet.
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            self._procs = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context(method),
                                              initializer=leave_signals_to_the_caller, initargs=(prepare,))
            for _ in range(processes):
                self._procs.submit(int)

    @classmethod
    def for_maps(cls, maps: bool, cells: int, prepare=None) -> "WriteQueue":
        """The queue of a job's per-solve maps of ``cells`` cells: one writer thread and process per
        core (up to 4: the formatting then keeps up with the maps); one thread for small maps,
        where starting processes would cost more than it saves. ``prepare`` (picklable, no
        arguments) runs in each worker process as it starts: what the writes will need, made ready
        while the caller computes."""
        if not maps or cells < PROCESS_MIN_CELLS:
            return cls()
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        n = max(1, min(4, cores))
        return cls(depth=n + 1, workers=n, processes=n, prepare=prepare)

    @property
    def processes(self) -> int:
        """Worker processes (0: writes run in this process)."""
        return self._processes if self._procs is not None else 0

    def submit(self, fn, *args) -> None:
        """Run ``fn(*args)`` in a writer thread, after waiting while ``depth`` writes are queued."""
        while len(self._pending) >= self.depth:
            self.done.append(self._pending.popleft().result())
        self._pending.append(self._pool.submit(fn, *args))

    def call(self, fn, *args):
        """``fn(*args)`` (picklable) in a worker process, waiting for its result; here when the
        queue has no processes or is closed."""
        procs = self._procs
        if procs is None:
            return fn(*args)
        try:
            return procs.submit(fn, *args).result()
        except BrokenProcessPool:
            raise OutputError("the map writer process stopped unexpectedly (out of memory?)") from None

    def imap(self, fn, args_list):
        """``fn(*args)`` for each tuple of ``args_list``, spread over the worker processes and yielded
        in order (here when the queue has none or is closed). At most two tasks per process are in
        flight, which bounds the memory their results hold; when the caller stops early or fails,
        the ones not started are cancelled and the running ones waited for."""
        procs = self._procs
        if procs is None:
            for args in args_list:
                yield fn(*args)
            return
        window: deque = deque()
        try:
            for args in args_list:
                window.append(procs.submit(fn, *args))
                if len(window) >= 2 * self._processes:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
        except BrokenProcessPool:
            raise OutputError("the map writer process stopped unexpectedly (out of memory?)") from None
        finally:
            for fut in window:
                fut.cancel()
            # the tasks already running are waited for (a few, bounded by the window): a caller that
            # cleans up after them (part files) then finds everything they made
            wait(window)

    def drain(self) -> list:
        """Wait for every queued write; returns all results so far."""
        while self._pending:
            self.done.append(self._pending.popleft().result())
        return self.done

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        if kind is not None:
            for fut in self._pending:
                fut.cancel()
        try:
            if kind is None:
                self.drain()
        finally:
            self._pool.shutdown(wait=True)
            if self._procs is not None:
                procs, self._procs = self._procs, None
                procs.shutdown(wait=True)
        return False
