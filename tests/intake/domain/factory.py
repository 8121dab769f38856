"""Dossiers, identities and a catalogue version for the pure domain tests (no database, no broker)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from intake.domain.dossier import Dossier, Fee, Missing, Status

from services.calendar import VN_TZ, CalendarRules, WorkingCalendar
from services.contracts.catalogue import (
    Component,
    Decision,
    DecisionKind,
    FeeItem,
    OnlineLevel,
    ProcedureContent,
    ProcedureVersion,
    ProcessingUnit,
    VersionStatus,
)
from services.contracts.intake import Channel
from services.identity import Citizen, Identity, Role

WARD = "000.00.31.H57"
OTHER_WARD = "000.00.32.H57"
CITY = "000.00.00.H57"
CITIZEN_ID = "046090001234"
OTHER_CITIZEN = "046090009999"
OWNER_REF = "0f" * 32

#: Monday 2 March 2026, 09:00 in Huế.
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=VN_TZ).astimezone(UTC)

CALENDAR = WorkingCalendar(CalendarRules(extra_days_off=[date(2026, 3, 4)], extra_working_days=[date(2026, 3, 7)]))


def vn(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=VN_TZ).astimezone(UTC)


def desk(unit: str = WARD, subject: str = "desk-1") -> Identity:
    return Identity(subject=subject, role=Role.DESK_OFFICER, unit=unit)


def staff(role: Role, unit: str | None = WARD) -> Identity:
    return Identity(subject=f"{role.value}-1", role=role, unit=unit)


def portal(citizen: str | None = CITIZEN_ID, account: str | None = "VNC-0001") -> Identity:
    return Identity(
        subject="portal",
        role=Role.PORTAL,
        citizen=None if citizen is None else Citizen(id_number=citizen, account_id=account),
    )


def version(
    *,
    amount: int = 3,
    unit: ProcessingUnit = ProcessingUnit.WORKING_DAYS,
    status: VersionStatus = VersionStatus.ACTIVE,
    postal: bool = True,
) -> ProcedureVersion:
    return ProcedureVersion(
        code="1.001234",
        version=2,
        effective_from=date(2020, 1, 1),
        status=status,
        decision=Decision(kind=DecisionKind.NEW, number="1/QĐ-UBND", signed_on=date(2020, 1, 1),
                          effective_from=date(2020, 1, 1)),
        content=ProcedureContent(
            name="Đăng ký khai sinh",
            field_code="G03-HT01",
            field_name="Hộ tịch",
            levels=["commune"],
            competent_agency="Ủy ban nhân dân cấp xã",
            processing_time=amount,
            processing_unit=unit,
            fees=[FeeItem(code="LP1", name="Lệ phí", amount=8000)],
            components=[
                Component(code="TK", name="Tờ khai", mandatory=True),
                Component(code="GCS", name="Giấy chứng sinh", mandatory=True),
                Component(code="UQ", name="Văn bản ủy quyền", mandatory=False),
            ],
            online_level=OnlineLevel.FULL,
            postal=postal,
        ),
    )  # fmt: skip


def dossier(status: Status = Status.RECEIVED, **changes: Any) -> Dossier:
    """A dossier received at the ward on `MONDAY`, in `status`."""
    d = Dossier(
        id="d-1",
        code=f"{WARD}-260302-0001",
        receiving_unit=WARD,
        business_date=date(2026, 3, 2),
        seq=1,
        channel=Channel.IN_PERSON,
        status=status,
        procedure_code="1.001234",
        procedure_version=2,
        procedure_name="Đăng ký khai sinh",
        field_code="G03-HT01",
        applicant_kind="citizen",
        applicant_id_number=CITIZEN_ID,
        applicant_name="Nguyễn Văn An",
        phone="0905123456",
        email=None,
        address="12 Lê Lợi",
        account_id=None,
        submitted_at=MONDAY,
        received_at=MONDAY,
        clock_started_at=MONDAY,
        appointment_at=vn(2026, 3, 6, 17),
        processing_amount=3,
        processing_unit="working_days",
        missing=(),
        supplement_reason=None,
        refusal_reasons=(),
        fees=(Fee("LP1", "Lệ phí", 8000),),
        note=None,
        closed_at=vn(2026, 3, 3) if status in (Status.REFUSED, Status.WITHDRAWN, Status.RESULT_RETURNED) else None,
        handed_over_at=MONDAY if status in (Status.PROCESSING, Status.PROCESSED) else None,
        result_at_desk_at=None,
        extended=False,
        created_by="desk-1",
        updated_at=MONDAY,
    )
    if status is Status.SUPPLEMENT_REQUESTED:
        d = replace(d, missing=(Missing("GCS", "Giấy chứng sinh"),), supplement_reason="thiếu", appointment_at=None)
    return replace(d, **changes)
