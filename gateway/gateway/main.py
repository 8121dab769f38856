"""ASGI entry point: ``uvicorn gateway.main:app``.

Routes (the family names are the public API; the services behind them come from the settings):
/api/v1/catalogue/… → catalogue-svc, /api/v1/dossiers/… → intake-svc, /api/v1/routing/… → routing-svc,
/api/v1/payments/… → payment-svc, /api/v1/stats/… → stats-svc; /api/v1/auth/token (staff login),
/api/v1/auth/whoami, /api/v1/auth/password, /api/v1/auth/staff/… (admin only); /openapi.json (aggregated) and
/docs; /healthz, /readyz, /metrics.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import callbacks
from gateway.api import router
from gateway.auth import ApiKeyVerifier, StaffSessions, citizen_from_headers, unauthorized
from gateway.edge import PROXY_METHODS, ProxyEndpoint, family_of
from gateway.hygiene import HygieneMiddleware
from gateway.limits import RateLimits
from gateway.openapi import OpenAPIAggregator
from gateway.policy import forbidden
from gateway.proxy import Upstreams
from gateway.settings import Settings
from services.app import Runtime, create_app
from services.db import Database
from services.errors import Problem
from services.headers import SecurityHeadersMiddleware
from services.identity import Identity, Role
from services.observability import RequestContextMiddleware


class Gateway:
    """What the gateway holds while it runs: upstream connections, key verifier, rate limits, the OpenAPI cache."""

    def __init__(self, settings: Settings, runtime: Runtime, own_openapi: Any) -> None:
        self.settings = settings
        self.upstreams = Upstreams(settings)
        self.keys = ApiKeyVerifier(runtime.db.sessionmaker, settings)
        self.staff = StaffSessions(runtime.db.sessionmaker, settings)
        self.limits = RateLimits(settings)
        self.openapi = OpenAPIAggregator(settings, self.upstreams.session, own_openapi)

    async def authenticate(self, headers: Mapping[str, str], client_ip: str) -> Identity:
        """`headers` by lower-case name."""
        try:
            return await self._authenticate(headers)
        except Problem as exc:
            if exc.status == 401:
                await self.limits.unauthenticated_failure(client_ip)
            raise

    async def _authenticate(self, headers: Mapping[str, str]) -> Identity:
        key = headers.get("x-api-key")
        bearer = None
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials:
            if credentials.startswith("mck_"):
                key = key or credentials
            else:
                bearer = credentials.strip()
        elif scheme.lower() == "apikey" and credentials:
            key = key or credentials
        if key:
            who = await self.keys.verify(key.strip())
        elif bearer:
            who = await self.staff.verify(bearer)
        else:
            raise unauthorized(
                "Authentication required: an API key (X-API-Key) or a staff access token (Authorization: Bearer).",
                "authentication-required",
            )
        citizen = citizen_from_headers(headers)
        if citizen is not None:
            if who.role != Role.PORTAL:
                raise forbidden("Only the portal may act for a citizen (X-Citizen-* headers).", "citizen-portal-only")
            who = who.model_copy(update={"citizen": citizen})
        return who


class GatewayApp(FastAPI):
    """FastAPI serves the gateway's own pages (login, whoami, OpenAPI, docs, health, metrics); requests to the
    services' families go to `edge`, a lean ASGI path with the same middleware."""

    edge: ASGIApp | None = None
    callbacks: ASGIApp | None = None
    families: frozenset[str] = frozenset()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.edge is not None:
            family = family_of(scope["path"])
            if family in self.families:
                scope["app"] = self
                await self.edge(scope, receive, send)
                return
            if family == "callbacks" and self.callbacks is not None:
                scope["app"] = self
                await self.callbacks(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


async def unknown_family(request: Request) -> Response:
    raise Problem(404, f"No API family {request.path_params['family']!r}; try /docs.", code="not-found")


async def _database_ready(db: Database) -> str:
    try:
        await asyncio.wait_for(db.ping(), 3.0)
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


async def _service_ready(session: aiohttp.ClientSession, base_url: str, timeout: float) -> str:
    try:
        async with session.get(
            f"{base_url.rstrip('/')}/readyz", timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False
        ) as response:
            return "ok" if response.status == 200 else f"not ready: {response.status}"
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except aiohttp.ClientError as exc:
        return f"unreachable: {type(exc).__name__}"


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    holder: dict[str, FastAPI] = {}

    async def on_startup(runtime: Runtime) -> None:
        app = holder["app"]
        app.state.gateway = Gateway(settings, runtime, app.openapi)

    app = create_app(
        settings,
        title="motcua API",
        description="The single entry for the portal, the ward and agency desks and the payment wallets. "
        "Systems authenticate with an API key (X-API-Key); staff log in at /api/v1/auth/token and send "
        "Authorization: Bearer <token>. The portal acts for a citizen with X-Citizen-Id (and optionally "
        "X-Citizen-Account, X-Citizen-Name percent-encoded UTF-8). Errors are RFC 9457 problem+json.",
        routers=[router],
        on_startup=on_startup,
        app_class=GatewayApp,
    )
    holder["app"] = app
    kernel_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        async with kernel_lifespan(application) as state:
            try:
                yield state
            finally:
                await application.state.gateway.upstreams.close()

    app.router.lifespan_context = lifespan

    # Middleware, outermost first: request id and security headers (kernel), CORS, path and body-size hygiene; the
    # same around the edge.
    def cors(inner: ASGIApp) -> ASGIApp:
        return CORSMiddleware(
            inner,
            allow_origins=settings.cors_origins,
            allow_methods=PROXY_METHODS,
            allow_headers=["authorization", "content-type", "x-api-key", "x-request-id", "idempotency-key",
                           "x-citizen-id", "x-citizen-account", "x-citizen-name"],
            expose_headers=["x-request-id", "retry-after", "location"],
            max_age=600,
        )

    app.user_middleware.append(Middleware(cors))  # type: ignore[arg-type]
    app.user_middleware.append(Middleware(HygieneMiddleware, max_body_bytes=settings.max_body_bytes))  # type: ignore[arg-type]
    assert isinstance(app, GatewayApp)
    app.edge = RequestContextMiddleware(
        SecurityHeadersMiddleware(cors(HygieneMiddleware(ProxyEndpoint(), settings.max_body_bytes)))
    )
    app.families = frozenset(settings.upstreams())
    # The providers' callbacks: no CORS (no browser posts them), their own size limits and refusals.
    app.callbacks = RequestContextMiddleware(SecurityHeadersMiddleware(callbacks.CallbackEndpoint(settings)))

    # The aggregated OpenAPI document replaces FastAPI's own; /readyz checks the database and the services (no Kafka
    # here); /metrics needs the metrics token.
    app.router.routes[:] = [
        r for r in app.router.routes if getattr(r, "path", None) not in ("/openapi.json", "/readyz", "/metrics")
    ]

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(await request.app.state.gateway.openapi.document())

    async def readyz(request: Request) -> JSONResponse:
        """Ready when the database answers and every service's /readyz does, asked all at once. With
        `?upstreams=false` the database only: Kubernetes' readiness probe, so that one service down does not take
        every gateway pod out of its Service (and with them the families that still work)."""
        session = request.app.state.gateway.upstreams.session
        services = settings.services() if request.query_params.get("upstreams") != "false" else {}
        names = ["database", *services]
        results = await asyncio.gather(
            _database_ready(request.app.state.db),
            *(_service_ready(session, url, settings.readyz_timeout) for url in services.values()),
        )
        checks = dict(zip(names, results, strict=True))
        down = [name for name, result in checks.items() if result != "ok"]
        body: dict[str, Any] = {"status": "not ready" if down else "ready", "checks": checks}
        if down:
            body["down"] = down
        return JSONResponse(body, status_code=503 if down else 200)

    async def metrics(request: Request) -> Response:
        token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
        if not token:
            raise Problem(403, "The gateway's metrics are off: set GATEWAY_METRICS_TOKEN and send it as "
                          "Authorization: Bearer <token>.", code="metrics-disabled")
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(credentials.strip().encode(), token.encode()):
            raise unauthorized("The gateway's metrics need the metrics token (Authorization: Bearer <token>).",
                               "metrics-token-required")
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.router.routes.append(Route("/openapi.json", openapi, include_in_schema=False))
    app.router.routes.append(Route("/readyz", readyz, include_in_schema=False))
    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    app.router.routes.append(Route("/api/v1/{family}", unknown_family, methods=list(PROXY_METHODS),
                                   include_in_schema=False))
    app.router.routes.append(Route("/api/v1/{family}/{rest:path}", unknown_family, methods=list(PROXY_METHODS),
                                   include_in_schema=False))
    return app


app = build_app()
