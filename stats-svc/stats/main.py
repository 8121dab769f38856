"""ASGI entry point: ``uvicorn stats.main:app``."""

from fastapi import FastAPI

from services.app import create_app
from stats.settings import Settings


def build_app(settings: Settings | None = None) -> FastAPI:
    return create_app(
        settings or Settings(),
        title="motcua stats-svc",
        description="Reports built from events.",
    )


app = build_app()
