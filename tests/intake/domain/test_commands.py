"""Every command on a dossier, allowed and refused: supplement request, supplement, refusal, withdrawal, return."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from intake.domain import dossier as rules
from intake.domain.dossier import CLOSED, Missing, Status, can_move

from services.contracts.intake import (
    Channel,
    DossierReceived,
    DossierRefused,
    DossierResultReturned,
    DossierSupplemented,
    DossierSupplementRequested,
    DossierWithdrawn,
)
from services.errors import Problem
from services.identity import Role

from .factory import CALENDAR, MONDAY, OTHER_WARD, OWNER_REF, desk, dossier, portal, staff, version, vn

NOW = vn(2026, 3, 3, 10)  # Tuesday
OPEN = [s for s in Status if s not in CLOSED]


def refused(call: object) -> Problem:
    assert callable(call)
    with pytest.raises(Problem) as caught:
        call()
    return caught.value


# -- closed dossiers take no command ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(CLOSED))
def test_every_command_on_a_closed_dossier_is_dossier_closed(status: Status) -> None:
    d = dossier(status)
    components = version().content.components
    commands = [
        lambda: rules.request_supplement(d, desk(), components, ["GCS"], "thiếu", NOW),
        lambda: rules.supplement(d, desk(), {"GCS"}, CALENDAR, NOW, "ref"),
        lambda: rules.refuse(d, desk(), ["sai"], NOW),
        lambda: rules.withdraw(d, desk(), "xin rút", NOW),
        lambda: rules.return_result(d, desk(), Channel.IN_PERSON, NOW),
    ]
    for command in commands:
        problem = refused(command)
        assert (problem.status, problem.code) == (409, "dossier-closed")
        assert problem.extensions["dossier_status"] == status.value


# -- supplement request (form 02 after receipt) -------------------------------------------------------------------


def test_a_received_dossier_is_sent_back_and_its_clock_stops() -> None:
    d = dossier(Status.RECEIVED)
    decision = rules.request_supplement(d, desk(), version().content.components, ["GCS", "TK", "GCS"], "thiếu", NOW)
    new = decision.dossier
    assert new.status is Status.SUPPLEMENT_REQUESTED
    assert new.missing == (Missing("GCS", "Giấy chứng sinh"), Missing("TK", "Tờ khai"))  # once each, in order
    assert (new.supplement_reason, new.appointment_at, new.updated_at) == ("thiếu", None, NOW)
    assert isinstance(decision.event, DossierSupplementRequested)
    assert decision.event.missing == ["GCS", "TK"] and decision.event.before_receipt is False
    step = decision.step
    assert (step.action, step.status, step.unit, step.actor, step.note) == (
        "supplement_requested", Status.SUPPLEMENT_REQUESTED, d.receiving_unit, "desk-1", "thiếu"
    )  # fmt: skip
    assert d.status is Status.RECEIVED  # the state given is left as it was


@pytest.mark.parametrize("status", [s for s in OPEN if s is not Status.RECEIVED])
def test_only_a_received_dossier_can_be_sent_back(status: Status) -> None:
    problem = refused(lambda: rules.request_supplement(dossier(status), desk(), [], ["GCS"], "x", NOW))
    assert (problem.status, problem.code) == (409, "wrong-state")


def test_a_supplement_request_names_known_components_only() -> None:
    components = version().content.components
    problem = refused(lambda: rules.request_supplement(dossier(), desk(), components, ["GCS", "XX"], "x", NOW))
    assert (problem.status, problem.code) == (422, "unknown-components")
    assert problem.extensions["errors"][0]["loc"] == ["body", "missing", 1]


def test_a_supplement_request_is_the_receiving_desks() -> None:
    components = version().content.components
    for who in (desk(OTHER_WARD), staff(Role.SPECIALIST), staff(Role.ADMIN), portal()):
        problem = refused(lambda who=who: rules.request_supplement(dossier(), who, components, ["GCS"], "x", NOW))
        assert problem.status == 403


# -- supplement ---------------------------------------------------------------------------------------------------


def test_completing_a_dossier_asked_at_submission_receives_it_with_the_clock_from_now() -> None:
    d = dossier(Status.SUPPLEMENT_REQUESTED, received_at=None, clock_started_at=None)
    decision = rules.supplement(d, portal(), {"GCS"}, CALENDAR, NOW, OWNER_REF)
    new = decision.dossier
    assert (new.status, new.missing, new.received_at, new.clock_started_at) == (Status.RECEIVED, (), NOW, NOW)
    assert new.appointment_at == vn(2026, 3, 7, 17)  # Thu 5, Fri 6, Sat 7 (made up); Wed 4 is off
    assert isinstance(decision.event, DossierReceived)
    assert decision.event.owner_ref == OWNER_REF and decision.event.received_at == NOW
    assert (decision.step.action, decision.step.note, decision.step.actor) == (
        "received", "Đã bổ sung đủ hồ sơ", "portal"
    )  # fmt: skip


def test_completing_a_dossier_sent_back_after_receipt_announces_the_new_appointment() -> None:
    d = dossier(Status.SUPPLEMENT_REQUESTED)
    decision = rules.supplement(d, desk(), {"GCS"}, CALENDAR, NOW, "ref")
    assert decision.dossier.status is Status.RECEIVED and decision.dossier.received_at == MONDAY
    assert isinstance(decision.event, DossierSupplemented)
    assert decision.event.appointment_at == decision.dossier.appointment_at == vn(2026, 3, 7, 17)
    assert decision.step.action == "supplemented"


def test_a_supplement_after_the_hand_over_goes_back_to_processing() -> None:
    d = dossier(Status.SUPPLEMENT_REQUESTED, handed_over_at=MONDAY)
    assert rules.supplement(d, desk(), {"GCS"}, CALENDAR, NOW, "ref").dossier.status is Status.PROCESSING


def test_a_supplement_must_hand_in_everything_asked_for() -> None:
    d = dossier(Status.SUPPLEMENT_REQUESTED, missing=(Missing("GCS", "Giấy chứng sinh"), Missing("TK", "Tờ khai")))
    problem = refused(lambda: rules.supplement(d, desk(), {"GCS"}, CALENDAR, NOW, "ref"))
    assert (problem.status, problem.code) == (422, "missing-documents")
    assert [e["code"] for e in problem.extensions["errors"]] == ["TK"]


@pytest.mark.parametrize("status", [s for s in OPEN if s is not Status.SUPPLEMENT_REQUESTED])
def test_no_supplement_without_a_request(status: Status) -> None:
    problem = refused(lambda: rules.supplement(dossier(status), desk(), {"GCS"}, CALENDAR, NOW, "ref"))
    assert (problem.status, problem.code) == (409, "wrong-state")


def test_a_supplement_is_the_receiving_desks_or_the_owners() -> None:
    d = dossier(Status.SUPPLEMENT_REQUESTED)
    assert refused(lambda: rules.supplement(d, desk(OTHER_WARD), {"GCS"}, CALENDAR, NOW, "r")).status == 403
    assert refused(lambda: rules.supplement(d, staff(Role.LEADER), {"GCS"}, CALENDAR, NOW, "r")).status == 403
    assert refused(lambda: rules.supplement(d, portal("046090009999"), {"GCS"}, CALENDAR, NOW, "r")).status == 404


# -- refusal ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.RECEIVED, Status.SUPPLEMENT_REQUESTED])
def test_the_desk_refuses_a_dossier_it_has_not_handed_over(status: Status) -> None:
    decision = rules.refuse(dossier(status), desk(), ["Không đủ điều kiện", "Sai mẫu"], NOW)
    new = decision.dossier
    assert (new.status, new.refusal_reasons, new.closed_at) == (Status.REFUSED, ("Không đủ điều kiện", "Sai mẫu"), NOW)
    assert isinstance(decision.event, DossierRefused) and decision.event.reasons == ["Không đủ điều kiện", "Sai mẫu"]
    assert decision.step.note == "Không đủ điều kiện; Sai mẫu"


@pytest.mark.parametrize("status", [Status.PROCESSING, Status.PROCESSED])
def test_a_dossier_handed_over_can_no_longer_be_refused_at_the_desk(status: Status) -> None:
    problem = refused(lambda: rules.refuse(dossier(status), desk(), ["x"], NOW))
    assert (problem.status, problem.code) == (409, "wrong-state")


def test_refusing_is_for_the_receiving_desk_alone() -> None:
    for who in (desk(OTHER_WARD), portal(), staff(Role.ADMIN), staff(Role.SPECIALIST)):
        assert refused(lambda who=who: rules.refuse(dossier(), who, ["x"], NOW)).status in (403, 404)


# -- withdrawal ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", OPEN)
def test_an_open_dossier_is_withdrawn_by_its_desk_or_owner(status: Status) -> None:
    for who in (desk(), portal()):
        decision = rules.withdraw(dossier(status), who, "xin rút", NOW)
        assert (decision.dossier.status, decision.dossier.closed_at) == (Status.WITHDRAWN, NOW)
        assert isinstance(decision.event, DossierWithdrawn) and decision.event.reason == "xin rút"
        assert (decision.step.action, decision.step.actor) == ("withdrawn", who.subject)


def test_another_citizen_or_unit_cannot_withdraw() -> None:
    assert refused(lambda: rules.withdraw(dossier(), portal("046090009999"), "x", NOW)).status == 404
    assert refused(lambda: rules.withdraw(dossier(), desk(OTHER_WARD), "x", NOW)).status == 403


# -- returning the result -----------------------------------------------------------------------------------------


def test_the_result_is_returned_once_it_is_at_the_desk() -> None:
    d = dossier(Status.PROCESSED, result_at_desk_at=NOW)
    decision = rules.return_result(d, desk(), Channel.POSTAL, NOW)
    assert (decision.dossier.status, decision.dossier.closed_at) == (Status.RESULT_RETURNED, NOW)
    assert isinstance(decision.event, DossierResultReturned) and decision.event.channel is Channel.POSTAL


@pytest.mark.parametrize("status", [Status.RECEIVED, Status.PROCESSING, Status.PROCESSED])
def test_no_result_to_return_before_it_is_at_the_desk(status: Status) -> None:
    problem = refused(lambda: rules.return_result(dossier(status), desk(), Channel.IN_PERSON, NOW))
    assert (problem.status, problem.code) == (409, "result-not-at-desk")
    assert problem.extensions["dossier_status"] == status.value


def test_a_result_at_the_desk_of_a_dossier_not_processed_cannot_be_returned() -> None:
    d = dossier(Status.PROCESSING, result_at_desk_at=NOW)  # a crossed event: the result came before the decision
    assert refused(lambda: rules.return_result(d, desk(), Channel.IN_PERSON, NOW)).code == "result-not-at-desk"


def test_a_dossier_awaiting_a_supplement_has_no_result() -> None:
    d = dossier(Status.SUPPLEMENT_REQUESTED, result_at_desk_at=NOW)
    assert refused(lambda: rules.return_result(d, desk(), Channel.IN_PERSON, NOW)).code == "wrong-state"


def test_returning_is_for_the_receiving_desk_alone() -> None:
    d = replace(dossier(Status.PROCESSED), result_at_desk_at=NOW)
    for who in (desk(OTHER_WARD), portal(), staff(Role.LEADER)):
        assert refused(lambda who=who: rules.return_result(d, who, Channel.IN_PERSON, NOW)).status in (403, 404)


# -- every command, every caller, every status --------------------------------------------------------------------

CALLERS = [desk(), desk(OTHER_WARD), portal(), portal("046090009999"), staff(Role.SPECIALIST), staff(Role.ADMIN, None)]
COMPONENTS = version().content.components
COMMANDS = {
    "request_supplement": lambda d, who: rules.request_supplement(
        d, who, version().content.components, ["GCS"], "x", NOW
    ),
    "supplement": lambda d, who: rules.supplement(d, who, {m.code for m in d.missing}, CALENDAR, NOW, OWNER_REF),
    "refuse": lambda d, who: rules.refuse(d, who, ["x"], NOW),
    "withdraw": lambda d, who: rules.withdraw(d, who, "x", NOW),
    "return_result": lambda d, who: rules.return_result(d, who, Channel.IN_PERSON, NOW),
}


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.sampled_from(list(Status)),
    st.booleans(),
    st.sampled_from(range(len(CALLERS))),
    st.lists(st.sampled_from(sorted(COMMANDS)), min_size=1, max_size=6),
)
def test_any_commands_move_the_status_along_the_table_and_close_for_good(
    start: Status, at_desk: bool, caller: int, commands: list[str]
) -> None:
    d = dossier(start, result_at_desk_at=NOW if at_desk else None)
    who = CALLERS[caller]
    for name in commands:
        try:
            decision = COMMANDS[name](d, who)
        except Problem as problem:
            assert problem.status in (403, 404, 409, 422)
            if d.closed and problem.status == 409:
                assert problem.code == "dossier-closed"
            continue
        assert not d.closed, f"{name} acted on a closed dossier"
        assert can_move(d.status, decision.dossier.status)
        assert decision.step.status is decision.dossier.status and decision.event is not None
        assert (decision.dossier.closed_at is not None) is decision.dossier.closed
        d = decision.dossier
