"""ASGI entry point: ``uvicorn routing.main:app``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from routing import sweep
from routing.api import router
from routing.consumers import subscriptions
from routing.settings import Settings
from services.app import Runtime, create_app

__all__ = ["Settings", "app", "build_app"]


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_app(
        settings,
        title="motcua routing-svc",
        description="Processing and inter-level routing with working-day SLAs.",
        routers=[router],
        subscriptions=subscriptions,
    )
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with inner(app):
            task: asyncio.Task[None] | None = None
            if settings.sweep_enabled:
                runtime: Runtime = app.state.runtime
                task = asyncio.create_task(
                    sweep.run_forever(
                        runtime.db,
                        settings.topic_prefix,
                        interval=settings.sweep_interval_seconds,
                        due_soon_working_days=settings.due_soon_working_days,
                    ),
                    name="overdue-sweep",
                )
            try:
                yield
            finally:
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    app.router.lifespan_context = lifespan
    return app


app = build_app()
