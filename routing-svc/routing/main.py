"""ASGI entry point: ``uvicorn routing.main:app``."""

from routing.settings import Settings
from services.app import create_app

settings = Settings()
app = create_app(
    settings,
    title="motcua routing-svc",
    description="Processing and inter-level routing with working-day SLAs.",
)
