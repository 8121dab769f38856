"""Forwarding to the services over pooled HTTP connections, with timeouts and retries for idempotent requests."""

from __future__ import annotations

import asyncio
import sys
import time
from urllib.parse import quote

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.settings import Settings
from services import identity as internal
from services.errors import Problem
from services.identity import Identity
from services.observability import current_request_id

try:  # httpcore imports sniffio on every request; when it is absent each attempt searches sys.path (~0.2 ms)
    import sniffio  # noqa: F401
except ImportError:
    sys.modules["sniffio"] = None  # type: ignore[assignment]  # now the import fails at once

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


class Upstreams:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bases = {family: url.rstrip("/") for family, url in settings.upstreams().items()}
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                settings.upstream_timeout, connect=settings.connect_timeout, pool=settings.connect_timeout
            ),
            limits=httpx.Limits(
                max_connections=settings.upstream_max_connections,
                max_keepalive_connections=settings.upstream_max_keepalive,
                keepalive_expiry=30,
            ),
            follow_redirects=False,
            trust_env=False,
        )
        self.secret = settings.internal_token_secret.get_secret_value()
        self.token_ttl = settings.internal_token_ttl
        self._tokens: dict[Identity, tuple[float, bytes]] = {}

    async def close(self) -> None:
        await self.client.aclose()

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

    def target(self, request: Request, family: str, rest: str) -> str:
        raw_path: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
        prefix = f"/api/v1/{family}".encode()
        if raw_path.startswith(prefix):
            kept = raw_path[len(prefix):] if self.settings.strip_prefix else raw_path
            path = kept.decode("latin-1")
        else:  # the client encoded the prefix itself: rebuild the path from its decoded form
            decoded = ("/" + rest) if self.settings.strip_prefix else request.scope["path"]
            path = quote(decoded, safe="/:@!$&'()*+,;=~")
        if not path.startswith("/"):
            path = "/" + path
        query: bytes = request.scope.get("query_string", b"")
        return self.bases[family] + path + ("?" + query.decode("latin-1") if query else "")

    async def forward(self, request: Request, family: str, rest: str, who: Identity, body: bytes) -> Response:
        if rest.strip("/") in OPERATIONS_PATHS:
            raise Problem(404, "No such operation.", code="not-found")
        method = request.method
        headers = [(k, v) for k, v in request.headers.raw if k not in DROP_REQUEST]
        client_ip = request.client.host if request.client else ""
        headers += [
            (internal.HEADER.encode(), self.token(who)),
            (b"x-request-id", (current_request_id() or "").encode()),
            (b"x-forwarded-for", client_ip.encode()),
            (b"x-forwarded-prefix", f"/api/v1/{family}".encode()),
        ]
        upstream = self.client.build_request(method, self.target(request, family, rest), headers=headers, content=body)
        retryable = method in IDEMPOTENT or "idempotency-key" in request.headers
        attempts = 1 + (self.settings.upstream_retries if retryable else 0)
        for attempt in range(attempts):
            try:
                response = await self.client.send(upstream, stream=True)
                break
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if attempt + 1 >= attempts:
                    raise self.unavailable(family) from exc
            except httpx.TimeoutException as exc:
                raise Problem(504, f"The {family} service did not answer in time.", code="gateway-timeout",
                              service=family) from exc
            except httpx.TransportError as exc:  # connection dropped (e.g. a pooled connection to a restarted service)
                if attempt + 1 >= attempts:
                    raise Problem(502, f"The {family} service broke the connection.", code="bad-gateway",
                                  service=family) from exc
            await asyncio.sleep(0.05 * (attempt + 1))
        return await self._relay(response, family)

    async def _relay(self, response: httpx.Response, family: str) -> Response:
        headers = [(k, v) for k, v in response.headers.raw if k.lower() not in DROP_RESPONSE]
        length = response.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) <= BUFFER_LIMIT:
            try:
                content = b"".join([chunk async for chunk in response.aiter_raw()])
            except httpx.TimeoutException as exc:
                raise Problem(504, f"The {family} service did not answer in time.", code="gateway-timeout") from exc
            except httpx.TransportError as exc:
                raise Problem(502, f"The {family} service broke the connection.", code="bad-gateway") from exc
            finally:
                await response.aclose()
            out = Response(status_code=response.status_code)
            out.body = content
            out.raw_headers = headers
            return out
        streamed = StreamingResponse(
            response.aiter_raw(), status_code=response.status_code, background=BackgroundTask(response.aclose)
        )
        streamed.raw_headers = headers
        return streamed
