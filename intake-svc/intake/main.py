"""ASGI entry point: ``uvicorn intake.main:app``."""

from intake.settings import Settings
from services.app import create_app

settings = Settings()
app = create_app(
    settings,
    title="motcua intake-svc",
    description="Dossiers at the desk, by post and online: receipts, codes, deadlines, tracking.",
)
