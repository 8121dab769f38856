"""The application factory every service uses: lifespan (database, relay, consumers), health, metrics, errors."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import structlog
from aiokafka import AIOKafkaClient
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.bus.consumer import EventConsumer, Subscription
from services.bus.outbox import OutboxRelay
from services.db import Database
from services.docs import install_docs
from services.errors import install_problem_handlers
from services.headers import SecurityHeadersMiddleware
from services.input_limits import InputLimits, InputLimitsMiddleware
from services.observability import RequestContextMiddleware, configure_logging
from services.settings import ServiceSettings
from services.topics import DOMAIN_TOPICS, dead_letter_topic, ensure_topics

log = structlog.get_logger(__name__)


#: A request allocates thousands of container objects (ORM states, rows, models) that die with it. With CPython's
#: default first threshold (700) the collector ran several times per request and moved many of them to older
#: generations; measured in routing-svc under the simulated quarter, collections took 4 % of its CPU.
GC_THRESHOLDS = (10_000, 20, 50)


def _freeze_startup_objects() -> None:
    """What exists once a service has started (modules, models, compiled queries, the catalogue cache) lives as long
    as the process. Moving it out of the cyclic collector's reach spares every full collection a walk over it
    (gc was 3 % of routing-svc's CPU under the simulated quarter). Once per process: tests start many apps."""
    global _frozen
    if not _frozen:
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        _frozen = True


_frozen = False

SubscriptionFactory = Callable[[ServiceSettings], Sequence[Subscription]]
#: Long-running loops of a service (sweeps, schedulers), started after the runtime and cancelled at shutdown.
BackgroundFactory = Callable[["Runtime"], Sequence[Coroutine[Any, Any, None]]]


class Runtime:
    """What a running service holds: database, relay, consumers, background tasks."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.db = Database(
            settings.database_url,
            service=settings.service_name,
            pool_size=settings.db_pool_size,
            echo=settings.db_echo,
            pre_ping=settings.db_pool_pre_ping,
        )
        self.relay: OutboxRelay | None = None
        self.consumers: list[EventConsumer] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.background: list[asyncio.Task[None]] = []

    def topic(self, name: str) -> str:
        return f"{self.settings.topic_prefix}.{name}"

    async def ensure_topics(self, subscriptions: Sequence[Subscription]) -> None:
        """Create the domain topics and this service's dead-letter topics; retried until Kafka answers."""
        specs = [*DOMAIN_TOPICS, *(dead_letter_topic(sub.name) for sub in subscriptions)]
        delay = 0.5
        while True:
            try:
                await ensure_topics(
                    self.settings.kafka_bootstrap_servers,
                    self.settings.topic_prefix,
                    specs,
                    replication_factor=self.settings.kafka_replication_factor,
                    security=self.settings.kafka_security,
                )
                return
            except Exception as exc:  # Kafka may come up after the service
                log.warning("ensure_topics_failed", error=repr(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def group(self, sub: Subscription) -> Subscription:
        """The subscription as deployed: group id and dead-letter topic under this deployment's topic prefix."""
        prefix = self.settings.topic_prefix
        return replace(
            sub,
            name=f"{prefix}.{sub.name}",
            dead_letter_topic=sub.dead_letter_topic or dead_letter_topic(sub.name).full_name(prefix),
        )

    async def start(self, subscriptions: Sequence[Subscription]) -> None:
        s = self.settings
        if s.relay_enabled:
            self.relay = OutboxRelay(
                self.db,
                service=s.service_name,
                bootstrap_servers=s.kafka_bootstrap_servers,
                security=s.kafka_security,
                batch_size=s.relay_batch_size,
                poll_interval=s.relay_poll_interval,
                lease_seconds=s.relay_lease_seconds,
                linger=s.relay_linger,
            )
            self.tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        if s.consumers_enabled:
            self.consumers = [
                EventConsumer(
                    self.db,
                    self.group(sub),
                    bootstrap_servers=s.kafka_bootstrap_servers,
                    security=s.kafka_security,
                    max_attempts=s.consumer_max_attempts,
                    retry_backoff=s.consumer_retry_backoff,
                    retry_later_limit=s.consumer_retry_later_limit,
                    fetch_min_bytes=s.consumer_fetch_min_bytes,
                    fetch_max_wait_ms=s.consumer_fetch_max_wait_ms,
                )
                for sub in subscriptions
            ]
        if s.relay_enabled or self.consumers:
            # The broker does not auto-create topics: until they exist the relay's sends fail and are retried.
            self.tasks.append(asyncio.create_task(self._consume(subscriptions), name="topics-and-consumers"))

    async def _consume(self, subscriptions: Sequence[Subscription]) -> None:
        await self.ensure_topics(subscriptions if self.settings.consumers_enabled else ())
        await asyncio.gather(*(consumer.run() for consumer in self.consumers))

    def run_background(self, loops: Sequence[Coroutine[Any, Any, None]]) -> None:
        self.background += [asyncio.create_task(loop) for loop in loops]

    async def stop(self) -> None:
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        if self.relay is not None:
            await self.relay.stop()
        for consumer in self.consumers:
            await consumer.stop()
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks, timeout=15)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.db.dispose()

    async def kafka_ready(self, timeout: float = 3.0) -> bool:
        client = AIOKafkaClient(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            request_timeout_ms=2000,
            **self.settings.kafka_security.client_options(),
        )
        try:
            await asyncio.wait_for(client.bootstrap(), timeout)
            return True
        except Exception:
            return False
        finally:
            await client.close()


def create_app(
    settings: ServiceSettings,
    *,
    title: str,
    version: str = "0.1.0",
    routers: Sequence[APIRouter] = (),
    subscriptions: SubscriptionFactory | None = None,
    background: BackgroundFactory | None = None,
    on_startup: Callable[[Runtime], Any] | None = None,
    description: str = "",
    app_class: type[FastAPI] = FastAPI,
) -> FastAPI:
    settings.require_real_secrets()
    configure_logging(settings.service_name, settings.log_level, settings.log_json, settings.log_repeat_interval)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings)
        app.state.runtime = runtime
        app.state.db = runtime.db
        app.state.settings = settings
        if on_startup is not None:
            result = on_startup(runtime)
            if asyncio.iscoroutine(result):
                await result
        await runtime.start(subscriptions(settings) if subscriptions else ())
        if background is not None:
            runtime.run_background(background(runtime))
        _freeze_startup_objects()
        log.info("service_started", version=version)
        try:
            yield
        finally:
            await runtime.stop()
            log.info("service_stopped")

    app = app_class(title=title, version=version, description=description, lifespan=lifespan, docs_url=None,
                    redoc_url=None)
    app.add_middleware(InputLimitsMiddleware, limits=InputLimits.from_settings(settings))
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware)
    install_docs(app)
    install_problem_handlers(app)
    for router in routers:
        app.include_router(router)

    @app.get("/healthz", tags=["operations"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": settings.service_name}

    @app.get("/readyz", tags=["operations"], summary="Readiness: database and Kafka reachable")
    async def readyz(request: Request) -> JSONResponse:
        runtime: Runtime = request.app.state.runtime
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(runtime.db.ping(), 3.0)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        checks["kafka"] = "ok" if await runtime.kafka_ready() else "unreachable"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
