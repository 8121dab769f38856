"""What routing's and payment's events do to a dossier: the status moves only along the table, a late or crossed
event is a history step only, a closed dossier keeps its status and appointment, the result reaches the desk."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from intake.domain import progress
from intake.domain.dossier import CLOSED, Dossier, Missing, Status, can_move

from services.contracts import payment as pay
from services.contracts import routing as r
from services.events import EventPayload

from .factory import CITY, MONDAY, WARD, dossier, vn

AT = vn(2026, 3, 3, 10)
NEW_DUE = vn(2026, 3, 20, 17)


def ref(at: datetime = AT) -> dict[str, Any]:
    return {"dossier_id": "d-1", "code": "c", "at": at, "status": r.NationalStatus.PROCESSING}


def bill(at: datetime = AT) -> dict[str, Any]:
    return {"bill_id": "b-1", "dossier_id": "d-1", "dossier_code": "c", "receiving_unit": WARD, "at": at}


def hop(kind: type[r.HopEvent], **kw: Any) -> r.HopEvent:
    return kind(**ref(), hop_id=1, kind=r.HopKind.FORWARD, from_unit=WARD, to_unit=CITY, actor="x", **kw)


def started() -> r.JourneyStarted:
    return r.JourneyStarted(**ref(), procedure_code="p", procedure_version=1, field_code="f", receiving_unit=WARD,
                            inter_level=True, steps=[], due_at=NEW_DUE)  # fmt: skip


def processed(unit: str = CITY, outcome: r.Outcome = r.Outcome.APPROVED) -> r.JourneyProcessed:
    return r.JourneyProcessed(**ref(), unit=unit, outcome=outcome, result="GKS 1", reasons=["sai", "thiếu"],
                              due_at=NEW_DUE, late=False)  # fmt: skip


def every_event() -> list[EventPayload]:
    payment = {**bill(), "payment_id": "p-1", "provider": "payos", "online": True, "amount": 8000}
    return [
        started(),
        hop(r.HopRequested, note="chuyển"),
        hop(r.HopAccepted),
        hop(r.HopRejected, reason="sai nơi"),
        r.StepCompleted(**ref(), step_seq=1, level="ward", unit=WARD, due_at=NEW_DUE, late=False),
        r.SupplementRequested(**ref(), unit=CITY, receiving_unit=WARD, missing=["GCS", "ZZ"], reason="bổ sung"),
        r.JourneyResumed(**ref(), unit=CITY, paused_working_days=2, due_at=NEW_DUE),
        r.JourneyExtended(
            **ref(),
            unit=CITY,
            reason="gia hạn",
            previous_appointment_at=MONDAY,
            appointment_at=NEW_DUE,
            appointment_date=NEW_DUE.date(),
        ),
        r.JourneyOverdue(**ref(), scope="dossier", unit=CITY, due_at=NEW_DUE),
        r.JourneyOverdue(**ref(), scope="step", unit=CITY, due_at=NEW_DUE),
        processed(),
        processed(WARD),
        processed(outcome=r.Outcome.REFUSED),
        r.ResultAtDesk(**ref(), receiving_unit=WARD, outcome=r.Outcome.APPROVED),
        pay.BillRequested(**bill(), procedure_code="p", field_code="f", dossier_channel="online", amount=8000),
        pay.PaymentPaid(**payment, provider_txn_id="t", paid_at=AT),
        pay.BillCancelled(**bill(), reason="refused"),
        pay.PaymentRefunded(**payment, refund_amount=8000, refunded_total=8000, fully_refunded=True, reason="r"),
    ]


def test_every_handled_type_has_an_example_here() -> None:
    assert {type(e) for e in every_event()} == set(progress.HANDLED)


def test_the_hand_over_moves_a_received_dossier_to_processing_and_marks_it() -> None:
    decision = progress.decide(dossier(Status.RECEIVED), started())
    assert decision is not None
    assert (decision.dossier.status, decision.dossier.handed_over_at) == (Status.PROCESSING, AT)
    assert (decision.step.action, decision.step.status, decision.step.actor) == ("handed_over", Status.PROCESSING, None)


def test_the_hand_over_does_not_undo_a_supplement_the_desk_asked_for_meanwhile() -> None:
    decision = progress.decide(dossier(Status.SUPPLEMENT_REQUESTED), started())
    assert decision is not None
    assert decision.dossier.status is Status.SUPPLEMENT_REQUESTED and decision.dossier.handed_over_at == AT
    assert decision.step.action == "handed_over"


def test_hops_steps_bills_and_payments_are_history_steps_only() -> None:
    d = dossier(Status.PROCESSING)
    expected = {
        r.HopRequested: ("transfer_requested", CITY, "chuyển"),
        r.HopAccepted: ("transfer_accepted", CITY, None),
        r.HopRejected: ("transfer_rejected", CITY, "sai nơi"),
        r.StepCompleted: ("step_completed", WARD, None),
        pay.BillRequested: ("payment_requested", None, "8000 VND"),
        pay.PaymentPaid: ("paid", None, "8000 VND"),
        pay.BillCancelled: ("bill_cancelled", None, None),
        pay.PaymentRefunded: ("refunded", None, "8000 VND"),
    }
    for event in every_event():
        if type(event) in expected:
            decision = progress.decide(d, event)
            assert decision is not None and decision.dossier == d
            assert (decision.step.action, decision.step.unit, decision.step.note) == expected[type(event)]


def test_the_agencys_supplement_request_names_the_components_it_knows() -> None:
    (event,) = [e for e in every_event() if isinstance(e, r.SupplementRequested)]
    decision = progress.decide(dossier(Status.PROCESSING), event, {"GCS": "Giấy chứng sinh"})
    assert decision is not None
    assert decision.dossier.status is Status.SUPPLEMENT_REQUESTED
    assert decision.dossier.missing == (Missing("GCS", "Giấy chứng sinh"), Missing("ZZ", "ZZ"))
    assert (decision.step.unit, decision.step.note) == (CITY, "bổ sung")
    assert progress.decide(dossier(Status.PROCESSED), event) is None  # decided already: not sent back
    assert progress.decide(dossier(Status.WITHDRAWN), event) is None


def test_resumption_restarts_processing_with_routings_due_date() -> None:
    (event,) = [e for e in every_event() if isinstance(e, r.JourneyResumed)]
    decision = progress.decide(dossier(Status.SUPPLEMENT_REQUESTED), event)
    assert decision is not None
    assert (decision.dossier.status, decision.dossier.appointment_at) == (Status.PROCESSING, NEW_DUE)


def test_the_one_extension_moves_the_appointment_of_an_open_dossier() -> None:
    (event,) = [e for e in every_event() if isinstance(e, r.JourneyExtended)]
    decision = progress.decide(dossier(Status.PROCESSING), event)
    assert decision is not None
    assert (decision.dossier.appointment_at, decision.dossier.extended) == (NEW_DUE, True)
    assert (decision.step.action, decision.step.note) == ("extended", "gia hạn")
    assert progress.decide(dossier(Status.RESULT_RETURNED), event) is None


def test_only_the_dossiers_own_deadline_is_a_step() -> None:
    dossier_scope, step_scope = [e for e in every_event() if isinstance(e, r.JourneyOverdue)]
    assert progress.decide(dossier(Status.PROCESSING), step_scope) is None
    decision = progress.decide(dossier(Status.PROCESSING), dossier_scope)
    assert decision is not None and decision.step.action == "overdue"


def test_a_decision_at_the_receiving_unit_is_at_the_desk_at_once_elsewhere_it_must_come_back() -> None:
    elsewhere = progress.decide(dossier(Status.PROCESSING), processed(CITY))
    at_desk = progress.decide(dossier(Status.PROCESSING), processed(WARD))
    refused = progress.decide(dossier(Status.PROCESSING), processed(outcome=r.Outcome.REFUSED))
    assert elsewhere is not None and at_desk is not None and refused is not None
    assert (elsewhere.dossier.status, elsewhere.dossier.result_at_desk_at) == (Status.PROCESSED, None)
    assert (elsewhere.step.action, elsewhere.step.note) == ("processed_approved", "GKS 1")
    assert at_desk.dossier.result_at_desk_at == AT
    assert (refused.step.action, refused.step.note) == ("processed_refused", "sai; thiếu")
    back = progress.decide(elsewhere.dossier, r.ResultAtDesk(**ref(AT + timedelta(hours=1)), receiving_unit=WARD,
                                                              outcome=r.Outcome.APPROVED))  # fmt: skip
    assert back is not None and back.dossier.result_at_desk_at == AT + timedelta(hours=1)
    again = progress.decide(back.dossier, r.ResultAtDesk(**ref(AT + timedelta(hours=2)), receiving_unit=WARD,
                                                          outcome=r.Outcome.APPROVED))  # fmt: skip
    assert again is not None and again.dossier.result_at_desk_at == AT + timedelta(hours=1)  # the first arrival


@pytest.mark.parametrize("status", sorted(CLOSED))
def test_a_closed_dossier_keeps_its_status_and_appointment_and_records_the_step(status: Status) -> None:
    d = dossier(status)
    for event in every_event():
        decision = progress.decide(d, event)
        if decision is not None:
            assert decision.dossier == d
            assert decision.step.status is status


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.sampled_from(list(Status)), st.lists(st.sampled_from(range(len(every_event()))), max_size=12))
def test_any_sequence_of_events_moves_the_status_only_along_the_table(start: Status, order: list[int]) -> None:
    events = every_event()
    d: Dossier = dossier(start)
    for i in order:
        decision = progress.decide(d, events[i])
        if decision is None:
            continue
        assert can_move(d.status, decision.dossier.status)
        assert decision.step.status is decision.dossier.status
        if d.status in CLOSED:
            assert decision.dossier == d
        d = decision.dossier
