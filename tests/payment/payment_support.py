"""Shared pieces of payment-svc's tests: a running service on a real database and broker, identities, events."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from payment import service
from payment.main import build_app
from payment.providers import SignedRequest
from payment.settings import Settings
from payment.webhooks.service import build_providers
from provider_simulator import Books, Order, provider_app
from sqlalchemy import func, select

from services import policy
from services.bus.tables import outbox
from services.contracts.intake import Channel, DossierReceived, DossierRefused
from services.db import Database
from services.events import CloudEvent
from services.identity import HEADER, Citizen, Identity, Role, mint
from services.topics import INTAKE_DOSSIERS, PAYMENT_PAYMENTS, ensure_topics
from tests.conftest import Broker, DatabaseFactory
from tests.harness import migrate, serve
from tests.support import Record, factories, publish, read_topic

UNIT = "000.00.31.H57"
OTHER_UNIT = "000.00.32.H57"
CITIZEN = "046090001234"  # the applicant of the test dossiers, for whom the portal acts


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(str(record.msg))


@dataclass
class Env:
    client: httpx.AsyncClient
    db: Database
    settings: Settings
    app: FastAPI
    #: the providers' books: what the provider simulator (serving their APIs over HTTP) knows it was paid
    books: Books
    security_log: Captured = field(default_factory=Captured)

    def headers(self, identity: Identity) -> dict[str, str]:
        return {HEADER: mint(identity, self.settings.internal_token_secret.get_secret_value())}

    @property
    def desk(self) -> dict[str, str]:
        return self.headers(Identity(subject="desk-1", role=Role.DESK_OFFICER, unit=UNIT))

    @property
    def portal(self) -> dict[str, str]:
        return self.headers(Identity(subject="portal", role=Role.PORTAL, citizen=Citizen(id_number=CITIZEN)))

    @property
    def admin(self) -> dict[str, str]:
        return self.headers(Identity(subject="admin-1", role=Role.ADMIN))

    def provider(self, name: str) -> Any:
        return build_providers(self.settings)[name]

    async def send(
        self, provider: str, request: SignedRequest, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """A callback exactly as the provider sends it (plus `headers`, e.g. what a proxy adds). The provider
        books what it announces, so that its APIs (status query, refunds) know the payment afterwards."""
        self.book(provider, request)
        hdrs = {**request.headers, **(headers or {})}
        url = f"/webhooks/{provider}"
        if request.method == "GET":
            return await self.client.get(f"{url}?{request.query_string}", headers=hdrs)
        return await self.client.post(url, content=request.body, headers=hdrs)

    def book(self, provider: str, request: SignedRequest) -> None:
        try:
            note = self.provider(provider).verify(request.body, request.query_string, request.headers)
        except Exception:  # a forged or broken callback: the provider never sent it
            return
        if (provider, note.order_ref) not in self.books.orders or note.status == "paid":
            self.books.orders[(provider, note.order_ref)] = Order(
                provider, note.order_ref, note.amount, note.provider_txn_id, note.status == "paid",
                note.paid_at or datetime.now(UTC),
            )

    async def bill_for(self, dossier_id: str | None = None, amount: int = 50_000, unit: str = UNIT) -> dict[str, Any]:
        """Open a bill exactly as the intake consumer does (the handler, in one transaction)."""
        received = dossier_received(dossier_id or str(uuid.uuid4()), [amount], unit=unit)
        async with self.db.sessionmaker() as session, session.begin():
            bill = await service.open_bill(session, self.settings, received)
            assert bill is not None
        response = await self.client.get(f"/bills/{bill.id}", headers=self.admin)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def start(self, bill: dict[str, Any], provider: str) -> dict[str, Any]:
        response = await self.client.post(
            f"/bills/{bill['id']}/payments", json={"provider": provider}, headers=self.portal
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def payment(self, payment_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/payments/{payment_id}", headers=self.admin)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def ledger(self, bill_id: str) -> list[dict[str, Any]]:
        response = await self.client.get(f"/bills/{bill_id}/ledger", headers=self.admin)
        assert response.status_code == 200, response.text
        return list(response.json())

    async def outbox_events(self) -> list[CloudEvent]:
        async with self.db.sessionmaker() as session:
            rows = (await session.execute(select(outbox.c.value).order_by(outbox.c.id))).scalars().all()
        return [CloudEvent.from_json(v) for v in rows]

    async def count(self, table: Any) -> int:
        async with self.db.sessionmaker() as session:
            return int(await session.scalar(select(func.count()).select_from(table)) or 0)


@asynccontextmanager
async def running(
    databases: DatabaseFactory,
    broker: Broker,
    topic_prefix: str,
    *,
    relay: bool = False,
    consumers: bool = False,
    http: bool = False,
    **overrides: Any,
) -> AsyncIterator[Env]:
    """payment-svc on a fresh database: in-process (ASGI) or, with `http=True`, a real uvicorn server on a port."""
    url = await databases.new("payment")
    await migrate("payment-svc", url)
    if relay:  # without consumers the service does not create the topics itself
        await ensure_topics(broker.bootstrap, topic_prefix, [INTAKE_DOSSIERS, PAYMENT_PAYMENTS])
    books = Books(lost_answer_delay=3.0)
    async with serve_http(provider_app(books, Settings())) as providers:
        base = str(providers.base_url).rstrip("/")
        apis = {"vnpay_api_url": f"{base}/merchant_webapi/api/transaction", "payos_api_url": base,
                "momo_api_url": base, "zalopay_api_url": base, "provider_api_timeout": 1.5}
        settings = Settings(
            database_url=url,
            kafka_bootstrap_servers=broker.bootstrap,
            topic_prefix=topic_prefix,
            relay_enabled=relay,
            consumers_enabled=consumers,
            expiry_sweep_interval=0,
            log_json=True,
            **{**apis, **overrides},
        )
        app = build_app(settings)
        captured = Captured()
        async with serve_http(app) if http else serve(app) as client:
            logging.getLogger("payment.security").addHandler(captured)
            try:
                yield Env(client=client, db=app.state.db, settings=settings, app=app, books=books,
                          security_log=captured)
            finally:
                logging.getLogger("payment.security").removeHandler(captured)


@asynccontextmanager
async def serve_http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app under uvicorn on a free local port (lifespan included); the client speaks real HTTP to it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        await task


def dossier_received(
    dossier_id: str, amounts: list[int], *, unit: str = UNIT, code: str | None = None, applicant: str = CITIZEN
) -> DossierReceived:
    at = datetime.now(UTC)
    return factories.dossier_received(
        dossier_id,
        code=code or f"{unit}-{at:%y%m%d}-{uuid.uuid4().int % 10000:04d}",
        procedure_code="1.001234",
        field_code="G09-TP01",
        unit=unit,
        channel=Channel.ONLINE,
        received_at=at,
        appointment_at=at + timedelta(days=3),
        fees=amounts,
        owner_ref=policy.owner_ref(Settings().owner_ref_secret.get_secret_value(), applicant),
    )


def dossier_refused(dossier_id: str, code: str, unit: str = UNIT) -> DossierRefused:
    return DossierRefused(
        dossier_id=dossier_id, code=code, at=datetime.now(UTC), receiving_unit=unit, reasons=["Không đủ điều kiện"]
    )


async def produce_intake(broker: Broker, prefix: str, payloads: list[Any]) -> list[CloudEvent]:
    """Publish intake events as intake-svc's relay does: structured CloudEvents keyed by dossier id."""
    batch = [(INTAKE_DOSSIERS.name, payload.dossier_id, payload) for payload in payloads]
    return await publish(broker.bootstrap, prefix, batch, source="/intake")


async def payment_topic_events(
    broker: Broker, prefix: str, *, expect: int, settle: float = 2.0, timeout: float = 30.0
) -> list[tuple[str, dict[str, Any]]]:
    """(type, data) of every event on payment.payments: wait for `expect`, then `settle` more seconds for extras."""
    records = await read_topic(
        broker.bootstrap, PAYMENT_PAYMENTS.full_name(prefix), expect=expect, settle=settle, timeout=timeout
    )
    return [(envelope.type, json.loads(payload.model_dump_json())) for envelope, payload in map(Record.decode, records)]


def short(event_type: str) -> str:
    """vn.motcua.payment.payment.paid.v1 → payment.paid"""
    parts = event_type.split(".")
    return ".".join(parts[3:5])
