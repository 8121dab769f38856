"""The portal's records from the centre's events (connect.domain.records): pure, no broker, no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from connect.domain import records
from connect.domain.records import F, Kind, PortalDossier, portal_time

from services.contracts import intake, routing
from services.contracts.routing import NationalStatus
from tests.connect.domain.events import CITY, WARD, at, journey


def fold(events: list[object]) -> tuple[PortalDossier, list[records.Change]]:
    view: PortalDossier | None = None
    changes: list[records.Change] = []
    for event in events:
        view = view or records.new_view(event)  # type: ignore[arg-type]
        decision = records.decide(view, event)  # type: ignore[arg-type]
        view = decision.dossier
        changes += decision.changes
    assert view is not None
    return view, changes


def test_dates_are_yyyymmddhhmmss_in_ho_chi_minh_time() -> None:
    assert portal_time(datetime(2026, 3, 2, 17, 30, 5, tzinfo=UTC)) == "20260303003005"


def test_a_received_dossier_is_one_dossier_record_with_the_portal_codes() -> None:
    (received, *_) = journey("d1", "H57-001")
    view, changes = fold([received])
    assert [c.kind for c in changes] == [Kind.DOSSIER]
    assert changes[0].record == {
        F.CODE: "H57-001",
        F.RECEIPT_NUMBER: "H57-001",
        F.PROCEDURE_CODE: "1.000001",
        F.FIELD_CODE: "G01-HT",
        F.CHANNEL: 2,
        F.APPLICANT_KIND: 1,
        F.RECEIVED_AT: "20260302090000",
        F.APPOINTMENT_AT: "20260312090000",
        F.STATUS: 2,
        F.UNIT: WARD,
        F.FEES: [{F.FEE_CODE: "LP1", F.FEE_AMOUNT: 8000}],
    }
    assert view.received


@pytest.mark.parametrize(("channel", "code"), [("in_person", 1), ("online", 2), ("postal", 3)])
def test_channel_codes(channel: str, code: int) -> None:
    received = journey("d1", "c")[0]
    assert isinstance(received, intake.DossierReceived)
    _, changes = fold([received.model_copy(update={"channel": intake.Channel(channel)})])
    assert changes[0].record[F.CHANNEL] == code


def test_an_organisation_is_loai_doi_tuong_2() -> None:
    received = journey("d1", "c")[0]
    _, changes = fold([received.model_copy(update={"applicant_kind": "organisation"})])
    assert changes[0].record[F.APPLICANT_KIND] == 2


def test_the_whole_journey_in_order() -> None:
    view, changes = fold(journey("d1", "H57-001"))
    kinds = [c.kind.value for c in changes]
    assert kinds == [
        "dossier",  # received
        "step",
        "step",
        "step",
        "step",
        "step",
        "step",  # started, bill, accepted, step 1, hop to city, accepted
        "dossier",  # supplement requested (intake)
        "step",  # supplement requested (routing)
        "dossier",  # supplemented
        "step",  # resumed
        "step",
        "dossier",  # extended: the step, then the new appointment
        "step",
        "step",  # hop to the province, accepted
        "step",
        "dossier",  # processed
        "step",  # result at the desk
        "dossier",  # returned
        "step",  # closed
    ]
    steps = [c.record for c in changes if c.kind is Kind.STEP]
    assert [s[F.STEP_STATUS] for s in steps] == [2, 6, 2, 4, 4, 4, 5, 4, 4, 4, 4, 9, 9, 10]
    assert all(s[F.CODE] == "H57-001" for s in steps)
    assert steps[4][F.DEPARTMENT] == WARD and steps[5][F.DEPARTMENT] == CITY
    last = [c.record for c in changes if c.kind is Kind.DOSSIER][-1]
    assert last[F.STATUS] == NationalStatus.RESULT_RETURNED
    assert last[F.RETURNED_AT] == portal_time(at(100))
    assert last[F.PROCESSED_AT] == portal_time(at(90))
    assert last[F.APPOINTMENT_AT] == portal_time(at(400))
    assert last[F.SUPPLEMENTS] == [
        {F.SUPPLEMENT_PREVIOUS: portal_time(at(240)), F.SUPPLEMENT_NEW: portal_time(at(300))}
    ]
    assert view.status is NationalStatus.RESULT_RETURNED


def test_routing_before_intake_queues_the_steps_and_the_dossier_record_still_comes() -> None:
    received, started, *_ = journey("d1", "c")
    view, changes = fold([started, received])
    assert [c.kind for c in changes] == [Kind.STEP, Kind.DOSSIER]
    assert changes[1].record[F.STATUS] == NationalStatus.ACCEPTED
    assert view.received


def test_intake_changes_before_receipt_tell_the_portal_nothing() -> None:
    ref = {"dossier_id": "d1", "code": "c"}
    early = intake.DossierSupplementRequested(**ref, at=at(0), missing=["TK"], reason="x", before_receipt=True)
    _, changes = fold([early])
    assert changes == []


def test_a_refusal_at_processing_is_a_dossier_update_with_status_3() -> None:
    received = journey("d1", "c")[0]
    refused = routing.JourneyProcessed(
        dossier_id="d1",
        code="c",
        at=at(9),
        status=NationalStatus.REJECTED,
        unit=WARD,
        outcome=routing.Outcome.REFUSED,
        reasons=["Không đủ điều kiện"],
        due_at=at(240),
        late=False,
    )
    _, changes = fold([received, refused])
    assert changes[1].record[F.CONTENT] == "Từ chối giải quyết: Không đủ điều kiện"
    assert changes[2].record[F.STATUS] == 3


def test_no_personal_data_reaches_a_record() -> None:
    _, changes = fold(journey("d1", "c"))
    for change in changes:
        assert not {"ChuHoSo", "MaDoiTuong", "SoDienThoai", "Email"} & set(change.record)


def test_an_event_read_late_from_another_topic_does_not_set_the_dossier_back() -> None:
    events = journey("d1", "c")
    intake_events = [e for e in events if isinstance(e, intake.DossierRef)]
    others = [e for e in events if not isinstance(e, intake.DossierRef)]
    in_order, _ = fold(events)
    for shuffled in (intake_events + others, others + intake_events):
        view, changes = fold(shuffled)
        assert view.record() == in_order.record()
        dossier_records = [c.record for c in changes if c.kind is Kind.DOSSIER]
        assert dossier_records[-1] == in_order.record()
        assert dossier_records[-1][F.STATUS] == NationalStatus.RESULT_RETURNED


def test_the_catalogue_names_go_with_a_received_dossier() -> None:
    received = journey("d1", "c")[0]
    decision = records.decide(records.new_view(received), received, names=("Đăng ký khai sinh", "Hộ tịch"))
    assert decision.changes[0].record[F.PROCEDURE_NAME] == "Đăng ký khai sinh"
    assert decision.changes[0].record[F.FIELD_NAME] == "Hộ tịch"
    assert F.PROCEDURE_NAME not in records.decide(records.new_view(received), received).changes[0].record
