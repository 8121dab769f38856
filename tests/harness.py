"""Run a service app in the test process against the real broker and a real database.

    async with serve(build_app(settings)) as client:
        response = await client.get("/healthz")

`serve` runs the app's lifespan (database, outbox relay, consumers) and gives an httpx client speaking ASGI to it.
`migrate(service_dir, url)` brings a fresh database to the service's newest migration first.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from services import migrations

ROOT = Path(__file__).resolve().parent.parent


@asynccontextmanager
async def serve(app: FastAPI, base_url: str = "http://service") -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url, timeout=30) as client:
            yield client


async def migrate(service: str, url: str) -> None:
    """`service` is the folder name, e.g. "catalogue-svc"."""
    await asyncio.to_thread(migrations.upgrade, ROOT / service, url)
