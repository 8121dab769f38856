"""ASGI entry point: ``uvicorn connect.main:app``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from connect import api, worker
from connect.consumers import subscriptions
from connect.portal_client import PortalClient
from connect.settings import Settings
from services.app import Runtime, create_app
from services.settings import ServiceSettings


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    client = PortalClient(settings)
    holder: dict[str, worker.Worker] = {}

    def woken(_: ServiceSettings) -> Any:
        return subscriptions(settings, on_committed=lambda event: holder["worker"].wake() if holder else None)

    def background(runtime: Runtime) -> list[Coroutine[Any, Any, None]]:
        loops = [worker.gauges(runtime.db, settings.metrics_interval)]
        if settings.delivery_enabled:
            holder["worker"] = app.state.worker = worker.Worker(runtime.db, settings, client)
            loops.append(holder["worker"].run())
        return loops

    app = create_app(
        settings,
        title="motcua connect-svc",
        description="What the centre tells parties outside it: every dossier and every step to the national "
        "public service portal (DVCQG), in order, retried, parked when refused.",
        subscriptions=woken,
        background=background,
    )
    # After the kernel's routes: the list is at "/" (the gateway's /api/v1/deliveries) and /{delivery_id} must not
    # shadow /healthz, /readyz or /metrics.
    app.include_router(api.router)
    kernel_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        async with kernel_lifespan(application):
            try:
                yield
            finally:
                await client.close()

    app.router.lifespan_context = lifespan
    return app


app = build_app()
