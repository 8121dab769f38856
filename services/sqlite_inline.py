"""SQLite for the async engine without a thread hop per call.

aiosqlite runs every call (cursor, execute, fetch, close, commit) on a worker thread of its own and hands the result
back through the event loop. For SQLite that hop costs far more than the work: measured here, a session with one
primary-key SELECT took 755 µs of CPU through aiosqlite against 228 µs through the same SQLAlchemy code without the
thread, and the simulated quarter spent most of its database time switching threads. SQLite's statements are
in-process calls of microseconds to a few milliseconds, so this connection runs them at once on the event loop's
thread, keeping aiosqlite's API, which SQLAlchemy's `sqlite+aiosqlite` dialect drives.

What this changes: a slow statement (a report over a large period, the day's first deadline sweep) holds the event
loop for its duration instead of one thread. Waiting for another connection's write lock must not hold it: SQLite's
own busy handler would sleep on the loop's thread, and when the holder is a connection of the same process (two
engines on one file, as two sweepers in a test) it could never finish. So SQLite answers "busy" at once here, and
the call is tried again after an asynchronous sleep until `busy_timeout` has passed. PostgreSQL, the production
database, is not affected.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Generator
from typing import Any

import aiosqlite


class _RunAtOnce:
    """Stands in for aiosqlite's queue to its worker thread: each (future, function) put is run right away.

    SQLAlchemy's dialect puts work on this queue itself (its isolation-level setter), and aiosqlite's `stop()` does.
    """

    def put_nowait(self, item: tuple[Any, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the waiter, as aiosqlite's thread does
            if future is not None and not future.done():
                future.set_exception(exc)
        else:
            if future is not None and not future.done():
                future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run on the caller's thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], *, busy_timeout: float) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunAtOnce()  # type: ignore[assignment]
        self.busy_timeout = busy_timeout

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        deadline: float | None = None
        delay = 0.001
        while True:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise
                # Another connection holds the lock: nothing was done; wait without holding the event loop.
                now = asyncio.get_running_loop().time()
                if deadline is None:
                    deadline = now + self.busy_timeout
                elif now >= deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        return self._connect().__await__()  # no worker thread to start


def _busy(exc: sqlite3.OperationalError) -> bool:
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY


def connector(database: str, *, busy_timeout: float) -> Callable[[], InlineConnection]:
    """An `async_creator` for `create_async_engine("sqlite+aiosqlite://…")`; waits up to `busy_timeout` seconds for
    another connection's lock (SQLite's own busy timeout is 0 on these connections)."""

    def create() -> InlineConnection:
        # check_same_thread: the pool may close a connection from the garbage collector's thread at shutdown.
        return InlineConnection(
            lambda: sqlite3.connect(database, timeout=0, check_same_thread=False), busy_timeout=busy_timeout
        )

    return create
