"""ASGI entry point: ``uvicorn catalogue.main:app``."""

from fastapi import FastAPI

from catalogue.settings import Settings
from services.app import create_app


def build_app(settings: Settings | None = None) -> FastAPI:
    return create_app(
        settings or Settings(),
        title="motcua catalogue-svc",
        description="Procedure catalogue, administrative units and the working-day calendar.",
    )


app = build_app()
