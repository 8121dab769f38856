"""ASGI entry point: ``uvicorn routing.main:app``."""

from fastapi import FastAPI

from routing.settings import Settings
from services.app import create_app


def build_app(settings: Settings | None = None) -> FastAPI:
    return create_app(
        settings or Settings(),
        title="motcua routing-svc",
        description="Processing and inter-level routing with working-day SLAs.",
    )


app = build_app()
