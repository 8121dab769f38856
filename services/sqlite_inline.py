"""SQLite for the async engine without a thread hop per call.

aiosqlite runs every call (cursor, execute, fetch, close, commit) on a worker thread of its own and hands the result
back through the event loop. For SQLite that hop costs far more than the work: measured here, a session with one
primary-key SELECT took 755 µs of CPU through aiosqlite against 228 µs through the same SQLAlchemy code without the
thread, and the simulated quarter spent most of its database time switching threads. SQLite's statements are
in-process calls of microseconds to a few milliseconds, so this connection runs them at once on the event loop's
thread, keeping aiosqlite's API, which SQLAlchemy's `sqlite+aiosqlite` dialect drives.

What this changes: a slow statement (a report over a large period, the day's first deadline sweep) holds the event
loop for its duration instead of one thread. Each service's engine has a single connection (services/db.py), so no
two statements of one process ever wait on each other's lock; another process writing the same file makes this one
wait up to `busy_timeout`, as before, but with its loop held. PostgreSQL, the production database, is not affected.
"""

from __future__ import annotations

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

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunAtOnce()  # type: ignore[assignment]

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        return self._connect().__await__()  # no worker thread to start


def connector(database: str, **connect_args: Any) -> Callable[[], InlineConnection]:
    """An `async_creator` for `create_async_engine("sqlite+aiosqlite://…")`."""

    def create() -> InlineConnection:
        # check_same_thread: the pool may close a connection from the garbage collector's thread at shutdown.
        return InlineConnection(lambda: sqlite3.connect(database, check_same_thread=False, **connect_args))

    return create
