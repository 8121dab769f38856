"""Forwarding to the services over pooled HTTP connections (aiohttp), with timeouts and retries for idempotent
requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import quote

import aiohttp
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send
from yarl import URL

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
#: citizen headers (only the verified identity travels), forwarding headers (set by the gateway).
DROP_REQUEST = HOP_BY_HOP | frozenset(
    {b"host", b"content-length", b"authorization", b"x-api-key", b"cookie", internal.HEADER.encode(),
     b"x-citizen-id", b"x-citizen-account", b"x-citizen-name", b"x-request-id", b"forwarded", b"x-forwarded-for",
     b"x-forwarded-host", b"x-forwarded-proto", b"x-forwarded-prefix", b"x-real-ip"}
)
DROP_RESPONSE = HOP_BY_HOP | frozenset({b"server", b"date", b"x-request-id"})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Service endpoints that are not part of the public API.
OPERATIONS_PATHS = frozenset({"healthz", "readyz", "metrics", "openapi.json", "docs", "redoc", "docs/oauth2-redirect"})
#: Responses up to this size are read at once; bigger or unsized ones are streamed.
BUFFER_LIMIT = 1 << 20
#: Headers aiohttp would add on its own: the service sees only what the client sent (no encoding it did not ask
#: for, no client-library User-Agent).
SKIP_AUTO_HEADERS = frozenset({"Accept", "Accept-Encoding", "User-Agent", "Content-Type"})


class Upstreams:
    """One pooled aiohttp session for every service. Create it inside the running event loop (the app's lifespan)
    and close it on shutdown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bases = {family: url.rstrip("/") for family, url in settings.upstreams().items()}
        # Same semantics as before: the connect timeout also bounds the wait for a free pooled connection; the
        # upstream timeout bounds each wait for the service (headers or the next bytes of the body), so a large
        # answer may stream for longer as long as it keeps coming.
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=settings.connect_timeout, sock_connect=settings.connect_timeout,
            sock_read=settings.upstream_timeout,
        )
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=settings.upstream_max_connections,
                keepalive_timeout=30,
                ttl_dns_cache=300,
            ),
            timeout=self.timeout,
            auto_decompress=False,  # bodies are relayed byte for byte, Content-Encoding included
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=SKIP_AUTO_HEADERS,
            trust_env=False,
            raise_for_status=False,
        )
        self.secret = settings.internal_token_secret.get_secret_value()
        self.token_ttl = settings.internal_token_ttl
        self._tokens: dict[Identity, tuple[float, str]] = {}

    async def close(self) -> None:
        await self.session.close()

    def token(self, who: Identity) -> str:
        """The internal token for `who`, reused while more than half of its lifetime remains."""
        now = time.monotonic()
        cached = self._tokens.get(who)
        if cached is not None and cached[0] > now:
            return cached[1]
        token = internal.mint(who, self.secret, ttl=self.token_ttl)
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

    def target(self, scope: Scope, family: str, rest: str, path: str | None = None) -> str:
        """The service's URL for the request of `scope`; `path` replaces the path (its query string is kept)."""
        query: bytes = scope.get("query_string", b"")
        suffix = "?" + query.decode("latin-1") if query else ""
        if path is not None:
            return self.bases[family] + path + suffix
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        prefix = f"/api/v1/{family}".encode()
        if raw_path.startswith(prefix):
            kept = raw_path[len(prefix):] if self.settings.strip_prefix else raw_path
            path = kept.decode("latin-1")
        else:  # the client encoded the prefix itself: rebuild the path from its decoded form
            decoded = ("/" + rest) if self.settings.strip_prefix else scope["path"]
            path = quote(decoded, safe="/:@!$&'()*+,;=~")
        if not path.startswith("/"):
            path = "/" + path
        return self.bases[family] + path + suffix

    async def forward(self, scope: Scope, receive: Receive, send: Send, family: str, rest: str,
                      who: Identity | None, body: bytes, *, path: str | None = None) -> None:
        """Sends the request of `scope` (its body already read: `body`) to the service and relays the answer to
        `send`. `who` is None for the providers' callbacks (they carry no identity of ours; payment-svc checks their
        signatures), and `path` then names the service's route. Raises Problem only before anything was sent."""
        if path is None and rest.strip("/") in OPERATIONS_PATHS:
            raise Problem(404, "No such operation.", code="not-found")
        method = scope["method"]
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"] if k not in DROP_REQUEST]
        client = scope.get("client")
        if who is not None:
            headers.append((internal.HEADER, self.token(who)))
        headers += [
            ("x-request-id", current_request_id() or ""),
            ("x-forwarded-for", client[0] if client else ""),
            ("x-forwarded-prefix", f"/api/v1/{family}"),
        ]
        url = URL(self.target(scope, family, rest, path), encoded=True)  # the path and query go out as received
        retryable = method in IDEMPOTENT or any(k == b"idempotency-key" for k, _ in scope["headers"])
        attempts = 1 + (self.settings.upstream_retries if retryable else 0)
        for attempt in range(attempts):
            try:
                response = await self.session.request(
                    method, url, headers=headers, data=body or None, allow_redirects=False,
                )
                break
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:  # refused, or no connection
                if attempt + 1 >= attempts:  # in time (including the wait for a pooled one)
                    raise self.unavailable(family) from exc
            except TimeoutError as exc:  # aiohttp.ServerTimeoutError is one
                raise Problem(504, f"The {family} service did not answer in time.", code="gateway-timeout",
                              service=family) from exc
            except aiohttp.ClientError as exc:  # connection dropped (e.g. a pooled connection to a restarted service)
                if attempt + 1 >= attempts:
                    raise Problem(502, f"The {family} service broke the connection.", code="bad-gateway",
                                  service=family) from exc
            await asyncio.sleep(0.05 * (attempt + 1))
        await self._relay(response, family, scope, receive, send)

    async def _relay(self, response: aiohttp.ClientResponse, family: str, scope: Scope, receive: Receive,
                     send: Send) -> None:
        headers = [(k, v) for k, v in response.raw_headers if k.lower() not in DROP_RESPONSE]
        length = response.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) <= BUFFER_LIMIT:
            try:
                content = await response.read()
            except TimeoutError as exc:  # aiohttp.ServerTimeoutError is one
                raise Problem(504, f"The {family} service did not answer in time.", code="gateway-timeout") from exc
            except aiohttp.ClientError as exc:
                raise Problem(502, f"The {family} service broke the connection.", code="bad-gateway") from exc
            finally:
                response.release()
            await send({"type": "http.response.start", "status": response.status, "headers": headers})
            await send({"type": "http.response.body", "body": content})
            return
        # Starlette's streaming response stops reading from the service when the client goes away.
        streamed = StreamingResponse(_stream(response), status_code=response.status)
        streamed.raw_headers = headers
        await streamed(scope, receive, send)


async def _stream(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The body as it arrives; the connection goes back to the pool when it was read to the end, else it is
    closed (client gone, service broke off)."""
    try:
        async for chunk in response.content.iter_any():
            yield chunk
    finally:
        response.release()
