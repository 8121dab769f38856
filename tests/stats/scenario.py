"""A scripted reporting period whose report is known in advance (the ground truth the tests compare against).

Period 16 May – 15 Aug 2020 (92 days, like the seed's), scope: the city (city itself and its two wards).
Every dossier below says what it tests.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from services.contracts import catalogue as cat
from services.contracts import intake as ik
from services.contracts import payment as pay
from services.contracts import routing as rt
from services.contracts.stats import II06A_KEYS
from services.events import CloudEvent, EventPayload, new_event
from services.topics import CATALOGUE_PROCEDURES, CATALOGUE_UNITS, INTAKE_DOSSIERS, PAYMENT_PAYMENTS, ROUTING_JOURNEYS
from tests.support import factories

VN = timezone(timedelta(hours=7))
PROVINCE = "000.00.00.H57"
CITY = "000.00.31.H57"
WARD_A = "000.01.31.H57"
WARD_B = "000.02.31.H57"
OTHER_CITY = "000.00.32.H57"
PROVINCE_DEPT = "001.00.00.H57"
START, END = date(2020, 5, 16), date(2020, 8, 15)
F1, F2 = "G01-HT", "G01-DD"


def at(day: str, hour: int = 9) -> datetime:
    y, m, d = (int(x) for x in day.split("-"))
    return datetime(y, m, d, hour, 0, tzinfo=VN)


def _unit(agency_id: str, name: str, level: str, rank: int, parent: str | None, kind: str = "administrative") -> Any:
    return factories.unit(agency_id, name, level, rank, parent, kind, valid_from=date(2017, 1, 1))


def _version(
    code: str,
    version: int,
    kind: str,
    effective: str,
    field: tuple[str, str],
    online: str,
    effective_to: str | None = None,
) -> cat.ProcedureVersion:
    eff = date.fromisoformat(effective)
    return factories.version(
        code,
        number=version,
        effective_from=eff,
        effective_to=date.fromisoformat(effective_to) if effective_to else None,
        published_by=factories.decision(kind, eff, number=f"{version}/QĐ-UBND"),
        content=cat.ProcedureContent(
            name=f"Thủ tục {code}",
            field_code=field[0],
            field_name=field[1],
            levels=["district"],
            competent_agency="UBND thành phố",
            processing_time=5,
            online_level=cat.OnlineLevel(online),
        ),
    )


HO_TICH = (F1, "Hộ tịch")
DAT_DAI = (F2, "Đất đai")


def catalogue_events() -> list[tuple[str, EventPayload, str]]:
    units = [
        _unit(PROVINCE, "UBND tỉnh Thừa Thiên Huế", "province", 1, None),
        _unit(PROVINCE_DEPT, "Sở Tài nguyên và Môi trường", "province", 1, PROVINCE, "agency"),
        _unit(CITY, "UBND thành phố Huế", "district", 2, PROVINCE),
        _unit(OTHER_CITY, "UBND thị xã Hương Thủy", "district", 2, PROVINCE),
        _unit(WARD_A, "UBND phường Phú Hội", "commune", 3, CITY),
        _unit(WARD_B, "UBND phường Phú Nhuận", "commune", 3, CITY),
    ]
    offer = [cat.UnitOffering(agency_id=u, online_level=cat.OnlineLevel.FULL) for u in (CITY, WARD_A, WARD_B)]
    p1 = cat.ProcedurePublished(
        code="1.000001",
        revision=1,
        units=offer,
        versions=[_version("1.000001", 1, "new", "2020-01-01", HO_TICH, "full")],
    )
    p2_old = cat.ProcedurePublished(
        code="1.000002",
        revision=1,
        units=[cat.UnitOffering(agency_id=CITY)],
        versions=[_version("1.000002", 1, "new", "2019-01-01", DAT_DAI, "none")],
    )
    p2 = cat.ProcedurePublished(
        code="1.000002",
        revision=2,
        units=[cat.UnitOffering(agency_id=CITY)],
        versions=[
            _version("1.000002", 1, "new", "2019-01-01", DAT_DAI, "none", "2020-06-01"),
            _version("1.000002", 2, "amended", "2020-06-01", DAT_DAI, "none"),
        ],
    )
    p3 = cat.ProcedurePublished(
        code="1.000003",
        revision=1,
        units=[cat.UnitOffering(agency_id=CITY, online_level=cat.OnlineLevel.PARTIAL)],
        versions=[_version("1.000003", 1, "new", "2020-07-01", HO_TICH, "partial")],
    )
    out: list[tuple[str, EventPayload, str]] = [(CATALOGUE_UNITS.name, u, u.agency_id) for u in units]
    # p2's newer revision is published before the older one: the older must not win.
    out += [(CATALOGUE_PROCEDURES.name, p, p.code) for p in (p1, p2, p2_old, p3)]
    return out


def _received(
    d: str, proc: str, field: str, unit: str, channel: str, received: str, appointment: str, fee: int = 0
) -> ik.DossierReceived:
    return factories.dossier_received(
        d,
        code=f"{unit}-{received.replace('-', '')[2:]}-{d[-4:]}",
        procedure_code=proc,
        field_code=field,
        unit=unit,
        channel=channel,
        received_at=at(received),
        appointment_at=at(appointment, 17),
        fees=[ik.FeeItem(code="LP", name="Lệ phí", amount=fee)] if fee else [],
    )


def _processed(d: str, day: str, unit: str = CITY) -> rt.JourneyProcessed:
    return rt.JourneyProcessed(
        dossier_id=d,
        code=d,
        at=at(day, 15),
        status=rt.NationalStatus.PROCESSED,
        unit=unit,
        outcome=rt.Outcome.APPROVED,
        due_at=at(day),
        late=False,
    )


def _returned(d: str, day: str) -> ik.DossierResultReturned:
    return ik.DossierResultReturned(dossier_id=d, code=d, at=at(day, 10), channel=ik.Channel.IN_PERSON)


def _hop(d: str, n: int, to_unit: str) -> rt.HopRequested:
    return rt.HopRequested(
        dossier_id=d,
        code=d,
        at=at("2020-08-02", 8 + n),
        status=rt.NationalStatus.PROCESSING,
        hop_id=n,
        kind=rt.HopKind.FORWARD,
        from_unit=CITY,
        to_unit=to_unit,
        actor="cb1",
    )


def dossier_events() -> list[tuple[str, EventPayload, str]]:
    """(topic, payload, key) in publication order. Routing events of D8 come before its receipt on purpose."""
    intake, routing, payment = INTAKE_DOSSIERS.name, ROUTING_JOURNEYS.name, PAYMENT_PAYMENTS.name
    P1, P2 = "1.000001", "1.000002"
    ev: list[tuple[str, EventPayload, str]] = []

    def add(topic: str, payload: EventPayload) -> None:
        key = getattr(payload, "dossier_id", None) or getattr(payload, "unit", "x")
        ev.append((topic, payload, key))

    # D01 online at the centre, resolved early (3 Jun < 5 Jun).
    add(intake, _received("D01", P1, F1, CITY, "online", "2020-06-01", "2020-06-05"))
    add(routing, _processed("D01", "2020-06-03"))
    add(intake, _returned("D01", "2020-06-08"))  # collected late by the applicant: still early (resolution counts)
    # D02 in person, fee paid online, resolved on the appointment day.
    add(intake, _received("D02", P1, F1, CITY, "in_person", "2020-06-10", "2020-06-15", fee=50000))
    add(
        payment,
        pay.BillRequested(
            bill_id="B02",
            dossier_id="D02",
            dossier_code="D02",
            receiving_unit=CITY,
            at=at("2020-06-10"),
            procedure_code=P1,
            field_code=F1,
            dossier_channel="in_person",
            amount=50000,
        ),
    )
    add(
        payment,
        pay.PaymentPaid(
            bill_id="B02",
            dossier_id="D02",
            dossier_code="D02",
            receiving_unit=CITY,
            at=at("2020-06-10", 10),
            payment_id="PM02",
            provider="payos",
            online=True,
            amount=50000,
            provider_txn_id="T02",
            paid_at=at("2020-06-10", 10),
        ),
    )
    add(routing, _processed("D02", "2020-06-15"))
    # D03 at ward A, fee paid in cash at the desk, resolved late.
    add(intake, _received("D03", P1, F1, WARD_A, "in_person", "2020-07-01", "2020-07-03", fee=20000))
    add(
        payment,
        pay.PaymentPaid(
            bill_id="B03",
            dossier_id="D03",
            dossier_code="D03",
            receiving_unit=WARD_A,
            at=at("2020-07-01", 10),
            payment_id="PM03",
            provider="cash",
            online=False,
            amount=20000,
            provider_txn_id="T03",
            paid_at=at("2020-07-01", 10),
            via="desk",
        ),
    )
    add(routing, _processed("D03", "2020-07-06", WARD_A))
    # D04 received before the period, still open at its start: carried over, resolved late inside the period.
    add(intake, _received("D04", P2, F2, CITY, "in_person", "2020-05-10", "2020-05-20"))
    add(routing, _processed("D04", "2020-05-25"))
    add(intake, _returned("D04", "2020-05-27"))
    # D05 received and resolved before the period: not in the period's form at all.
    add(intake, _received("D05", P2, F2, CITY, "postal", "2020-05-01", "2020-05-12"))
    add(routing, _processed("D05", "2020-05-12"))
    # D06 inter-level (city → province → back), extended once: pending within time at the end; counted once.
    add(intake, _received("D06", P2, F2, CITY, "in_person", "2020-08-01", "2020-08-10"))
    add(
        routing,
        rt.JourneyStarted(
            dossier_id="D06",
            code="D06",
            at=at("2020-08-01", 10),
            status=rt.NationalStatus.NEW,
            procedure_code=P2,
            procedure_version=2,
            field_code=F2,
            receiving_unit=CITY,
            inter_level=True,
            steps=[],
            due_at=at("2020-08-10", 17),
        ),
    )
    add(routing, _hop("D06", 1, PROVINCE_DEPT))
    add(routing, _hop("D06", 2, CITY))
    add(routing, _hop("D06", 3, CITY))
    add(
        routing,
        rt.JourneyExtended(
            dossier_id="D06",
            code="D06",
            at=at("2020-08-07"),
            status=rt.NationalStatus.PROCESSING,
            unit=PROVINCE_DEPT,
            reason="cần xác minh",
            previous_appointment_at=at("2020-08-10", 17),
            appointment_at=at("2020-08-20", 17),
            appointment_date=date(2020, 8, 20),
        ),
    )
    # D07 online at ward B, never resolved: pending and overdue (due 25 Jul).
    add(intake, _received("D07", P1, F1, WARD_B, "online", "2020-07-20", "2020-07-25"))
    add(
        routing,
        rt.JourneyOverdue(
            dossier_id="D07",
            code="D07",
            at=at("2020-07-27"),
            status=rt.NationalStatus.PROCESSING,
            scope="dossier",
            unit=WARD_B,
            due_at=at("2020-07-25", 17),
        ),
    )
    # D08: supplement restart moves the appointment (25 Jun → 2 Jul): resolved 1 Jul is early, not late.
    # Its supplement and processing arrive before its receipt (other topics): order must not matter.
    add(
        intake,
        ik.DossierSupplemented(dossier_id="D08", code="D08", at=at("2020-06-24"), appointment_at=at("2020-07-02", 17)),
    )
    add(routing, _processed("D08", "2020-07-01"))
    add(intake, _received("D08", P2, F2, CITY, "in_person", "2020-06-20", "2020-06-25"))
    # D09 withdrawn by the applicant.
    add(intake, _received("D09", P1, F1, CITY, "in_person", "2020-07-10", "2020-07-20"))
    add(intake, ik.DossierWithdrawn(dossier_id="D09", code="D09", at=at("2020-07-12"), reason="rút hồ sơ"))
    # D10 at another city: outside the city's subtree, inside the whole system.
    add(intake, _received("D10", P1, F1, OTHER_CITY, "online", "2020-07-01", "2020-07-05"))
    # D11 in the previous period (online); D12 after the period.
    add(intake, _received("D11", P1, F1, CITY, "online", "2020-03-01", "2020-03-05"))
    add(routing, _processed("D11", "2020-03-04"))
    add(intake, _received("D12", P1, F1, CITY, "in_person", "2020-08-16", "2020-08-20"))
    # D13: processed on the spot at the desk (no routing processed event): resolved when returned, early.
    add(intake, _received("D13", P1, F1, WARD_A, "in_person", "2020-07-15", "2020-07-20"))
    add(intake, _returned("D13", "2020-07-17"))
    # Accounts assisted: 3 at the centre and 1 at ward A in the period, 1 elsewhere, 1 at the centre before.
    for day, unit in (
        ("2020-06-01", CITY),
        ("2020-06-02", CITY),
        ("2020-08-15", CITY),
        ("2020-07-01", WARD_A),
        ("2020-07-01", OTHER_CITY),
        ("2020-04-01", CITY),
    ):
        add(intake, ik.AccountAssisted(unit=unit, at=at(day)))
    return ev


def envelope(payload: EventPayload, key: str) -> CloudEvent:
    source = "/" + type(payload).__module__.rsplit(".", 1)[-1]
    return new_event(payload, source=source, subject=key)


def _row(code: str, name: str, *values: int) -> dict[str, Any]:
    return {"field_code": code, "field_name": name, **dict(zip(II06A_KEYS, values, strict=True))}


#: II.06a for the city subtree over [START, END]:
#: total online offline carried | resolved early on-time late | pending within overdue | closed
EXPECTED_II06A_ROWS = [
    _row(F2, "Đất đai", 3, 0, 2, 1, 2, 1, 0, 1, 1, 1, 0, 0),
    _row(F1, "Hộ tịch", 6, 2, 4, 0, 4, 2, 1, 1, 1, 0, 1, 1),
]
EXPECTED_II06A_TOTALS = {
    "received_total": 9,
    "received_online": 2,
    "received_offline": 6,
    "carried_over": 1,
    "resolved": 6,
    "resolved_early": 3,
    "resolved_on_time": 1,
    "resolved_late": 2,
    "pending": 2,
    "pending_within": 1,
    "pending_overdue": 1,
    "closed": 1,
}
