"""Pooled HTTP/1.1 connections from the gateway to the services: asyncio protocols with httptools parsing the answers
(the C parser, llhttp, that uvicorn uses for the requests).

Why not aiohttp's client on this path: every proxied request goes through here, and aiohttp's client machinery
(request and response objects, header multidicts, timers, tracing hooks) cost about 75 µs of CPU per request on the
benchmark machine, a quarter of the gateway's whole budget; relaying bytes needs none of it. What stays the same:
one pool for all services with a cap on connections (waiting for a free one counts against the connect timeout),
a timeout on every wait for the service, answers relayed byte for byte (chunked answers are de-chunked here and
re-chunked by uvicorn), idle connections reused.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httptools

#: Idle connections are dropped after this long, sooner than the services' own keep-alive timeout (uvicorn's
#: default is 5 s), so the gateway never sends a request on a connection the service is closing.
IDLE_SECONDS = 4.0
#: Reading from a service pauses while this much of a streamed answer waits for the client.
STREAM_HIGH_WATER = 1 << 18


class UpstreamError(Exception):
    pass


class ConnectFailed(UpstreamError):
    """Refused, unreachable, or no connection (new or pooled) within the connect timeout: the service is down."""


class ConnectionDropped(UpstreamError):
    """The connection broke (or the service answered with something that is not HTTP) before the answer was in."""

    def __init__(self, message: str, *, stale: bool = False) -> None:
        super().__init__(message)
        #: A reused connection that broke before the service sent a byte: the service closed it while idle.
        self.stale = stale


class ReadTimeout(UpstreamError):
    """The service did not send (the next part of) its answer in time."""


class Origin:
    """Where one service listens: scheme, host, port, Host header and path prefix of its base URL."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream URL must be http(s)://host[:port][/prefix], not {base_url!r}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.host_header = parts.netloc.rpartition("@")[2].encode("ascii")
        self.prefix = parts.path.rstrip("/").encode()
        self.key = (parts.scheme, self.host, self.port)


class Connection(asyncio.Protocol):
    """One connection to a service, carrying one exchange at a time."""

    def __init__(self, pool: Pool, origin: Origin) -> None:
        self.pool = pool
        self.origin = origin
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reused = False
        self.idle_since = 0.0
        self._parser: httptools.HttpResponseParser | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._reset(b"GET")

    def _reset(self, method: bytes) -> None:
        self.method = method
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.received = False
        self.error: UpstreamError | None = None
        self._informational = False
        self._until_close = False
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._streaming = False
        self._paused = False

    # --- asyncio protocol -----------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio.Transport

    def data_received(self, data: bytes) -> None:
        self.received = True
        if self._parser is None or self.complete:  # nothing asked for: the connection is not usable any more
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except Exception as exc:  # httptools.HttpParserError, or an upgrade the gateway does not relay
            self._fail(ConnectionDropped(f"not a valid HTTP answer: {exc!r}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            self.pool._closed(self)
        if self._parser is not None and not self.complete:
            if self.head_done and self._until_close:
                self._finish()
            else:
                self._fail(ConnectionDropped("the service closed the connection",
                                             stale=self.reused and not self.received))

    # --- httptools callbacks --------------------------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            self._informational = True
            self.headers = []
            return
        self.status = status
        self.keep_alive = self._parser.should_keep_alive()
        self.head_done = True
        sized = any(n.lower() in (b"content-length", b"transfer-encoding") for n, _ in self.headers)
        no_body = self.method == b"HEAD" or status in (204, 304)
        self._until_close = not sized and not no_body
        if no_body:
            self._finish()
        else:
            self._wake()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._streaming and self._buffered > STREAM_HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self._finish()

    # --- the exchange ---------------------------------------------------------------------------------------------

    def send(self, method: bytes, data: bytes) -> None:
        assert self.transport is not None
        self._reset(method)
        self._parser = httptools.HttpResponseParser(self)
        self.transport.write(data)

    async def head(self, timeout: float) -> None:
        while not self.head_done:
            await self._wait(timeout)

    async def read(self, timeout: float) -> bytes:
        """The whole body."""
        while not self.complete:
            await self._wait(timeout)
        body = b"".join(self._chunks)
        self._chunks.clear()
        return body

    async def stream(self, timeout: float) -> AsyncIterator[bytes]:
        """The body as it arrives; reading from the service pauses while too much of it waits here."""
        self._streaming = True
        while True:
            while self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                yield chunk
            if self._paused and self.transport is not None:
                self._paused = False
                self.transport.resume_reading()
            if self.complete:
                return
            await self._wait(timeout)

    async def _wait(self, timeout: float) -> None:
        if self.error is not None:
            raise self.error
        waiter = self._waiter = self.loop.create_future()
        timer = self.loop.call_later(timeout, self._time_out, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _time_out(self, waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            waiter.set_exception(ReadTimeout("the service did not answer in time"))

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _finish(self) -> None:
        self.complete = True
        self._wake()

    def _fail(self, error: UpstreamError) -> None:
        self.error = error
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if not self.closed:
            self.closed = True
            self.pool._closed(self)


class Pool:
    """Connections to every service together, at most `limit` open; idle ones are reused newest first."""

    def __init__(self, *, limit: int, connect_timeout: float) -> None:
        self.limit = limit
        self.connect_timeout = connect_timeout
        self.open = 0
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._tls: ssl.SSLContext | None = None

    async def exchange(self, origin: Origin, method: bytes, data: bytes, timeout: float) -> Connection:
        """Sends `data` (request head and body) and returns the connection once the answer's head is in. Give the
        connection back with `release` when done with it."""
        conn = await self._acquire(origin)
        try:
            conn.send(method, data)
            await conn.head(timeout)
        except BaseException:
            conn.close()
            raise
        return conn

    def release(self, conn: Connection) -> None:
        """Back to the pool if the answer was read to its end and the service keeps the connection open."""
        if conn.closed:
            return
        if not (conn.complete and conn.keep_alive) or conn.transport is None or conn.transport.is_closing():
            conn.close()
            return
        conn._parser = None
        conn.reused = True
        conn.idle_since = conn.loop.time()
        self._idle.setdefault(conn.origin.key, []).append(conn)
        self._wake()

    async def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()

    async def _acquire(self, origin: Origin) -> Connection:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout
        while True:
            conn = self._take_idle(origin, loop.time())
            if conn is not None:
                return conn
            if self.open < self.limit or self._close_other_idle():
                break
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except TimeoutError as exc:
                raise ConnectFailed("no free connection in time") from exc
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        self.open += 1
        try:
            async with asyncio.timeout_at(deadline):
                _, conn = await loop.create_connection(
                    lambda: Connection(self, origin), origin.host, origin.port,
                    ssl=self._tls_context() if origin.tls else None,
                )
        except (OSError, TimeoutError) as exc:
            self.open -= 1
            self._wake()
            raise ConnectFailed(f"cannot connect: {exc!r}") from exc
        return conn

    def _take_idle(self, origin: Origin, now: float) -> Connection | None:
        idle = self._idle.get(origin.key)
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < IDLE_SECONDS:
                return conn
            conn.close()
        return None

    def _close_other_idle(self) -> bool:
        """Frees a slot held by an idle connection (to any service) when all are taken."""
        for idle in self._idle.values():
            while idle:
                idle.pop(0).close()
                return True
        return False

    def _closed(self, conn: Connection) -> None:
        self.open -= 1
        idle = self._idle.get(conn.origin.key)
        if idle and conn in idle:
            idle.remove(conn)
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls
