"""ASGI entry point: ``uvicorn payment.main:app``."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import structlog
from fastapi import FastAPI

from payment import api, reconciliation, service, webhooks
from payment.consumers import subscriptions
from payment.group_commit import GroupCommit
from payment.settings import Settings
from services.app import Runtime, create_app
from services.db import Database

log = structlog.get_logger(__name__)


async def expiry_sweeper(db: Database, settings: Settings) -> None:
    """Expire pending payments past their time, every `expiry_sweep_interval` seconds, in every replica."""
    while True:
        await asyncio.sleep(settings.expiry_sweep_interval)
        try:
            async with db.sessionmaker() as session, session.begin():
                expired = await service.expire_due(session, settings)
            if expired:
                log.info("payments_expired", count=expired)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database may be down for a while: try again next round
            log.warning("expiry_sweep_failed", error=repr(exc))


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    notifications = GroupCommit(settings)

    def background(runtime: Runtime) -> list[Coroutine[Any, Any, None]]:
        loops = [notifications.run(runtime.db)]
        if settings.expiry_sweep_interval > 0:
            loops.append(expiry_sweeper(runtime.db, settings))
        return loops

    app = create_app(
        settings,
        title="motcua payment-svc",
        description="Fees by VietQR, wallet webhooks, refunds and reconciliation.",
        routers=[webhooks.router, api.router, reconciliation.router],  # the hot path matches first
        subscriptions=subscriptions,
        background=background,
    )
    app.state.providers = webhooks.build_providers(settings)
    app.state.notifications = notifications
    return app


app = build_app()
