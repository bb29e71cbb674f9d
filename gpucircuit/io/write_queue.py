"""Map files written by one background thread while the caller computes the next maps.

Formatting an ASCII grid is pure Python (it holds the GIL), while making a current map is large
NumPy operations (which release it), so per-pair / per-point maps are written at the same time as
the next ones are made, not after. At most ``depth`` maps wait, which bounds the memory they hold.
A failed write is re-raised in the caller at its next ``submit`` or at ``drain``; leaving the
``with`` block on an error drops the waiting writes and lets the running one finish (its file is
complete or its temporary is removed, as for any write).
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor


class WriteQueue:
    def __init__(self, depth: int = 2):
        self.depth = max(1, depth)
        self.done: list = []  # results of the finished writes, in submission order
        self._pending: deque = deque()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gpucircuit-write")

    def submit(self, fn, *args) -> None:
        """Run ``fn(*args)`` in the writer thread, after waiting while ``depth`` writes are queued."""
        while len(self._pending) >= self.depth:
            self.done.append(self._pending.popleft().result())
        self._pending.append(self._pool.submit(fn, *args))

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
        return False
