"""The proxied API, /api/v1/<family>/…, as a plain ASGI app ahead of FastAPI.

Every request to a service passes here, so this path skips what only the gateway's own pages need (FastAPI's
router, request and response objects, dependency machinery) and goes straight from the ASGI scope to the pooled
upstream session. It keeps the same middleware as the rest of the gateway (request id, access log and metrics;
CORS; path and size hygiene) and answers every refusal with the same problem+json.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

import structlog
from starlette.types import Message, Receive, Scope, Send

from gateway.policy import JURISDICTION_ROLES, authorise, check_jurisdiction
from services.errors import Problem, database_unavailable, database_unavailable_response, problem_response
from services.input_limits import InputLimits, check_body, check_head

log = structlog.get_logger(__name__)

PREFIX = "/api/v1/"
PROXY_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_ALLOWED_METHODS = frozenset(PROXY_METHODS)


@dataclass(frozen=True)
class RouteLabel:
    path: str


#: The route every proxied request is counted under in the request metrics.
PROXY_ROUTE = RouteLabel(PREFIX + "{family}/{rest:path}")


class ClientGone(Exception):
    """The client disconnected before its body arrived."""


def family_of(path: str) -> str:
    """`catalogue` for /api/v1/catalogue/…, else ""."""
    if not path.startswith(PREFIX):
        return ""
    return path[len(PREFIX):].partition("/")[0]


def header_map(scope: Scope) -> dict[str, str]:
    """The request headers by lower-case name; the first of repeated headers wins (as in Starlette)."""
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1")
        if key not in headers:
            headers[key] = value.decode("latin-1")
    return headers


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class ProxyEndpoint:
    """Authenticate, limit, authorise, check jurisdiction, forward: the proxy route without a framework."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        scope["route"] = PROXY_ROUTE
        started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self._proxy(scope, receive, send_noting_start, path)
        except ClientGone:
            return
        except Exception as exc:
            if started:  # a streamed answer broke off: uvicorn closes the connection, the client sees it cut short
                raise
            if isinstance(exc, Problem):
                response = problem_response(exc.status, exc.detail, code=exc.code, title=exc.title, instance=path,
                                            headers=exc.headers, **exc.extensions)
            elif database_unavailable(exc):  # the gateway's own database (API keys) is down: retry later, not a bug
                response = database_unavailable_response(exc, path)
            else:
                log.exception("unhandled_error", path=path)
                response = problem_response(500, "An unexpected error occurred; it has been logged.", instance=path)
            await response(scope, receive, send)

    @staticmethod
    async def _proxy(scope: Scope, receive: Receive, send: Send, path: str) -> None:
        method: str = scope["method"]
        if method not in _ALLOWED_METHODS:
            raise Problem(405, "Method Not Allowed", headers={"Allow": ", ".join(PROXY_METHODS)})
        gateway = scope["app"].state.gateway
        check_head(scope, InputLimits.from_settings(gateway.settings))
        family, _, rest = path[len(PREFIX):].partition("/")
        headers = header_map(scope)
        client = scope.get("client")
        who = await gateway.authenticate(headers, client[0] if client else "")
        await gateway.limits.client(who)
        authorise(who, family, rest, method)
        body = await read_body(receive)
        check_body(body, headers.get("content-type"), InputLimits.from_settings(gateway.settings))
        if who.role in JURISDICTION_ROLES:
            query: dict[str, list[str]] = {}
            for name, value in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True):
                query.setdefault(name, []).append(value)
            check_jurisdiction(who, path, query, body, headers.get("content-type"))
        await gateway.upstreams.forward(scope, receive, send, family, rest, who, body)

