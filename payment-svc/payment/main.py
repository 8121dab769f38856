"""ASGI entry point: ``uvicorn payment.main:app``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from payment import api, settlement
from payment.consumers import subscriptions
from payment.group_commit import GroupCommit
from payment.provider_client import ProviderClients
from payment.reconciliation import api as reconciliation_api
from payment.settings import Settings
from payment.webhooks import api as webhooks_api
from payment.webhooks.service import build_providers
from services.app import Runtime, create_app


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    notifications = GroupCommit(settings)
    clients = ProviderClients(settings)

    def background(runtime: Runtime) -> list[Coroutine[Any, Any, None]]:
        loops = [notifications.run(runtime.db)]
        if settings.expiry_sweep_interval > 0:
            loops.append(settlement.sweeper(runtime.db, settings, clients))
        return loops

    app = create_app(
        settings,
        title="motcua payment-svc",
        description="Fees by VietQR, providers' callbacks and status queries, refunds and reconciliation.",
        routers=[webhooks_api.router, api.router, reconciliation_api.router],  # the hot path matches first
        subscriptions=subscriptions,
        background=background,
    )
    app.state.providers = build_providers(settings)
    app.state.notifications = notifications
    app.state.provider_clients = clients
    kernel_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        async with kernel_lifespan(application):
            try:
                yield
            finally:
                await clients.close()

    app.router.lifespan_context = lifespan
    return app


app = build_app()
