"""ASGI entry point: ``uvicorn gateway.main:app``."""

from gateway.settings import Settings
from services.app import create_app

settings = Settings()
app = create_app(settings, title="motcua gateway", description="The single entry for the portal, desks and wallet.")
