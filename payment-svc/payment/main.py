"""ASGI entry point: ``uvicorn payment.main:app``."""

from payment.settings import Settings
from services.app import create_app

settings = Settings()
app = create_app(
    settings,
    title="motcua payment-svc",
    description="Fees by VietQR, wallet webhooks, refunds and reconciliation.",
)
