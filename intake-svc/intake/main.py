"""ASGI entry point: ``uvicorn intake.main:app``."""

from fastapi import FastAPI

from intake.settings import Settings
from services.app import create_app


def build_app(settings: Settings | None = None) -> FastAPI:
    return create_app(
        settings or Settings(),
        title="motcua intake-svc",
        description="Dossiers at the desk, by post and online: receipts, codes, deadlines, tracking.",
    )


app = build_app()
