"""ASGI entry point: ``uvicorn stats.main:app``."""

from fastapi import FastAPI

from services.app import create_app
from stats.api import router
from stats.consumers import subscriptions
from stats.settings import Settings

__all__ = ["Settings", "app", "build_app"]


def build_app(settings: Settings | None = None) -> FastAPI:
    return create_app(
        settings or Settings(),
        title="motcua stats-svc",
        description="Reports built from events: the quarterly report, form II.06a, Decision 766 indicators.",
        routers=[router],
        subscriptions=subscriptions,
    )


app = build_app()
