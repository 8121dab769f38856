"""Helpers of the routing tests: a running routing-svc, a producer for intake and catalogue events, an event tap."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from routing.main import build_app
from routing.settings import Settings

from services.calendar import WorkingCalendar
from services.contracts.catalogue import (
    DecisionKind,
    ProcedureContent,
    ProcedurePublished,
    RouteStep,
    UnitChanged,
    UnitKind,
)
from services.contracts.intake import Channel, DossierReceived
from services.events import EventPayload, registry
from services.identity import Identity, Role, mint
from services.topics import (
    CATALOGUE_PROCEDURES,
    CATALOGUE_UNITS,
    DOMAIN_TOPICS,
    INTAKE_DOSSIERS,
    ROUTING_JOURNEYS,
    ensure_topics,
)
from tests.harness import migrate, serve
from tests.support import Publisher, factories, feed_catalogue, wait_for

# Huế, 2020: ward → city → province (levels are data: commune / district / province)
PROVINCE = "000.00.00.H57"
PROVINCE_JUSTICE = "000.00.10.H57"  # Sở Tư pháp
CITY = "000.00.31.H57"
CITY_JUSTICE = "000.10.31.H57"  # Phòng Tư pháp thành phố
CITY_LABOUR = "000.12.31.H57"  # Phòng Lao động - TB&XH
CITY_OLD = "000.11.31.H57"  # merged into CITY_JUSTICE
WARD = "000.01.31.H57"  # UBND phường Phú Hội
WARD_B = "000.02.31.H57"

INTER3 = "1.000001"  # ward → city → province
INTER2 = "1.000002"  # commune → province (two tiers, since July 2025)
MERGED_ROUTE = "1.000003"  # a step names a merged unit
SIMPLE = "1.000009"  # one step at the receiving unit


def units() -> list[UnitChanged]:
    def u(agency_id: str, name: str, kind: UnitKind, level: str, rank: int, parent: str | None, **kw: Any) -> Any:
        return factories.unit(agency_id, name, level, rank, parent, kind, valid_from=date(2015, 1, 1), **kw)

    adm, agency = UnitKind.ADMINISTRATIVE, UnitKind.AGENCY
    return [
        u(PROVINCE, "UBND tỉnh Thừa Thiên Huế", adm, "province", 1, None),
        u(PROVINCE_JUSTICE, "Sở Tư pháp", agency, "province", 1, PROVINCE),
        u(CITY, "UBND thành phố Huế", adm, "district", 2, PROVINCE),
        u(CITY_JUSTICE, "Phòng Tư pháp thành phố Huế", agency, "district", 2, CITY),
        u(CITY_LABOUR, "Phòng Lao động - Thương binh và Xã hội", agency, "district", 2, CITY),
        u(CITY_OLD, "Phòng Nội vụ (cũ)", agency, "district", 2, CITY, valid_to=date(2020, 1, 1),
          successor_id=CITY_JUSTICE),
        u(WARD, "UBND phường Phú Hội", adm, "commune", 3, CITY),
        u(WARD_B, "UBND phường Vĩnh Ninh", adm, "commune", 3, CITY),
    ]


def procedure(code: str, route: list[tuple[str, str | None, int]]) -> ProcedurePublished:
    content = ProcedureContent(
        name=f"Thủ tục thử {code}",
        field_code="G03-TP01",
        field_name="Hộ tịch",
        levels=["commune", "district", "province"],
        competent_agency="Sở Tư pháp",
        processing_time=10,
        route=[
            RouteStep(order=i, level=level, agency_id=agency, share_percent=share)
            for i, (level, agency, share) in enumerate(route, start=1)
        ],
    )
    decision = factories.decision(DecisionKind.NEW, date(2020, 1, 1), number="1/QĐ-UBND", signed_on=date(2019, 12, 1))
    version = factories.version(code, content, published_by=decision)
    return ProcedurePublished(code=code, revision=1, versions=[version])


PROCEDURES = [
    procedure(INTER3, [("commune", None, 20), ("district", CITY_JUSTICE, 30), ("province", PROVINCE_JUSTICE, 50)]),
    procedure(INTER2, [("commune", None, 40), ("province", PROVINCE_JUSTICE, 60)]),
    procedure(MERGED_ROUTE, [("commune", None, 50), ("district", CITY_OLD, 50)]),
    procedure(SIMPLE, []),
]

CAL = WorkingCalendar()


def received(
    procedure_code: str,
    *,
    unit: str = WARD,
    received_at: datetime | None = None,
    appointment_at: datetime | None = None,
    days: int = 10,
) -> DossierReceived:
    received_at = received_at or datetime.now(UTC) - timedelta(minutes=5)
    n = uuid.uuid4().hex[:8]
    return factories.dossier_received(
        f"d-{n}",
        code=f"{unit}-{received_at:%y%m%d}-{n[:4]}",
        procedure_code=procedure_code,
        field_code="G03-TP01",
        unit=unit,
        channel=Channel.IN_PERSON,
        received_at=received_at,
        appointment_at=appointment_at or CAL.add_working_days(received_at, days),
    )


@dataclass
class Tap:
    """Every event routing publishes, decoded, in arrival order."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def of(self, dossier_id: str, type_suffix: str | None = None) -> list[dict[str, Any]]:
        return [
            data
            for t, data in self.events
            if data.get("dossier_id") == dossier_id and (type_suffix is None or t.endswith(type_suffix))
        ]

    def types(self, dossier_id: str) -> list[str]:
        return [
            t.removeprefix("vn.motcua.").rsplit(".v", 1)[0]
            for t, d in self.events
            if d.get("dossier_id") == dossier_id
        ]


