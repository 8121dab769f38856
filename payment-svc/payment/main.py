"""ASGI entry point: ``uvicorn payment.main:app``."""

from fastapi import FastAPI

from payment.settings import Settings
from services.app import create_app


def build_app(settings: Settings | None = None) -> FastAPI:
    return create_app(
        settings or Settings(),
        title="motcua payment-svc",
        description="Fees by VietQR, wallet webhooks, refunds and reconciliation.",
    )


app = build_app()
