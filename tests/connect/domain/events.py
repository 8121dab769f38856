"""Events of one dossier for connect-svc's tests: received at a ward, routed ward → city → province, supplemented,
extended, processed, returned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.contracts import intake, payment, routing
from services.contracts.intake import Channel, FeeItem
from services.contracts.routing import HopKind, NationalStatus, Outcome
from services.events import EventPayload

WARD, CITY, PROVINCE = "000.01.31.H57", "000.10.31.H57", "000.00.10.H57"
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 09:00 in Huế
S = NationalStatus


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def journey(dossier_id: str, code: str) -> list[EventPayload]:
    """Every event of the dossier's life, in the order the centre's services publish them."""
    ref = {"dossier_id": dossier_id, "code": code}
    hop = {"kind": HopKind.FORWARD, "actor": "officer.ward"}
    return [
        intake.DossierReceived(
            **ref,
            procedure_code="1.000001",
            procedure_version=1,
            field_code="G01-HT",
            receiving_unit=WARD,
            channel=Channel.ONLINE,
            applicant_kind="citizen",
            received_at=at(0),
            appointment_at=at(240),
            fees=[FeeItem(code="LP1", name="Lệ phí", amount=8000)],
        ),
        routing.JourneyStarted(
            **ref,
            at=at(0),
            status=S.NEW,
            procedure_code="1.000001",
            procedure_version=1,
            field_code="G01-HT",
            receiving_unit=WARD,
            inter_level=True,
            steps=[],
            due_at=at(240),
        ),
        payment.BillRequested(
            bill_id="b1",
            dossier_id=dossier_id,
            dossier_code=code,
            receiving_unit=WARD,
            at=at(0.1),
            procedure_code="1.000001",
            field_code="G01-HT",
            dossier_channel="online",
            amount=8000,
        ),
        routing.HopAccepted(
            **ref, at=at(1), status=S.ACCEPTED, hop_id=1, from_unit=WARD, to_unit=WARD, step_seq=1, **hop
        ),
        routing.StepCompleted(
            **ref, at=at(5), status=S.PROCESSING, step_seq=1, level="commune", unit=WARD, due_at=at(48), late=False
        ),
        routing.HopRequested(
            **ref, at=at(5.1), status=S.PROCESSING, hop_id=2, from_unit=WARD, to_unit=CITY, step_seq=2, **hop
        ),
        routing.HopAccepted(
            **ref, at=at(6), status=S.PROCESSING, hop_id=2, from_unit=WARD, to_unit=CITY, step_seq=2, **hop
        ),
        intake.DossierSupplementRequested(**ref, at=at(7), missing=["TK"], reason="Tờ khai mờ"),
        routing.SupplementRequested(
            **ref,
            at=at(7),
            status=S.SUPPLEMENT_REQUESTED,
            unit=CITY,
            receiving_unit=WARD,
            missing=["TK"],
            reason="Tờ khai mờ",
        ),
        intake.DossierSupplemented(**ref, at=at(30), appointment_at=at(300)),
        routing.JourneyResumed(**ref, at=at(30), status=S.PROCESSING, unit=CITY, paused_working_days=1, due_at=at(300)),
        routing.JourneyExtended(
            **ref,
            at=at(50),
            status=S.PROCESSING,
            unit=CITY,
            reason="Cần xác minh",
            previous_appointment_at=at(300),
            appointment_at=at(400),
            appointment_date=at(400).date(),
        ),
        routing.HopRequested(
            **ref, at=at(60), status=S.PROCESSING, hop_id=3, from_unit=CITY, to_unit=PROVINCE, step_seq=3, **hop
        ),
        routing.HopAccepted(
            **ref, at=at(61), status=S.PROCESSING, hop_id=3, from_unit=CITY, to_unit=PROVINCE, step_seq=3, **hop
        ),
        routing.JourneyProcessed(
            **ref,
            at=at(90),
            status=S.PROCESSED,
            unit=PROVINCE,
            outcome=Outcome.APPROVED,
            result="GCN số 12",
            due_at=at(400),
            late=False,
        ),
        routing.ResultAtDesk(**ref, at=at(95), status=S.PROCESSED, receiving_unit=WARD, outcome=Outcome.APPROVED),
        intake.DossierResultReturned(**ref, at=at(100), channel=Channel.ONLINE),
        routing.JourneyClosed(**ref, at=at(100), status=S.RESULT_RETURNED, reason="result returned"),
    ]
