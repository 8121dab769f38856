"""Helpers of the intake tests: catalogue data published to the real topics, identities, a controllable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
from intake.main import build_app
from intake.service import Context
from intake.settings import Settings

from services.calendar import VN_TZ
from services.contracts.catalogue import (
    CalendarDay,
    CalendarYearChanged,
    Component,
    FeeItem,
    OnlineLevel,
    ProcedureAbolished,
    ProcedureContent,
    ProcedurePublished,
    ProcedureVersion,
    ProcessingUnit,
    UnitOffering,
    VersionStatus,
)
from services.events import CloudEvent, EventPayload
from services.identity import Citizen, Identity, Role, mint
from services.topics import CATALOGUE_CALENDAR, CATALOGUE_PROCEDURES, CATALOGUE_UNITS
from tests.harness import migrate, serve
from tests.support import factories, feed_catalogue, publish, read_topic, wait_for

WARD = "000.00.31.H57"  # the ward desk of the tests
WARD2 = "000.00.32.H57"  # another ward
CITY = "000.00.00.H57"

P_WORKING = "1.001234"  # 3 working days, two mandatory components, one optional
P_SPOT = "1.000002"  # on the spot
P_CALENDAR = "1.000003"  # 15 calendar days
P_ONE = "1.000004"  # 1 working day
P_TWO = "1.000005"  # 2 working days
P_ABOLISHED = "1.000999"

CITIZEN_ID = "046090001234"  # born in Thừa Thiên Huế (046), male, 1990
PHONE = "0905123456"

def _version(
    code: str,
    name: str,
    amount: int,
    unit: ProcessingUnit,
    *,
    version: int = 1,
    eff: date = date(2020, 1, 1),
    status: VersionStatus = VersionStatus.ACTIVE,
    effective_to: date | None = None,
) -> ProcedureVersion:
    return factories.version(
        code,
        number=version,
        effective_from=eff,
        effective_to=effective_to,
        status=status,
        content=ProcedureContent(
            name=name,
            field_code="G03-HT01",
            field_name="Hộ tịch",
            levels=["commune"],
            competent_agency="Ủy ban nhân dân cấp xã",
            processing_time=amount,
            processing_unit=unit,
            fees=[FeeItem(code="LP1", name="Lệ phí", amount=8000)],
            components=[
                Component(code="TK", name="Tờ khai đăng ký khai sinh", mandatory=True),
                Component(code="GCS", name="Giấy chứng sinh", mandatory=True),
                Component(code="UQ", name="Văn bản ủy quyền", mandatory=False, condition="khi ủy quyền"),
            ],
            online_level=OnlineLevel.FULL,
            postal=True,
        ),
    )


def catalogue_events() -> list[tuple[str, str, EventPayload]]:
    """(topic spec name, key, payload) of the test catalogue."""
    offer = [
        UnitOffering(agency_id=WARD, online_level=OnlineLevel.FULL, postal=True),
        UnitOffering(agency_id=WARD2, online_level=OnlineLevel.NONE, postal=False),
    ]
    procs: list[EventPayload] = [
        ProcedurePublished(
            code=P_WORKING,
            revision=1,
            versions=[_version(P_WORKING, "Đăng ký khai sinh", 3, ProcessingUnit.WORKING_DAYS)],
            units=offer,
        ),
        ProcedurePublished(
            code=P_SPOT,
            revision=1,
            versions=[_version(P_SPOT, "Chứng thực bản sao", 0, ProcessingUnit.ON_THE_SPOT)],
            units=offer,
        ),
        ProcedurePublished(
            code=P_CALENDAR,
            revision=1,
            versions=[_version(P_CALENDAR, "Đăng ký kết hôn", 15, ProcessingUnit.CALENDAR_DAYS)],
            units=offer,
        ),
        ProcedurePublished(
            code=P_ONE,
            revision=1,
            versions=[_version(P_ONE, "Đăng ký khai tử", 1, ProcessingUnit.WORKING_DAYS)],
            units=offer,
        ),
        ProcedurePublished(
            code=P_TWO,
            revision=1,
            versions=[_version(P_TWO, "Đăng ký giám hộ", 2, ProcessingUnit.WORKING_DAYS)],
            units=offer,
        ),
        ProcedureAbolished(
            code=P_ABOLISHED,
            revision=2,
            versions=[
                _version(P_ABOLISHED, "Thủ tục cũ", 5, ProcessingUnit.WORKING_DAYS, effective_to=date(2024, 1, 1)),
                _version(
                    P_ABOLISHED,
                    "Thủ tục cũ",
                    5,
                    ProcessingUnit.WORKING_DAYS,
                    version=2,
                    eff=date(2024, 1, 1),
                    status=VersionStatus.ABOLISHED,
                ),
            ],
            units=offer,
        ),
    ]
    units = [
        factories.unit(CITY, "Ủy ban nhân dân thành phố Huế", "district", 2, None),
        factories.unit(WARD, "Ủy ban nhân dân phường Phú Hội", "commune", 3, CITY),
        factories.unit(WARD2, "Ủy ban nhân dân phường Vĩnh Ninh", "commune", 3, CITY),
    ]
    cal = CalendarYearChanged(
        year=2026,
        revision=1,
        days=[
            CalendarDay(day=date(2026, 1, 2), kind="off", note="nghỉ bù Tết Dương lịch"),
            CalendarDay(day=date(2026, 1, 10), kind="work", note="làm bù"),
        ],
    )
    out: list[tuple[str, str, EventPayload]] = [(CATALOGUE_PROCEDURES.name, p.code, p) for p in procs]  # type: ignore[attr-defined]
    out += [(CATALOGUE_UNITS.name, u.agency_id, u) for u in units]
    out.append((CATALOGUE_CALENDAR.name, "2026", cal))
    return out


class Clock:
    """The moment of receipt the app sees; None = the real clock."""

    def __init__(self) -> None:
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at if self.at is not None else datetime.now(UTC)

    def set_vn(self, y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> None:
        self.at = datetime(y, m, d, hh, mm, tzinfo=VN_TZ).astimezone(UTC)


class Env:
    def __init__(self, client: httpx.AsyncClient, settings: Settings, clock: Clock, url: str, context: Context) -> None:
        self.client = client
        self.context = context
        self.settings = settings
        self.clock = clock
        self.url = url

    def token(self, identity: Identity) -> dict[str, str]:
        return {"x-motcua-identity": mint(identity, self.settings.internal_token_secret.get_secret_value(), ttl=600)}

    def desk(self, unit: str = WARD, subject: str = "desk-1") -> dict[str, str]:
        return self.token(Identity(subject=subject, role=Role.DESK_OFFICER, unit=unit))

    def token_for_role(self, role: str, unit: str | None = WARD) -> dict[str, str]:
        return self.token(Identity(subject=f"{role}-1", role=Role(role), unit=unit))

    def portal(self, citizen: str = CITIZEN_ID, account: str | None = "VNC-0001") -> dict[str, str]:
        return self.token(
            Identity(subject="portal", role=Role.PORTAL, citizen=Citizen(id_number=citizen, account_id=account))
        )


@asynccontextmanager
async def intake_env(
    databases: Any, broker: Any, topic_prefix: str, tmp: Path, *, feed: bool = True, **settings_overrides: Any
) -> AsyncIterator[Env]:
    url = await databases.new("intake")
    await migrate("intake-svc", url)
    settings = Settings(
        database_url=url,
        kafka_bootstrap_servers=broker.bootstrap,
        topic_prefix=topic_prefix,
        storage_dir=str(tmp / "files"),
        max_file_bytes=64 * 1024,
        db_pool_size=10,
        log_level="WARNING",
        **settings_overrides,
    )
    clock = Clock()
    app = build_app(settings, clock=clock)
    async with serve(app) as client:
        if feed:
            await feed_catalogue(broker.bootstrap, topic_prefix, url, catalogue_events())
        yield Env(client, settings, clock, url, app.state.intake)


def submission(
    procedure: str = P_WORKING,
    *,
    channel: str = "in_person",
    documents: Iterable[str] = ("TK", "GCS"),
    uploads: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "procedure_code": procedure,
        "channel": channel,
        "applicant": {
            "kind": "citizen",
            "id_number": CITIZEN_ID,
            "name": "Nguyễn Văn An",
            "phone": PHONE,
            "email": "an.nguyen@example.vn",
            "address": "12 Lê Lợi, phường Phú Hội, Huế",
            "account_id": "VNC-0001",
        },
        "documents": [
            {"component_code": c, **({"upload_id": uploads[c]} if uploads and c in uploads else {})} for c in documents
        ],
    }
    body.update(extra)
    return body


async def read_events(bootstrap: str, topic: str, expected: int, timeout: float = 30) -> list[tuple[bytes, CloudEvent]]:
    """At least `expected` events of the topic (from the start): each as its bytes and its envelope."""
    return [(r.value, r.decode()[0]) for r in await read_topic(bootstrap, topic, expect=expected, timeout=timeout)]


async def routing_events(
    env: Env, dossier: dict[str, Any], *events: EventPayload, steps: int | None = None
) -> None:
    """Publish routing's events of a dossier as routing-svc does, and wait until intake has applied them (seen as
    `steps` new history steps, by default one per event)."""
    from services.topics import ROUTING_JOURNEYS

    async def history() -> list[dict[str, Any]]:
        track = await env.client.get(f"/tracking/{dossier['code']}", params={"phone": PHONE}, headers=env.desk())
        return list(track.json()["steps"])

    seen = await history()
    wanted = len(seen) + (len(events) if steps is None else steps)
    batch = [(ROUTING_JOURNEYS.name, dossier["id"], e) for e in events]
    await publish(env.settings.kafka_bootstrap_servers, env.settings.topic_prefix, batch, source="/routing")

    async def applied() -> bool:
        seen[:] = await history()
        return len(seen) >= wanted

    await wait_for(applied, what=lambda: f"intake did not apply routing's events: {seen}")


async def result_at_desk(env: Env, dossier: dict[str, Any], unit: str = WARD) -> None:
    """Routing brings the result of the dossier (processed at `unit`) back to its receiving desk."""
    from services.contracts import routing as r

    ref = {"dossier_id": dossier["id"], "code": dossier["code"], "at": env.clock()}
    due = datetime.fromisoformat(dossier["appointment_at"])
    await routing_events(
        env,
        dossier,
        journey_started(dossier, env.clock()),
        r.JourneyProcessed(
            **ref, status=r.NationalStatus.PROCESSED, unit=unit, outcome=r.Outcome.APPROVED, result="Kết quả",
            due_at=due, late=False,
        ),
        r.ResultAtDesk(**ref, status=r.NationalStatus.PROCESSED, receiving_unit=dossier["receiving_unit"],
                       outcome=r.Outcome.APPROVED),
    )  # fmt: skip


def journey_started(dossier: dict[str, Any], at: datetime) -> EventPayload:
    from services.contracts import routing as r

    return r.JourneyStarted(
        dossier_id=dossier["id"], code=dossier["code"], at=at, status=r.NationalStatus.NEW,
        procedure_code=dossier["procedure_code"], procedure_version=1, field_code="G03-HT01",
        receiving_unit=dossier["receiving_unit"], inter_level=False, steps=[],
        due_at=datetime.fromisoformat(dossier["appointment_at"]),
    )  # fmt: skip
