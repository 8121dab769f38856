"""The journey's state machine, rule by rule, on the rules alone (no broker, no database)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from routing.domain import rules
from routing.domain import status as st
from routing.domain.model import Actor

from services.clock import business_date
from services.contracts.routing import NationalStatus, SlaState
from services.errors import Problem
from services.identity import Role
from tests.routing.domain.journeys import (
    AT_HOME,
    CAL,
    CITY_JUSTICE,
    CITY_LABOUR,
    FROM_CITY,
    INTER3,
    PROVINCE_JUSTICE,
    SIMPLE,
    T0,
    WARD,
    WARD_B,
    Run,
    later,
    staff,
    unit,
)

S = NationalStatus


def check(exc: pytest.ExceptionInfo[Problem], status: int, code: str) -> None:
    assert (exc.value.status, exc.value.code) == (status, code), exc.value.detail


def at_city(run: Run | None = None) -> Run:
    """An inter-level journey whose city step runs (the ward's step done, the city accepted the hop)."""
    run = run or Run.start(INTER3)
    run.apply(rules.complete(run.journey, staff(WARD), None, None, later(0.1)))
    run.apply(rules.accept_hop(run.journey, run.hop, staff(CITY_JUSTICE), later(0.2)))
    return run


def processed(run: Run | None = None) -> Run:
    """At the province, its last step completed with a result."""
    run = at_city(run)
    run.apply(rules.complete(run.journey, staff(CITY_JUSTICE), None, None, later(0.3)))
    run.apply(rules.accept_hop(run.journey, run.hop, staff(PROVINCE_JUSTICE), later(0.4)))
    run.apply(rules.complete(run.journey, staff(PROVINCE_JUSTICE), "Giấy chứng nhận số 12", None, later(0.5)))
    return run


def assert_folded(run: Run) -> None:
    """The journey's status is the fold of its action log, and every move of the fold is allowed."""
    status = None
    for a in run.actions:
        new = st.next_status(status, a.action, a.data)
        assert st.allowed(status, new) or a.role == "system", f"{status} → {new} by {a.action}"
        status = new
    assert status is not None and int(status) == run.journey.status


# -- start ---------------------------------------------------------------------------------------------------------


def test_a_journey_starts_at_the_desk_when_its_first_step_is_the_desks_own() -> None:
    run = Run.start(INTER3)
    j = run.journey
    assert [(s.unit, s.working_days) for s in j.steps] == [(WARD, 2), (CITY_JUSTICE, 3), (PROVINCE_JUSTICE, 5)]
    assert j.steps[-1].due_at == j.due_at == j.original_due_at
    assert (j.holder_unit, j.phase, j.status, j.current_step, j.queue) == (WARD, "active", S.ACCEPTED, 1, "todo")
    assert [s.state for s in j.steps] == ["active", "planned", "planned"]
    assert j.step_due_at == j.steps[0].due_at
    assert [a.action for a in run.actions] == [st.RECEIVED, st.STEP_STARTED]
    assert run.event_types == ["routing.journey.started"]
    assert_folded(run)


def test_a_journey_whose_first_step_is_elsewhere_starts_with_a_hop() -> None:
    run = Run.start(FROM_CITY)
    j = run.journey
    assert (j.holder_unit, j.pending_unit, j.pending_hop_id, j.phase, j.status) == (WARD, CITY_JUSTICE, 1, "awaiting",
                                                                                     S.NEW)  # fmt: skip
    assert j.hops is not None and [(h.from_unit, h.to_unit, h.state, h.step_seq) for h in j.hops] == [
        (WARD, CITY_JUSTICE, "requested", 1)
    ]
    assert run.event_types == ["routing.journey.started", "routing.hop.requested"]
    assert run.actions[-1].data == {"hop": 1, "kind": "forward", "to": CITY_JUSTICE}


def test_a_first_step_at_a_merged_unit_leaves_the_dossier_at_the_desk() -> None:
    run = Run.start(FROM_CITY, first_unit=unit(CITY_JUSTICE, "district", merged_into=CITY_LABOUR))
    j = run.journey
    assert (j.holder_unit, j.pending_unit, j.phase) == (WARD, None, "routing")
    assert run.actions[-1].action == st.ROUTE_BLOCKED and f"merged into {CITY_LABOUR}" in (run.actions[-1].note or "")
    # the desk re-routes it
    run.apply(rules.transfer(run.journey, staff(WARD), CITY_LABOUR, None, unit(CITY_LABOUR, "district"), later(0.1)))
    assert (run.journey.pending_unit, run.journey.steps[0].unit) == (CITY_LABOUR, CITY_LABOUR)


def test_a_simple_procedure_is_one_step_at_the_receiving_unit() -> None:
    run = Run.start(SIMPLE)
    assert [(s.unit, s.working_days) for s in run.journey.steps] == [(WARD, 10)]
    assert (run.journey.inter_level, run.journey.phase) == (False, "active")


# -- hops: hand-over between levels ----------------------------------------------------------------------------------


def test_hand_over_from_the_ward_to_the_city_to_the_province_and_back_to_the_desk() -> None:
    run = Run.start(INTER3)
    run.apply(rules.complete(run.journey, staff(WARD), None, "đủ điều kiện", later(0.1)))
    j = run.journey
    assert (j.holder_unit, j.pending_unit, j.phase, j.queue) == (WARD, CITY_JUSTICE, "awaiting", "outgoing")
    assert j.steps[0].state == "done" and j.steps[0].late is False
    assert j.step_due_at == j.steps[1].due_at  # the clock of the step the hop leads into runs
    run.apply(rules.accept_hop(run.journey, run.hop, staff(CITY_JUSTICE), later(0.2)))
    j = run.journey
    assert (j.holder_unit, j.pending_unit, j.current_step, j.status, j.officer) == (CITY_JUSTICE, None, 2,
                                                                                     S.PROCESSING, None)  # fmt: skip
    assert j.steps[1].state == "active"
    run.apply(rules.complete(run.journey, staff(CITY_JUSTICE), None, None, later(0.3)))
    run.apply(rules.accept_hop(run.journey, run.hop, staff(PROVINCE_JUSTICE), later(0.4)))
    run.apply(rules.complete(run.journey, staff(PROVINCE_JUSTICE), "GCN 12", None, later(0.5)))
    j = run.journey
    assert (j.phase, j.status, j.outcome, j.result, j.step_due_at) == ("processed", S.PROCESSED, "approved",
                                                                        "GCN 12", j.due_at)  # fmt: skip
    run.apply(rules.return_to_desk(run.journey, staff(PROVINCE_JUSTICE), None, later(0.6)))
    assert (run.journey.pending_unit, run.journey.hops[-1].kind) == (WARD, "return")  # type: ignore[index]
    run.apply(rules.accept_hop(run.journey, run.hop, staff(WARD, Role.DESK_OFFICER), later(0.7)))
    j = run.journey
    assert (j.holder_unit, j.phase, j.status) == (WARD, "at_desk", S.PROCESSED)
    assert j.hops is not None and [h.state for h in j.hops] == ["accepted"] * 3
    assert run.event_types.count("routing.hop.accepted") == 3
    assert run.event_types[-1] == "routing.journey.result_at_desk"
    assert_folded(run)


def test_only_the_addressee_answers_a_pending_hop() -> None:
    run = Run.start(INTER3)
    run.apply(rules.complete(run.journey, staff(WARD), None, None, later(0.1)))
    with pytest.raises(Problem) as exc:
        rules.accept_hop(run.journey, run.hop, staff(PROVINCE_JUSTICE), later(0.2))
    check(exc, 403, "not-addressee")
    with pytest.raises(Problem) as exc:
        rules.reject_hop(run.journey, 99, staff(CITY_JUSTICE), "x", later(0.2))
    check(exc, 404, "hop-not-found")
    hop = run.hop
    run.apply(rules.accept_hop(run.journey, hop, staff(CITY_JUSTICE), later(0.2)))
    for answer in (
        lambda: rules.accept_hop(run.journey, hop, staff(CITY_JUSTICE), later(0.3)),
        lambda: rules.reject_hop(run.journey, hop, staff(CITY_JUSTICE), "x", later(0.3)),
    ):
        with pytest.raises(Problem) as exc:
            answer()
        check(exc, 409, "hop-not-pending")


def test_a_rejected_hop_leaves_the_dossier_with_the_sender_who_reroutes_it() -> None:
    run = Run.start(INTER3)
    run.apply(rules.complete(run.journey, staff(WARD), None, None, later(0.1)))
    run.apply(rules.reject_hop(run.journey, run.hop, staff(CITY_JUSTICE), "Không thuộc thẩm quyền", later(0.2)))
    j = run.journey
    assert (j.holder_unit, j.pending_unit, j.phase) == (WARD, None, "routing")
    assert j.hops is not None and (j.hops[0].state, j.hops[0].reason) == ("rejected", "Không thuộc thẩm quyền")
    # only the holder re-routes; not to itself; not to a merged unit; past the route's end there is nowhere to go
    with pytest.raises(Problem) as exc:
        rules.transfer(j, staff(CITY_JUSTICE), CITY_LABOUR, None, None, later(0.3))
    check(exc, 403, "not-holder")
    with pytest.raises(Problem) as exc:
        rules.transfer(j, staff(WARD), WARD, None, None, later(0.3))
    check(exc, 422, "unprocessable-content")
    merged = unit(CITY_LABOUR, "district", merged_into=CITY_JUSTICE)
    with pytest.raises(Problem) as exc:
        rules.transfer(j, staff(WARD), CITY_LABOUR, None, merged, later(0.3))
    check(exc, 422, "unit-merged")
    assert exc.value.extensions["successor_id"] == CITY_JUSTICE
    assert rules.transfer_target(j, None) == CITY_JUSTICE and rules.transfer_target(j, CITY_LABOUR) == CITY_LABOUR
    run.apply(rules.transfer(j, staff(WARD), CITY_LABOUR, "chuyển lại", unit(CITY_LABOUR, "district"), later(0.3)))
    assert (run.journey.pending_unit, run.journey.steps[1].unit) == (CITY_LABOUR, CITY_LABOUR)
    run.apply(rules.accept_hop(run.journey, run.hop, staff(CITY_LABOUR), later(0.4)))
    assert (run.journey.holder_unit, run.journey.current_step) == (CITY_LABOUR, 2)
    assert_folded(run)


def test_transfer_past_the_last_step_is_refused() -> None:
    run = processed()
    j = dataclasses.replace(run.journey, phase="routing")
    assert rules.transfer_target(j, None) is None
    with pytest.raises(Problem) as exc:
        rules.transfer(j, staff(PROVINCE_JUSTICE), None, None, None, later(1))
    check(exc, 409, "route-ended")


def test_a_returned_result_that_the_desk_rejects_stays_processed_with_the_sender() -> None:
    run = processed()
    run.apply(rules.return_to_desk(run.journey, staff(PROVINCE_JUSTICE), None, later(0.6)))
    run.apply(rules.reject_hop(run.journey, run.hop, staff(WARD), "thiếu dấu", later(0.7)))
    assert (run.journey.phase, run.journey.holder_unit, run.journey.status) == ("processed", PROVINCE_JUSTICE,
                                                                                 S.PROCESSED)  # fmt: skip


def test_the_next_step_at_the_holders_own_unit_starts_without_a_hop() -> None:
    run = Run.start(AT_HOME)
    assert rules.complete_needs_unit(run.journey) is None
    run.apply(rules.complete(run.journey, staff(WARD), None, None, later(0.1)))
    j = run.journey
    assert (j.current_step, j.phase, j.pending_unit, [s.state for s in j.steps]) == (2, "active", None,
                                                                                      ["done", "active"])  # fmt: skip


def test_completing_towards_a_merged_unit_blocks_the_route_at_the_holder() -> None:
    run = Run.start(INTER3)
    assert rules.complete_needs_unit(run.journey) == CITY_JUSTICE
    merged = unit(CITY_JUSTICE, "district", merged_into=CITY_LABOUR)
    run.apply(rules.complete(run.journey, staff(WARD), None, None, later(0.1), merged))
    j = run.journey
    assert (j.holder_unit, j.pending_unit, j.phase) == (WARD, None, "routing")
    assert run.actions[-1].action == st.ROUTE_BLOCKED and CITY_JUSTICE in (run.actions[-1].note or "")
    assert run.last is not None and run.last.hop is None


# -- processing ------------------------------------------------------------------------------------------------------


def test_only_the_holder_acts_and_each_command_in_its_own_phases() -> None:
    run = Run.start(INTER3)
    j, other = run.journey, staff(CITY_JUSTICE)
    for command in (
        lambda who: rules.assign(j, who, "a", None, later(0.1)),
        lambda who: rules.complete(j, who, None, None, later(0.1)),
        lambda who: rules.refuse(j, who, ["x"], None, later(0.1)),
        lambda who: rules.request_supplement(j, who, ["TK"], "x", later(0.1)),
        lambda who: rules.extend(j, who, later(30).date(), "x", later(0.1), CAL),
    ):
        with pytest.raises(Problem) as exc:
            command(other)
        check(exc, 403, "not-holder")
        assert exc.value.extensions["holder_unit"] == WARD
    for command in (
        lambda: rules.transfer(j, staff(WARD), None, None, None, later(0.1)),
        lambda: rules.return_to_desk(j, staff(WARD), None, later(0.1)),
        lambda: rules.resume(j, staff(WARD), None, later(0.1), CAL),
    ):
        with pytest.raises(Problem) as exc:
            command()
        check(exc, 409, "invalid-transition")
        assert exc.value.extensions["phase"] == "active"


def test_assign_names_the_officer_while_active_or_paused() -> None:
    run = Run.start(INTER3)
    run.apply(rules.assign(run.journey, staff(WARD), "nguyen.van.a", None, later(0.1)))
    assert (run.journey.officer, run.journey.status) == ("nguyen.van.a", S.PROCESSING)
    run.apply(rules.request_supplement(run.journey, staff(WARD), ["TK"], "thiếu", later(0.2)))
    run.apply(rules.assign(run.journey, staff(WARD), "tran.thi.b", None, later(0.3)))
    assert (run.journey.officer, run.journey.phase) == ("tran.thi.b", "paused")
    assert run.event_types[-1] == "routing.journey.assigned"


def test_the_last_step_ends_with_a_result_or_a_refusal() -> None:
    run = processed()
    j = run.journey
    assert all(s.state == "done" for s in j.steps) and run.event_types[-1] == "routing.journey.processed"
    with pytest.raises(Problem) as exc:
        rules.complete(j, staff(PROVINCE_JUSTICE), "again", None, later(1))
    check(exc, 409, "invalid-transition")

    run = at_city()
    run.apply(rules.complete(run.journey, staff(CITY_JUSTICE), None, None, later(0.3)))
    run.apply(rules.accept_hop(run.journey, run.hop, staff(PROVINCE_JUSTICE), later(0.4)))
    with pytest.raises(Problem) as exc:
        rules.complete(run.journey, staff(PROVINCE_JUSTICE), None, None, later(0.5))
    check(exc, 422, "unprocessable-content")
    assert exc.value.extensions["errors"][0]["loc"] == ["body", "result"]


def test_a_refusal_ends_the_processing_with_status_3_and_goes_back_to_the_desk() -> None:
    run = at_city()
    run.apply(rules.refuse(run.journey, staff(CITY_JUSTICE), ["Không đủ điều kiện", "Sai mẫu"], None, later(10)))
    j = run.journey
    assert (j.phase, j.status, j.outcome, j.result) == ("processed", S.REJECTED, "refused",
                                                         "Không đủ điều kiện; Sai mẫu")  # fmt: skip
    assert j.steps[1].state == "done" and j.steps[1].late is True  # due on the 5th working day
    run.apply(rules.return_to_desk(run.journey, staff(CITY_JUSTICE), None, later(10.1)))
    run.apply(rules.accept_hop(run.journey, run.hop, staff(WARD), later(10.2)))
    assert (run.journey.phase, run.journey.status) == ("at_desk", S.REJECTED)
    assert_folded(run)


def test_a_result_at_the_desk_itself_needs_no_hop() -> None:
    run = Run.start(SIMPLE)
    run.apply(rules.complete(run.journey, staff(WARD), "GCN", None, later(1)))
    run.apply(rules.return_to_desk(run.journey, staff(WARD), None, later(1.1)))
    assert run.last is not None and run.last.hop is None
    assert (run.journey.phase, run.journey.queue) == ("at_desk", "results")


def test_the_status_fold_refuses_a_move_the_table_does_not_allow() -> None:
    """A phase that lets a command through while the status does not (here an active journey already processed)
    is still refused: the national status moves only along its table."""
    run = Run.start(INTER3)
    j = dataclasses.replace(run.journey, status=int(S.PROCESSED))
    with pytest.raises(Problem) as exc:
        rules.assign(j, staff(WARD), "a", None, later(0.1))
    check(exc, 409, "invalid-transition")
    assert exc.value.extensions["status_code"] == S.PROCESSED


# -- the clock: supplement and hand-in, extension ---------------------------------------------------------------


def test_a_supplement_stops_the_clock_and_the_hand_in_at_the_desk_restarts_it_from_zero() -> None:
    run = Run.start(INTER3, days=12, at=T0)
    paused_at = later(7)
    run.apply(rules.request_supplement(run.journey, staff(WARD), ["TP01"], "Thiếu bản sao", paused_at))
    j = run.journey
    assert (j.phase, j.status, j.paused_at, j.queue) == ("paused", S.SUPPLEMENT_REQUESTED, paused_at, "waiting")
    with pytest.raises(Problem) as exc:
        rules.complete(j, staff(WARD), None, None, later(8))
    check(exc, 409, "invalid-transition")
    resumed_at = paused_at + timedelta(days=9)
    appointment = CAL.add_working_days(resumed_at, 12)
    decision = rules.supplemented(j, resumed_at, appointment, CAL)
    run.apply(decision)
    j = run.journey
    n = CAL.working_days_between(paused_at, resumed_at)
    assert (j.phase, j.status, j.paused_working_days, j.paused_at, j.due_at) == ("active", S.PROCESSING, n, None,
                                                                                  appointment)  # fmt: skip
    days = [s.working_days for s in j.steps]
    expected = [CAL.add_working_days(resumed_at, sum(days[: i + 1])) for i in range(len(days))]
    expected[-1] = appointment
    assert [s.due_at for s in j.steps] == expected and j.step_due_at == expected[0]
    assert run.actions[-1].role == "system" and run.actions[-1].actor == "intake"
    # the hand-in event for a journey that does not wait for it changes nothing
    assert rules.supplemented(j, later(20), None, CAL) is None


def test_a_resume_at_the_agency_counts_the_routes_days_again_from_then() -> None:
    run = at_city()
    run.apply(rules.request_supplement(run.journey, staff(CITY_JUSTICE), ["TP02"], "thiếu", later(1)))
    with pytest.raises(Problem) as exc:
        rules.resume(run.journey, staff(WARD), None, later(2), CAL)
    check(exc, 403, "not-holder")
    run.apply(rules.resume(run.journey, staff(CITY_JUSTICE), "đã bổ sung", later(3), CAL))
    j = run.journey
    assert j.due_at == CAL.add_working_days(later(3), 10)
    assert j.steps[0].due_at < later(3) < j.steps[1].due_at  # the done step keeps its date
    assert (j.sla_state, j.step_sla_state) == (SlaState.ON_TIME.value, SlaState.ON_TIME.value)
    with pytest.raises(Problem) as exc:
        rules.resume(j, staff(CITY_JUSTICE), None, later(3), CAL)
    check(exc, 409, "invalid-transition")


def test_the_system_resumes_for_any_holder() -> None:
    run = Run.start(INTER3)
    run.apply(rules.request_supplement(run.journey, staff(WARD), ["TP02"], "thiếu", later(1)))
    run.apply(rules.resume(run.journey, Actor.system(), None, later(2), CAL))
    assert run.journey.phase == "active"


def test_one_extension_only_asked_a_working_day_ahead_to_a_later_working_day() -> None:
    run = Run.start(SIMPLE, days=10)
    j = run.journey
    due_day = business_date(j.due_at)
    new_day = CAL.next_working_day(CAL.next_working_day(CAL.next_working_day(due_day)))
    saturday = next(d for d in (due_day + timedelta(days=i) for i in range(1, 8)) if d.weekday() == 5)
    for bad in (due_day, saturday):
        with pytest.raises(Problem) as exc:
            rules.extend(j, staff(WARD), bad, "x", later(1), CAL)
        check(exc, 422, "invalid-new-date")
    with pytest.raises(Problem) as exc:  # on the due date itself: too late
        rules.extend(j, staff(WARD), new_day, "x", j.due_at - timedelta(hours=2), CAL)
    check(exc, 422, "extension-too-late")
    assert exc.value.extensions["due_date"] == due_day.isoformat()

    run.apply(rules.extend(j, staff(WARD), new_day, "Cần xác minh thêm", later(1), CAL))
    decision = run.last
    assert decision is not None and decision.extension is not None
    j = run.journey
    assert (j.extended, j.due_at, j.original_due_at) == (True, CAL.due_at(new_day), run.journey.original_due_at)
    assert (decision.extension.previous_due_at, decision.extension.new_due_at) == (j.original_due_at, j.due_at)
    assert j.steps[0].due_at == j.due_at == j.step_due_at
    extended = decision.events[0]
    assert (extended.appointment_date, extended.reason) == (new_day, "Cần xác minh thêm")  # type: ignore[attr-defined]
    with pytest.raises(Problem) as exc:
        rules.extend(j, staff(WARD), CAL.next_working_day(new_day), "again", later(2), CAL)
    check(exc, 409, "already-extended")


def test_an_extension_moves_the_open_steps_by_the_days_added_never_past_the_appointment() -> None:
    run = at_city()
    j = run.journey
    due_day = business_date(j.due_at)
    new_day = CAL.next_working_day(CAL.next_working_day(due_day))
    run.apply(rules.extend(j, staff(CITY_JUSTICE), new_day, "x", later(0.3), CAL))
    after = run.journey
    assert after.steps[0].due_at == j.steps[0].due_at  # done
    assert after.steps[1].due_at == CAL.shift_working_days(j.steps[1].due_at, 2) == after.step_due_at
    assert after.steps[2].due_at == after.due_at == CAL.due_at(new_day)


# -- closing -----------------------------------------------------------------------------------------------------


def test_a_closed_journey_takes_no_command_and_its_pending_hop_is_cancelled() -> None:
    run = Run.start(INTER3)
    run.apply(rules.complete(run.journey, staff(WARD), None, None, later(0.1)))
    hop = run.hop
    run.apply(rules.close(run.journey, st.RESULT_RETURNED, "result returned (in_person)", later(1), None))
    j = run.journey
    assert (j.phase, j.status, j.pending_unit, j.pending_hop_id, j.closed_at) == ("closed", S.RESULT_RETURNED, None,
                                                                                   None, later(1))  # fmt: skip
    assert j.hops is not None and (j.hops[0].state, j.hops[0].decided_at) == ("cancelled", later(1))
    assert run.last is not None and run.last.forced == (S.PROCESSING, S.RESULT_RETURNED)  # intake decided it
    for command in (
        lambda: rules.accept_hop(j, hop, staff(CITY_JUSTICE), later(2)),
        lambda: rules.reject_hop(j, hop, staff(CITY_JUSTICE), "x", later(2)),
        lambda: rules.complete(j, staff(WARD), "x", None, later(2)),
        lambda: rules.assign(j, staff(WARD), "a", None, later(2)),
        lambda: rules.transfer(j, staff(WARD), None, None, None, later(2)),
        lambda: rules.refuse(j, staff(WARD), ["x"], None, later(2)),
        lambda: rules.request_supplement(j, staff(WARD), ["x"], "x", later(2)),
        lambda: rules.resume(j, staff(WARD), None, later(2), CAL),
        lambda: rules.return_to_desk(j, staff(WARD), None, later(2)),
        lambda: rules.extend(j, staff(WARD), later(60).date(), "x", later(2), CAL),
    ):
        with pytest.raises(Problem) as exc:
            command()
        check(exc, 409, "journey-closed")
        assert exc.value.extensions["status_code"] == S.RESULT_RETURNED
    # a second closing event (a withdrawal that crossed the return) changes nothing
    assert rules.close(j, st.WITHDRAWN, "rút", later(3), None) is None
    assert rules.supplemented(j, later(3), None, CAL) is None


def test_intakes_closing_events_set_the_status_and_the_holder() -> None:
    for action, status in ((st.WITHDRAWN, S.STOPPED), (st.REFUSED, S.REJECTED), (st.RESULT_RETURNED,
                                                                                  S.RESULT_RETURNED)):  # fmt: skip
        run = at_city()
        run.apply(rules.close(run.journey, action, "x", later(1), WARD))
        holder = WARD if action == st.RESULT_RETURNED else CITY_JUSTICE
        assert (run.journey.status, run.journey.holder_unit) == (status, holder)
        assert run.event_types[-1] == "routing.journey.closed"


def test_a_journey_knows_the_units_with_a_part_in_it() -> None:
    run = Run.start(INTER3)
    run.apply(rules.complete(run.journey, staff(WARD), None, None, later(0.1)))
    assert run.journey.units == {WARD, CITY_JUSTICE, PROVINCE_JUSTICE}
    assert WARD_B not in run.journey.units
