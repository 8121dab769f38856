"""ASGI entry point: ``uvicorn stats.main:app``."""

from services.app import create_app
from stats.settings import Settings

settings = Settings()
app = create_app(
    settings,
    title="motcua stats-svc",
    description="Reports built from events.",
)
