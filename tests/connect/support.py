"""Helpers of connect-svc's tests: the national-portal simulator on a real socket, connect-svc running against it
on the real broker and database, a producer of the centre's events."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from connect.main import build_app
from connect.models import Delivery
from connect.settings import Settings
from dvcqg_sim.portal import build_app as build_portal
from fastapi import FastAPI
from sqlalchemy import func, select

from services.contracts import intake, payment
from services.events import EventPayload
from services.identity import Identity, Role, mint
from services.topics import INTAKE_DOSSIERS, PAYMENT_PAYMENTS, ROUTING_JOURNEYS
from tests.harness import migrate, serve
from tests.support.topics import Publisher
from tests.support.wait import wait_for

#: Fast retries and a short cool-down, so that an outage of the portal is over in seconds.
FAST = {
    "db_pool_size": 3,
    "relay_poll_interval": 0.1,
    "consumer_retry_backoff": 0.05,
    "consumer_fetch_min_bytes": 1,
    "consumer_fetch_max_wait_ms": 20,
    "delivery_poll_interval": 0.05,
    "retry_base_seconds": 0.05,
    "retry_max_seconds": 0.4,
    "retry_jitter": 0.5,
    "max_attempts": 1000,
    "circuit_failures": 3,
    "circuit_cooldown_seconds": 0.3,
    "portal_timeout": 2.0,
    "metrics_interval": 0.2,
}


@asynccontextmanager
async def on_socket(app: FastAPI) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass
class Portal:
    """The simulator, over HTTP."""

    http: httpx.AsyncClient

    async def state(self) -> dict[str, Any]:
        r = await self.http.get("/_control/state")
        r.raise_for_status()
        return dict(r.json())

    async def faults(self, **faults: Any) -> None:
        r = await self.http.post("/_control/faults", json=faults)
        r.raise_for_status()

    async def taken(self, code: str) -> list[dict[str, Any]]:
        """What the portal took of a dossier, in order."""
        return [entry for entry in (await self.state())["log"] if entry["record"]["MaHoSo"] == code]


@dataclass
class Connect:
    settings: Settings
    apps: list[FastAPI]
    clients: list[httpx.AsyncClient]
    publisher: Publisher
    portal: Portal

    @property
    def client(self) -> httpx.AsyncClient:
        return self.clients[0]

    def admin(self) -> dict[str, str]:
        token = mint(Identity(subject="admin", role=Role.ADMIN), self.settings.internal_token_secret.get_secret_value())
        return {"x-motcua-identity": token}

    async def publish(self, event: EventPayload) -> str:
        """As the owning service's relay would: intake's, payment's or routing's topic, keyed by dossier id."""
        if isinstance(event, intake.DossierRef):
            topic = INTAKE_DOSSIERS
        elif isinstance(event, payment.BillEvent):
            topic = PAYMENT_PAYMENTS
        else:
            topic = ROUTING_JOURNEYS
        return (await self.publisher.send(topic.name, str(getattr(event, "dossier_id")), event)).id  # noqa: B009

    async def taken_by_connect(self, event_id: str) -> bool:
        async with self.apps[0].state.db.sessionmaker() as session:
            count = await session.scalar(select(func.count()).where(Delivery.event_id == event_id))
        return bool(count)

    async def publish_in_order(self, events: list[EventPayload]) -> None:
        """Each event once connect-svc has taken the one before (the order the centre's services publish them in
        is then the order connect-svc reads them in, across topics too)."""
        for event in events:
            event_id = await self.publish(event)
            await wait_for(
                lambda event_id=event_id: self.taken_by_connect(event_id),
                60,
                interval=0.02,
                what=f"{type(event).__name__} taken by connect-svc",
            )

    async def deliveries(self, code: str | None = None) -> list[Delivery]:
        async with self.apps[0].state.db.sessionmaker() as session:
            query = select(Delivery).order_by(Delivery.dossier_id, Delivery.seq)
            if code is not None:
                query = query.where(Delivery.dossier_code == code)
            return list((await session.execute(query)).scalars())

    async def list(self, **query: Any) -> dict[str, Any]:
        r = await self.client.get("/", params=query, headers=self.admin())
        assert r.status_code == 200, r.text
        return dict(r.json())


@asynccontextmanager
async def connect_env(
    url: str, bootstrap: str, prefix: str, *, replicas: int = 1, **overrides: Any
) -> AsyncIterator[Connect]:
    """The portal simulator and `replicas` connect-svc apps on one database, consuming the session's broker."""
    await migrate("connect-svc", url)
    async with AsyncExitStack() as stack:
        publisher = await stack.enter_async_context(Publisher(bootstrap, prefix, source="/tests"))
        portal_url = await stack.enter_async_context(on_socket(build_portal()))
        portal = Portal(await stack.enter_async_context(httpx.AsyncClient(base_url=portal_url, timeout=30)))
        settings = Settings(
            database_url=url,
            kafka_bootstrap_servers=bootstrap,
            topic_prefix=prefix,
            portal_url=portal_url,
            **{**FAST, **overrides},
        )
        apps = [build_app(settings) for _ in range(replicas)]
        clients = [await stack.enter_async_context(serve(app)) for app in apps]
        yield Connect(settings, apps, clients, publisher, portal)
