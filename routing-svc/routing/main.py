"""ASGI entry point: ``uvicorn routing.main:app``."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from fastapi import FastAPI

from routing import sweep
from routing.api import router
from routing.consumers import subscriptions
from routing.settings import Settings
from services.app import Runtime, create_app

__all__ = ["Settings", "app", "build_app"]


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    def background(runtime: Runtime) -> list[Coroutine[Any, Any, None]]:
        if not settings.sweep_enabled:
            return []
        return [
            sweep.run_forever(
                runtime.db,
                settings.topic_prefix,
                interval=settings.sweep_interval_seconds,
                due_soon_working_days=settings.due_soon_working_days,
            )
        ]

    return create_app(
        settings,
        title="motcua routing-svc",
        description="Processing and inter-level routing with working-day SLAs.",
        routers=[router],
        subscriptions=subscriptions,
        background=background,
    )


app = build_app()
