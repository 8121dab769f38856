"""Forwarding to the services over pooled HTTP connections (gateway.pool), with timeouts and retries for idempotent
requests. The services' OpenAPI documents are fetched with aiohttp (gateway.openapi)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import quote

import aiohttp
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from gateway.pool import IDLE_SECONDS, ConnectFailed, Connection, ConnectionDropped, Origin, Pool, ReadTimeout
from gateway.settings import Settings
from services import identity as internal
from services.errors import Problem
from services.identity import Identity
from services.observability import current_request_id

HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer", b"trailers",
     b"transfer-encoding", b"upgrade"}
)
#: Never forwarded from the client: credentials (replaced by the internal token), a client's own identity token or
#: citizen headers (only the verified identity travels), forwarding headers (set by the gateway), and Expect (the
#: gateway has the whole body before it calls the service).
DROP_REQUEST = HOP_BY_HOP | frozenset(
    {b"host", b"content-length", b"authorization", b"x-api-key", b"cookie", internal.HEADER.encode(),
     b"x-citizen-id", b"x-citizen-account", b"x-citizen-name", b"x-request-id", b"forwarded", b"x-forwarded-for",
     b"x-forwarded-host", b"x-forwarded-proto", b"x-forwarded-prefix", b"x-real-ip", b"expect"}
)
DROP_RESPONSE = HOP_BY_HOP | frozenset({b"server", b"date", b"x-request-id"})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Methods whose requests always state a length, even an empty one.
WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
#: Service endpoints that are not part of the public API.
OPERATIONS_PATHS = frozenset({"healthz", "readyz", "metrics", "openapi.json", "docs", "redoc", "docs/oauth2-redirect"})
#: Responses up to this size are read at once; bigger or unsized ones are streamed.
BUFFER_LIMIT = 1 << 20


class Upstreams:
    """The pool of connections to the services, and an aiohttp session for the gateway's other calls to them (the
    OpenAPI documents). Create it inside the running event loop (the app's lifespan) and close it on shutdown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bases = {family: url.rstrip("/") for family, url in settings.upstreams().items()}
        self.origins = {family: Origin(url) for family, url in self.bases.items()}
        # The connect timeout also bounds the wait for a free pooled connection; the upstream timeout bounds each
        # wait for the service (the answer's head, or the next bytes of its body), so a large answer may stream for
        # longer as long as it keeps coming.
        self.pool = Pool(limit=settings.upstream_max_connections, connect_timeout=settings.connect_timeout)
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=20, keepalive_timeout=IDLE_SECONDS, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=None, connect=settings.connect_timeout,
                                          sock_connect=settings.connect_timeout, sock_read=settings.upstream_timeout),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )
        self.secret = settings.internal_token_secret.get_secret_value()
        self.token_ttl = settings.internal_token_ttl
        self._tokens: dict[Identity, tuple[float, bytes]] = {}

    async def close(self) -> None:
        await self.pool.close()
        await self.session.close()

    def token(self, who: Identity) -> bytes:
        """The internal token for `who`, reused while more than half of its lifetime remains."""
        now = time.monotonic()
        cached = self._tokens.get(who)
        if cached is not None and cached[0] > now:
            return cached[1]
        token = internal.mint(who, self.secret, ttl=self.token_ttl).encode()
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        self._tokens[who] = (now + self.token_ttl / 2, token)
        return token

    def unavailable(self, family: str) -> Problem:
        return Problem(
            503,
            f"The {family} service is not reachable right now; retry later.",
            code="service-unavailable",
            headers={"Retry-After": str(self.settings.retry_after_seconds)},
            service=family,
        )

    def target(self, scope: Scope, family: str, rest: str) -> bytes:
        """Path and query for the service, as the client encoded them."""
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        prefix = f"/api/v1/{family}".encode()
        if raw_path.startswith(prefix):
            path = raw_path[len(prefix):] if self.settings.strip_prefix else raw_path
        else:  # the client encoded the prefix itself: rebuild the path from its decoded form
            decoded = ("/" + rest) if self.settings.strip_prefix else scope["path"]
            path = quote(decoded, safe="/:@!$&'()*+,;=~").encode()
        if not path.startswith(b"/"):
            path = b"/" + path
        query: bytes = scope.get("query_string", b"")
        return self.origins[family].prefix + path + (b"?" + query if query else b"")

    async def forward(self, scope: Scope, receive: Receive, send: Send, family: str, rest: str, who: Identity,
                      body: bytes) -> None:
        """Sends the request of `scope` (its body already read: `body`) to the service and relays the answer to
        `send`. Raises Problem only before anything was sent."""
        if rest.strip("/") in OPERATIONS_PATHS:
            raise Problem(404, "No such operation.", code="not-found")
        method: str = scope["method"]
        origin = self.origins[family]
        head = [b"%s %s HTTP/1.1\r\nhost: %s\r\n" % (method.encode(), self.target(scope, family, rest),
                                                      origin.host_header)]
        retryable = method in IDEMPOTENT
        for name, value in scope["headers"]:
            if name not in DROP_REQUEST:
                head.append(b"%s: %s\r\n" % (name, value))
                retryable = retryable or name == b"idempotency-key"
        client = scope.get("client")
        head.append(b"%s: %s\r\nx-request-id: %s\r\nx-forwarded-for: %s\r\nx-forwarded-prefix: /api/v1/%s\r\n" % (
            internal.HEADER.encode(), self.token(who), (current_request_id() or "").encode(),
            (client[0] if client else "").encode(), family.encode()))
        if body or method in WITH_BODY:
            head.append(b"content-length: %d\r\n" % len(body))
        head.append(b"\r\n")
        data = b"".join(head) + body
        timeout = self.settings.upstream_timeout
        attempts = 1 + (self.settings.upstream_retries if retryable else 0)
        for attempt in range(attempts):
            try:
                conn = await self.pool.exchange(origin, method.encode(), data, timeout)
                break
            except ConnectFailed as exc:  # refused, or no connection in time (including the wait for a pooled one)
                if attempt + 1 >= attempts:
                    raise self.unavailable(family) from exc
            except ReadTimeout as exc:
                raise Problem(504, f"The {family} service did not answer in time.", code="gateway-timeout",
                              service=family) from exc
            except ConnectionDropped as exc:  # e.g. a pooled connection to a restarted service
                if attempt + 1 >= attempts:
                    raise Problem(502, f"The {family} service broke the connection.", code="bad-gateway",
                                  service=family) from exc
                if exc.stale:  # closed by the service while idle: nothing reached it, try again at once
                    continue
            await asyncio.sleep(0.05 * (attempt + 1))
        await self._relay(conn, family, scope, receive, send)

    async def _relay(self, conn: Connection, family: str, scope: Scope, receive: Receive, send: Send) -> None:
        headers = []
        length = None
        for name, value in conn.headers:
            lower = name.lower()
            if lower not in DROP_RESPONSE:
                headers.append((name, value))
                if lower == b"content-length":
                    length = value
        timeout = self.settings.upstream_timeout
        if conn.complete or (length is not None and length.isdigit() and int(length) <= BUFFER_LIMIT):
            try:
                content = await conn.read(timeout)
            except ReadTimeout as exc:
                raise Problem(504, f"The {family} service did not answer in time.", code="gateway-timeout") from exc
            except ConnectionDropped as exc:
                raise Problem(502, f"The {family} service broke the connection.", code="bad-gateway") from exc
            finally:
                self.pool.release(conn)
            await send({"type": "http.response.start", "status": conn.status, "headers": headers})
            await send({"type": "http.response.body", "body": content})
            return
        # Starlette's streaming response stops reading from the service when the client goes away.
        streamed = StreamingResponse(self._stream(conn, timeout), status_code=conn.status)
        streamed.raw_headers = headers
        await streamed(scope, receive, send)

    async def _stream(self, conn: Connection, timeout: float) -> AsyncIterator[bytes]:
        """The body as it arrives; the connection goes back to the pool when it was read to the end, else it is
        closed (client gone, service broke off)."""
        try:
            async for chunk in conn.stream(timeout):
                yield chunk
        finally:
            self.pool.release(conn)
