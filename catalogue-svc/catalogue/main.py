"""ASGI entry point: ``uvicorn catalogue.main:app``."""

import asyncio

from fastapi import FastAPI

from catalogue.api import router
from catalogue.settings import Settings
from services.app import Runtime, create_app


def _create_topics(runtime: Runtime) -> None:
    """The catalogue topics are compacted: create them (in the background, Kafka may come later) before the relay's
    first send would auto-create them with the broker's default policy."""
    runtime.tasks.append(asyncio.create_task(runtime.ensure_topics(()), name="ensure-topics"))


def build_app(settings: Settings | None = None) -> FastAPI:
    return create_app(
        settings or Settings(),
        title="motcua catalogue-svc",
        description="Procedure catalogue, administrative units and the working-day calendar.",
        routers=[router],
        on_startup=_create_topics,
    )


app = build_app()