@dataclass
class Env:
    client: httpx.AsyncClient
    settings: Settings
    tap: Tap
    publisher: Publisher
    url: str

    def who(self, unit: str, role: Role = Role.SPECIALIST, subject: str | None = None) -> dict[str, str]:
        token = mint(
            Identity(subject=subject or f"officer@{unit}", role=role, unit=unit),
            self.settings.internal_token_secret.get_secret_value(),
        )
        return {"x-motcua-identity": token}

    async def intake(self, payload: EventPayload, dossier_id: str) -> None:
        await self.publisher.send(INTAKE_DOSSIERS.name, dossier_id, payload)

    async def journey(self, dossier_id: str, unit: str = WARD, timeout: float = 30) -> dict[str, Any]:
        answer: list[httpx.Response] = []

        async def journey_found() -> dict[str, Any] | None:
            answer[:] = [await self.client.get(f"/journeys/{dossier_id}", headers=self.who(unit, Role.LEADER))]
            return dict(answer[0].json()) if answer[0].status_code == 200 else None

        return await wait_for(
            journey_found, timeout, what=lambda: f"journey {dossier_id} did not appear: {answer[0].text}"
        )

    async def start(self, payload: DossierReceived) -> dict[str, Any]:
        await self.intake(payload, payload.dossier_id)
        return await self.journey(payload.dossier_id)

    async def wait_events(self, dossier_id: str, suffix: str, count: int = 1, timeout: float = 30) -> None:
        await wait_for(
            lambda: len(self.tap.of(dossier_id, suffix)) >= count,
            timeout,
            what=lambda: f"{count} × {suffix} for {dossier_id} not seen; saw {self.tap.types(dossier_id)}",
        )


async def _tap(bootstrap: str, topic_name: str, tap: Tap, ready: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        topic_name, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    ready.set()
    try:
        async for record in consumer:
            envelope, payload = registry.decode(record.value or b"")
            tap.events.append((envelope.type, payload.model_dump(mode="json")))
    finally:
        await consumer.stop()


@asynccontextmanager
async def routing_env(url: str, bootstrap: str, prefix: str, **overrides: Any) -> AsyncIterator[Env]:
    """routing-svc migrated and running, the catalogue replica fed from real catalogue events."""
    await migrate("routing-svc", url)
    await ensure_topics(bootstrap, prefix, DOMAIN_TOPICS)
    settings = Settings(
        database_url=url,
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        sweep_enabled=False,
        relay_poll_interval=0.1,
        consumer_retry_backoff=0.05,
        **overrides,
    )
    tap = Tap()
    ready = asyncio.Event()
    tap_task = asyncio.create_task(_tap(bootstrap, ROUTING_JOURNEYS.full_name(prefix), tap, ready))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        async with serve(build_app(settings)) as client, Publisher(bootstrap, prefix, source="/intake") as intake:
            catalogue = [(CATALOGUE_UNITS.name, u.agency_id, u) for u in units()]
            catalogue += [(CATALOGUE_PROCEDURES.name, p.code, p) for p in PROCEDURES]
            await feed_catalogue(bootstrap, prefix, url, catalogue)
            yield Env(client=client, settings=settings, tap=tap, publisher=intake, url=url)
    finally:
        tap_task.cancel()
        await asyncio.gather(tap_task, return_exceptions=True)
