"""ASGI entry point: ``uvicorn intake.main:app``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI

from intake.api import router
from intake.consumers import subscriptions
from intake.counts.api import router as counts_router
from intake.service import Context, utcnow
from intake.settings import Settings
from intake.storage import build_storage
from services.app import create_app


def build_app(settings: Settings | None = None, *, clock: Callable[[], datetime] = utcnow) -> FastAPI:
    """`clock` gives the moment of receipt (tests pass a controllable one; production uses the system clock)."""
    settings = settings or Settings()
    app = create_app(
        settings,
        title="motcua intake-svc",
        description="Dossiers at the desk, by post and online: receipts, codes, deadlines, tracking.",
        routers=[router, counts_router],
        subscriptions=subscriptions,  # type: ignore[arg-type]
    )
    app.state.intake = Context(settings=settings, storage=build_storage(settings), clock=clock)
    return app


app = build_app()
