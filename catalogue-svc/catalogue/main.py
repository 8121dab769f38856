"""ASGI entry point: ``uvicorn catalogue.main:app``."""

from catalogue.settings import Settings
from services.app import create_app

settings = Settings()
app = create_app(
    settings,
    title="motcua catalogue-svc",
    description="Procedure catalogue, administrative units and the working-day calendar.",
)
