"""The journey's state machine: each command takes the journey, its inputs and the time, and returns the
`Decision` or raises the problem (a refused command changes nothing).

- Only the holder acts on a dossier, only the addressed unit answers a hop (`access`); a closed journey takes no
  command; a command runs in the phases listed for it, and the national status moves only along
  `status.TRANSITIONS` (intake's closing events excepted: the dossier is its own).
- A hop hands the dossier from one level to the next; the addressee accepts (it holds the dossier, and works on
  the step the hop leads into) or rejects it with a reason (the sender keeps it and re-routes with `transfer`).
- At the last step the holder names the result (or refuses with reasons); the result goes back to the receiving
  desk in one hop.
- Deadlines: `sla`. A supplement request stops the clock; the hand-in restarts the processing time from zero.
  One extension per dossier (form 04).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from typing import Any

from routing.domain import sla
from routing.domain import status as st
from routing.domain.access import require_holder, require_hop_addressee
from routing.domain.model import (
    Action,
    Actor,
    Decision,
    Extension,
    Hop,
    HopRequest,
    Journey,
    PlannedStep,
    Route,
    Step,
)
from services.calendar import WorkingCalendar
from services.clock import business_date
from services.contracts import routing as ev
from services.contracts.catalogue import ProcedureVersion, UnitChanged
from services.contracts.intake import DossierReceived
from services.contracts.routing import HopKind, NationalStatus, Outcome
from services.errors import Conflict, Invalid, NotFound, Problem
from services.events import EventPayload

ON_TIME = ev.SlaState.ON_TIME.value


class _Draft:
    """A decision being made: the journey as it is now, and what the command has logged and announced so far."""

    def __init__(self, j: Journey) -> None:
        self.j = j
        self.actions: list[Action] = []
        self.events: list[EventPayload] = []
        self.hop: HopRequest | None = None
        self.extension: Extension | None = None
        self.forced: tuple[NationalStatus | None, NationalStatus] | None = None

    def set(self, **changes: Any) -> None:
        self.j = dataclasses.replace(self.j, **changes)

    def set_step(self, seq: int, **changes: Any) -> Step:
        changed: Step | None = None
        steps = list(self.j.steps)
        for i, s in enumerate(steps):
            if s.seq == seq:
                changed = steps[i] = dataclasses.replace(s, **changes)
        assert changed is not None, f"no step {seq}"
        self.set(steps=tuple(steps))
        return changed

    def set_hop(self, hop_id: int, **changes: Any) -> Hop:
        hops = list(_hops(self.j))
        i = next(i for i, h in enumerate(hops) if h.id == hop_id)
        hops[i] = dataclasses.replace(hops[i], **changes)
        self.set(hops=tuple(hops))
        return hops[i]

    def log(
        self,
        action: str,
        actor: Actor,
        *,
        at: datetime,
        note: str | None = None,
        owner_decided: bool = False,
        **data: Any,
    ) -> None:
        """Append to the action log and fold the action into the status. A move the statuses do not allow is refused,
        unless intake (the dossier's owner) `owner_decided` it: then it is made, and the decision says so."""
        j = self.j
        current = NationalStatus(j.status) if j.status else None
        status = st.next_status(current, action, data)
        if not st.allowed(current, status):
            if not owner_decided:  # a command whose phase checks let through what the statuses do not
                raise Conflict(
                    f"Cannot {action.replace('_', ' ')}: dossier {j.code} would go from status {current} to {status}.",
                    code="invalid-transition",
                    status_code=j.status,
                )
            self.forced = (current, status)
        self.actions.append(
            Action(action=action, at=at, actor=actor.subject, role=actor.role, unit=actor.unit, note=note, data=data)
        )
        self.set(status=int(status), updated_at=at)

    def emit(self, payload: EventPayload) -> None:
        self.events.append(payload)

    def ref(self, at: datetime) -> dict[str, Any]:
        j = self.j
        return {"dossier_id": j.dossier_id, "code": j.code, "at": at, "status": NationalStatus(j.status)}

    def done(self) -> Decision:
        return Decision(
            journey=self.j,
            actions=tuple(self.actions),
            events=tuple(self.events),
            hop=self.hop,
            extension=self.extension,
            forced=self.forced,
        )


def _hops(j: Journey) -> tuple[Hop, ...]:
    if j.hops is None:
        raise RuntimeError(f"the hops of journey {j.dossier_id} were not read for this command")
    return j.hops


# -- checks ------------------------------------------------------------------------------------------------------


def require_open(j: Journey) -> None:
    """A closed journey (result returned, withdrawn, refused at the desk) takes no command."""
    if j.phase == "closed":
        raise Conflict(
            f"Dossier {j.code} is closed (status {j.status}); nothing can be done on its journey any more.",
            code="journey-closed",
            status_code=j.status,
        )


def require_phase(j: Journey, *phases: str, doing: str) -> None:
    if j.phase not in phases:
        raise Conflict(
            f"Cannot {doing}: dossier {j.code} is {j.phase} (status {j.status}).",
            code="invalid-transition",
            phase=j.phase,
            status_code=j.status,
        )


def require_in_operation(unit_id: str, unit: UnitChanged | None, today: date, *, field: str) -> None:
    """A unit the dossier may go to: not merged away or closed (when the replica knows it)."""
    if unit is not None and not unit.valid_on(today):
        raise Invalid(
            f"Unit {unit_id} ({unit.name}) is no longer in operation"
            + (f"; it was merged into {unit.successor_id}." if unit.successor_id else "."),
            field=field,
            code="unit-merged",
            successor_id=unit.successor_id,
        )


def next_step(j: Journey) -> Step | None:
    """The step after the one the holder works on (the first before any)."""
    return j.step((j.current_step or 0) + 1)


def transfer_target(j: Journey, to_unit: str | None) -> str | None:
    """The unit a transfer sends the dossier to: the one named, else the next step's (None: the route has ended)."""
    following = next_step(j)
    return to_unit or (following.unit if following is not None else None)


# -- journey creation ----------------------------------------------------------------------------------------------


def plan_route(
    version: ProcedureVersion, receiving_unit: str, receiving: UnitChanged | None, chain: list[UnitChanged]
) -> Route:
    """The route of the version in force: its steps in order, a step without an agency done by the receiving
    unit's own unit at that level (found among its parents, `chain`, nearest first). A procedure that is not
    inter-level is one step at the receiving unit."""
    if not version.content.inter_level:
        own_level = receiving.level if receiving is not None else "receiving"
        return Route(steps=(PlannedStep(1, own_level, receiving_unit, 100),), inter_level=False)
    steps: list[PlannedStep] = []
    for i, step in enumerate(sorted(version.content.route, key=lambda s: s.order), start=1):
        unit_id = step.agency_id
        if unit_id is None:
            match = next((u for u in chain if u.level == step.level), None)
            unit_id = match.agency_id if match is not None else receiving_unit
        steps.append(PlannedStep(i, step.level, unit_id, step.share_percent))
    return Route(steps=tuple(steps), inter_level=True)


def start(payload: DossierReceived, route: Route, first_unit: UnitChanged | None, cal: WorkingCalendar) -> Decision:
    """DossierReceived → the journey, its steps with their share of the working days, and the first hop (or the
    first step at the desk). A first step at a unit no longer in operation leaves the dossier at the desk, which
    routes it (later steps are checked when the dossier is about to hop to them)."""
    planned = route.steps
    at = payload.received_at
    total = sla.total_working_days(cal, at, payload.appointment_at)
    days = sla.split_days(total, [p.share for p in planned])
    dues = sla.plan_due_dates(cal, at, payload.appointment_at, days)
    d = _Draft(
        Journey(
            dossier_id=payload.dossier_id,
            code=payload.code,
            procedure_code=payload.procedure_code,
            procedure_version=payload.procedure_version,
            field_code=payload.field_code,
            receiving_unit=payload.receiving_unit,
            channel=payload.channel.value,
            inter_level=route.inter_level,
            received_at=at,
            phase="routing",
            status=int(NationalStatus.NEW),
            holder_unit=payload.receiving_unit,
            pending_unit=None,
            pending_hop_id=None,
            officer=None,
            current_step=None,
            due_at=payload.appointment_at,
            original_due_at=payload.appointment_at,
            step_due_at=dues[0],
            sla_state=ON_TIME,
            step_sla_state=ON_TIME,
            paused_at=None,
            paused_working_days=0,
            outcome=None,
            result=None,
            processed_at=None,
            closed_at=None,
            updated_at=at,
            steps=tuple(
                Step(seq=p.seq, level=p.level, unit=p.unit, working_days=n, due_at=due)
                for p, n, due in zip(planned, days, dues, strict=True)
            ),
            hops=(),
            extended=False,
        )
    )
    desk = Actor.system(payload.receiving_unit, subject="intake")
    d.log(st.RECEIVED, desk, at=at, procedure_version=payload.procedure_version)
    d.emit(
        ev.JourneyStarted(
            **d.ref(at),
            procedure_code=payload.procedure_code,
            procedure_version=payload.procedure_version,
            field_code=payload.field_code,
            receiving_unit=payload.receiving_unit,
            inter_level=route.inter_level,
            steps=[
                ev.RouteStep(seq=s.seq, level=s.level, unit=s.unit, working_days=s.working_days, due_at=s.due_at)
                for s in d.j.steps
            ],
            due_at=payload.appointment_at,
        )
    )
    first = planned[0]
    if route.inter_level and first_unit is not None and not first_unit.valid_on(business_date(at)):
        problem = (
            f"route step 1 references unit {first.unit} ({first_unit.name}), no longer in operation"
            + (f" (merged into {first_unit.successor_id})" if first_unit.successor_id else "")
            + "; the receiving desk must route the dossier"
        )
        d.log(st.ROUTE_BLOCKED, Actor.system(), at=at, note=problem)
    elif first.unit == payload.receiving_unit:
        _begin_step(d, 1, desk, at=at)
    else:
        _request_hop(d, HopKind.FORWARD, first.unit, 1, desk, note=None, at=at)
    return d.done()


def _begin_step(d: _Draft, seq: int, actor: Actor, *, at: datetime) -> None:
    step = d.set_step(seq, state="active", started_at=at)
    d.set(current_step=seq, step_due_at=step.due_at, step_sla_state=ON_TIME, officer=None, phase="active")
    d.log(st.STEP_STARTED, actor, at=at, step=seq, unit=step.unit)


def _request_hop(
    d: _Draft, kind: HopKind, to_unit: str, step_seq: int | None, actor: Actor, *, note: str | None, at: datetime
) -> None:
    d.hop = HopRequest(
        kind=kind, from_unit=d.j.holder_unit, to_unit=to_unit, step_seq=step_seq, actor=actor, note=note, at=at
    )


def hop_sent(decision: Decision, hop_id: int) -> Decision:
    """The decision that sent `decision.hop`, now that the hop has its id: the addressee is pending, the clock of
    the step the hop leads into runs from now on."""
    request = decision.hop
    assert request is not None
    d = _Draft(decision.journey)
    d.actions, d.events = list(decision.actions), list(decision.events)
    d.extension, d.forced = decision.extension, decision.forced
    hop = Hop(
        id=hop_id,
        kind=request.kind.value,
        from_unit=request.from_unit,
        to_unit=request.to_unit,
        step_seq=request.step_seq,
        state="requested",
        requested_at=request.at,
        requested_by=request.actor.subject,
        note=request.note,
    )
    d.set(pending_unit=request.to_unit, pending_hop_id=hop_id, phase="awaiting")
    if d.j.hops is not None:
        d.set(hops=(*d.j.hops, hop))
    target = d.j.step(request.step_seq)
    if target is not None:
        d.set(step_due_at=target.due_at, step_sla_state=ON_TIME)
    at = request.at
    d.log(st.HOP_REQUESTED, request.actor, at=at, note=request.note, hop=hop_id, kind=hop.kind, to=request.to_unit)
    d.emit(
        ev.HopRequested(
            **d.ref(at),
            hop_id=hop_id,
            kind=request.kind,
            from_unit=request.from_unit,
            to_unit=request.to_unit,
            step_seq=request.step_seq,
            actor=request.actor.subject,
            actor_unit=request.actor.unit,
            note=request.note,
        )
    )
    return d.done()


# -- hops ----------------------------------------------------------------------------------------------------------


def transfer(
    j: Journey, actor: Actor, to_unit: str | None, note: str | None, target_unit: UnitChanged | None, now: datetime
) -> Decision:
    """The holder sends the dossier to the next step's unit, or to another one (re-routing after a rejection or a
    blocked route): `target_unit` is what the replica knows of `transfer_target(j, to_unit)`."""
    require_open(j)
    require_holder(j, actor)
    require_phase(j, "routing", doing="transfer")
    step = next_step(j)
    if step is None:
        raise Conflict(f"Dossier {j.code} has no further route step to transfer to.", code="route-ended")
    target = to_unit or step.unit
    if target == j.holder_unit:
        raise Invalid("A dossier cannot be transferred to the unit that holds it.", field="body.to_unit")
    require_in_operation(target, target_unit, business_date(now), field="body.to_unit")
    d = _Draft(j)
    if target != step.unit:  # re-routed: the step is done by another unit
        d.set_step(step.seq, unit=target, level=target_unit.level if target_unit is not None else step.level)
    _request_hop(d, HopKind.FORWARD, target, step.seq, actor, note=note, at=now)
    return d.done()


def pending_hop(j: Journey, hop_id: int, actor: Actor) -> Hop:
    hop = next((h for h in _hops(j) if h.id == hop_id), None)
    if hop is None:
        raise NotFound(f"No hop {hop_id} for dossier {j.code}.", code="hop-not-found")
    if hop.state != "requested":
        raise Conflict(f"Hop {hop_id} was already {hop.state}.", code="hop-not-pending", hop_state=hop.state)
    require_hop_addressee(hop, actor)
    return hop


def _hop_fields(hop: Hop) -> dict[str, Any]:
    return {
        "hop_id": hop.id,
        "kind": HopKind(hop.kind),
        "from_unit": hop.from_unit,
        "to_unit": hop.to_unit,
        "step_seq": hop.step_seq,
    }


def accept_hop(j: Journey, hop_id: int, actor: Actor, now: datetime) -> Decision:
    """The addressee holds the dossier: it works on the step the hop leads into, or, for the result's return, the
    desk has it."""
    require_open(j)
    hop = pending_hop(j, hop_id, actor)
    d = _Draft(j)
    d.set_hop(hop.id, state="accepted", decided_at=now, decided_by=actor.subject)
    d.set(holder_unit=hop.to_unit, pending_unit=None, pending_hop_id=None, officer=None)
    d.log(st.HOP_ACCEPTED, actor, at=now, hop=hop.id, kind=hop.kind, from_unit=hop.from_unit)
    d.emit(ev.HopAccepted(**d.ref(now), **_hop_fields(hop), actor=actor.subject, actor_unit=actor.unit))
    if hop.kind == HopKind.RETURN.value:
        _arrive_at_desk(d, actor, now)
    else:
        assert hop.step_seq is not None
        step = d.set_step(hop.step_seq, state="active", started_at=now)
        d.set(current_step=hop.step_seq, step_due_at=step.due_at, step_sla_state=ON_TIME, phase="active")
    return d.done()


def reject_hop(j: Journey, hop_id: int, actor: Actor, reason: str, now: datetime) -> Decision:
    """The addressee refuses the hop: the sender still holds the dossier."""
    require_open(j)
    hop = pending_hop(j, hop_id, actor)
    d = _Draft(j)
    d.set_hop(hop.id, state="rejected", decided_at=now, decided_by=actor.subject, reason=reason)
    d.set(
        pending_unit=None,
        pending_hop_id=None,
        phase="processed" if hop.kind == HopKind.RETURN.value else "routing",
    )
    d.log(st.HOP_REJECTED, actor, at=now, note=reason, hop=hop.id, kind=hop.kind)
    d.emit(ev.HopRejected(**d.ref(now), **_hop_fields(hop), actor=actor.subject, actor_unit=actor.unit, reason=reason))
    return d.done()


# -- processing ----------------------------------------------------------------------------------------------------


def assign(j: Journey, actor: Actor, officer: str, note: str | None, now: datetime) -> Decision:
    require_open(j)
    require_holder(j, actor)
    require_phase(j, "active", "paused", doing="assign an officer")
    d = _Draft(j)
    d.set(officer=officer)
    d.log(st.ASSIGNED, actor, at=now, note=note, officer=officer)
    d.emit(ev.JourneyAssigned(**d.ref(now), unit=j.holder_unit, officer=officer, actor=actor.subject))
    return d.done()


def complete_needs_unit(j: Journey) -> str | None:
    """The unit whose standing `complete` decides on: the next step's, when another unit does it."""
    following = next_step(j)
    return following.unit if following is not None and following.unit != j.holder_unit else None


def complete(
    j: Journey,
    actor: Actor,
    result: str | None,
    note: str | None,
    now: datetime,
    next_unit: UnitChanged | None = None,
) -> Decision:
    """Complete the holder's step: on to the next step's unit (the holder goes on with it if it is its own), or,
    at the last step, the result is ready. A next unit no longer in operation (`next_unit`, what the replica knows
    of `complete_needs_unit(j)`) blocks the route: the holder keeps the dossier and re-routes it."""
    require_open(j)
    require_holder(j, actor)
    require_phase(j, "active", doing="complete")
    step = j.step(j.current_step)
    assert step is not None
    last = step.seq == len(j.steps)
    if last and not result:
        raise Invalid("The last step ends with a result: give `result`.", field="body.result")
    d = _Draft(j)
    step = d.set_step(step.seq, state="done", completed_at=now, late=now > step.due_at)
    d.log(st.STEP_COMPLETED, actor, at=now, note=note, step=step.seq)
    d.emit(
        ev.StepCompleted(
            **d.ref(now),
            step_seq=step.seq,
            level=step.level,
            unit=step.unit,
            due_at=step.due_at,
            late=bool(step.late),
            note=note,
        )
    )
    if last:
        _finish(d, actor, Outcome.APPROVED, result=result, reasons=[], note=note, at=now)
        return d.done()
    following = j.step(step.seq + 1)
    assert following is not None
    if following.unit == j.holder_unit:
        _begin_step(d, following.seq, actor, at=now)
        return d.done()
    d.set(phase="routing")
    try:
        require_in_operation(following.unit, next_unit, business_date(now), field="route")
    except Problem as exc:
        d.log(st.ROUTE_BLOCKED, Actor.system(), at=now, note=exc.detail)
        return d.done()
    _request_hop(d, HopKind.FORWARD, following.unit, following.seq, actor, note=note, at=now)
    return d.done()


def refuse(j: Journey, actor: Actor, reasons: list[str], note: str | None, now: datetime) -> Decision:
    """The holder refuses the dossier with its reasons (the result is the refusal)."""
    require_open(j)
    require_holder(j, actor)
    require_phase(j, "active", doing="refuse")
    d = _Draft(j)
    step = j.step(j.current_step)
    if step is not None:
        d.set_step(step.seq, state="done", completed_at=now, late=now > step.due_at)
    _finish(d, actor, Outcome.REFUSED, result=None, reasons=reasons, note=note, at=now)
    return d.done()


def _finish(
    d: _Draft, actor: Actor, outcome: Outcome, *, result: str | None, reasons: list[str], note: str | None, at: datetime
) -> None:
    d.set(
        outcome=outcome.value,
        result=result or "; ".join(reasons),
        processed_at=at,
        step_due_at=d.j.due_at,
        phase="processed",
    )
    action = st.PROCESSED if outcome is Outcome.APPROVED else st.REFUSED
    d.log(action, actor, at=at, note=note, outcome=outcome.value, result=result, reasons=reasons)
    d.emit(
        ev.JourneyProcessed(
            **d.ref(at),
            unit=d.j.holder_unit,
            outcome=outcome,
            result=result,
            reasons=reasons,
            due_at=d.j.due_at,
            late=at > d.j.due_at,
        )
    )


def return_to_desk(j: Journey, actor: Actor, note: str | None, now: datetime) -> Decision:
    """The result goes back to the receiving desk: at once if the desk holds it, else in one hop."""
    require_open(j)
    require_holder(j, actor)
    require_phase(j, "processed", doing="return the result")
    d = _Draft(j)
    if j.holder_unit == j.receiving_unit:
        _arrive_at_desk(d, actor, now)
    else:
        _request_hop(d, HopKind.RETURN, j.receiving_unit, None, actor, note=note, at=now)
    return d.done()


def _arrive_at_desk(d: _Draft, actor: Actor, at: datetime) -> None:
    d.set(phase="at_desk")
    d.log(st.RESULT_AT_DESK, actor, at=at)
    d.emit(
        ev.ResultAtDesk(
            **d.ref(at), receiving_unit=d.j.receiving_unit, outcome=Outcome(d.j.outcome or Outcome.APPROVED.value)
        )
    )


# -- the clock: supplement, resume, extension ----------------------------------------------------------------------


def request_supplement(j: Journey, actor: Actor, missing: list[str], reason: str, now: datetime) -> Decision:
    """The holder asks the applicant for what is missing: the clock stops."""
    require_open(j)
    require_holder(j, actor)
    require_phase(j, "active", doing="request a supplement")
    d = _Draft(j)
    d.set(paused_at=now, phase="paused")
    d.log(st.SUPPLEMENT_REQUESTED, actor, at=now, note=reason, missing=missing)
    d.emit(
        ev.SupplementRequested(
            **d.ref(now), unit=j.holder_unit, receiving_unit=j.receiving_unit, missing=missing, reason=reason
        )
    )
    return d.done()


def resume(j: Journey, actor: Actor, note: str | None, now: datetime, cal: WorkingCalendar) -> Decision:
    """The dossier handed in at the agency itself: the holder resumes it (the system may for it)."""
    require_open(j)
    if actor.role != "system":
        require_holder(j, actor)
    require_phase(j, "paused", doing="resume")
    return _resume(j, actor, note, now, cal)


def supplemented(j: Journey, at: datetime, appointment_at: datetime | None, cal: WorkingCalendar) -> Decision | None:
    """Intake's `DossierSupplemented`: the applicant handed in the supplement at the desk (nothing to do unless the
    journey waits for it)."""
    if j.phase != "paused":
        return None
    return _resume(
        j, Actor.system(j.receiving_unit, subject="intake"), "hồ sơ đã được bổ sung", at, cal, appointment_at
    )


def _resume(
    j: Journey,
    actor: Actor,
    note: str | None,
    at: datetime,
    cal: WorkingCalendar,
    appointment_at: datetime | None = None,
) -> Decision:
    """Decree 61: once the dossier is complete again the processing time restarts from zero. Intake owns the
    appointment and announces it with the supplement; a resume at the agency counts the route's days again."""
    assert j.paused_at is not None
    d = _Draft(j)
    n = sla.paused_days(cal, j.paused_at, at)
    due_at = appointment_at or cal.add_working_days(at, sum(s.working_days for s in j.steps))
    open_steps = [s for s in j.steps if s.state != "done"]
    dues = sla.plan_due_dates(cal, at, due_at, [s.working_days for s in open_steps])
    step_due_at = j.step_due_at
    for step, due in zip(open_steps, dues, strict=True):
        d.set_step(step.seq, due_at=due)
        if step.seq == j.current_step:
            step_due_at = due
    d.set(
        due_at=due_at,
        step_due_at=step_due_at,
        paused_working_days=j.paused_working_days + n,
        paused_at=None,
        sla_state=ON_TIME,  # the sweep re-flags against the new dates
        step_sla_state=ON_TIME,
        phase="active",
    )
    d.log(st.RESUMED, actor, at=at, note=note, paused_working_days=n)
    d.emit(
        ev.JourneyResumed(
            **d.ref(at), unit=j.holder_unit, paused_working_days=n, due_at=due_at, step_due_at=step_due_at
        )
    )
    return d.done()


def extend(j: Journey, actor: Actor, new_date: date, reason: str, now: datetime, cal: WorkingCalendar) -> Decision:
    """Once per dossier, at least one working day before the due date, to a later working day: form 04 and a new
    appointment; the steps not done move by the working days added (none beyond the new appointment)."""
    require_open(j)
    require_holder(j, actor)
    require_phase(j, "active", doing="extend")
    if j.extended:
        raise Conflict(
            f"Dossier {j.code} was already extended once; the appointment may be reset only once.",
            code="already-extended",
        )
    due_day = business_date(j.due_at)
    if sla.extension_lead_days(cal, now, j.due_at) < 1:
        raise Invalid(
            f"An extension must be asked at least one working day before the due date ({due_day.isoformat()}).",
            field="body.new_date",
            code="extension-too-late",
            due_date=due_day.isoformat(),
        )
    if new_date <= due_day or not cal.is_working_day(new_date):
        raise Invalid(
            f"The new date must be a working day after the due date {due_day.isoformat()}.",
            field="body.new_date",
            code="invalid-new-date",
        )
    n = len(cal.working_days_in(due_day + timedelta(days=1), new_date))  # working days added
    previous = j.due_at
    due_at = cal.due_at(new_date)
    d = _Draft(j)
    step_due_at = j.step_due_at
    for step in j.steps:
        if step.state != "done":
            moved = d.set_step(step.seq, due_at=min(sla.shift(cal, step.due_at, n), due_at))
            if step.seq == j.current_step:
                step_due_at = moved.due_at
    d.set(due_at=due_at, step_due_at=step_due_at, sla_state=ON_TIME, step_sla_state=ON_TIME, extended=True)
    d.extension = Extension(
        dossier_id=j.dossier_id,
        unit=j.holder_unit,
        requested_by=actor.subject,
        requested_at=now,
        reason=reason,
        previous_due_at=previous,
        new_due_at=due_at,
    )
    d.log(st.EXTENDED, actor, at=now, note=reason, previous=previous.isoformat(), new=due_at.isoformat())
    d.emit(
        ev.JourneyExtended(
            **d.ref(now),
            unit=j.holder_unit,
            reason=reason,
            previous_appointment_at=previous,
            appointment_at=due_at,
            appointment_date=new_date,
        )
    )
    return d.done()


# -- intake's closing events ---------------------------------------------------------------------------------------


def close(j: Journey, action: str, reason: str, at: datetime, unit: str | None) -> Decision | None:
    """Intake closed the dossier (result returned, withdrawn, refused at the desk): a hop still pending is
    cancelled (nobody may answer it any more). A journey closed already changes no more."""
    if j.phase == "closed":
        return None
    d = _Draft(j)
    for hop in _hops(j):
        if hop.state == "requested":
            d.set_hop(hop.id, state="cancelled", decided_at=at, reason=reason)
    d.set(
        closed_at=at,
        pending_unit=None,
        pending_hop_id=None,
        holder_unit=j.receiving_unit if action == st.RESULT_RETURNED else j.holder_unit,
        phase="closed",
    )
    d.log(action, Actor.system(unit, subject="intake"), at=at, note=reason, owner_decided=True)
    d.emit(ev.JourneyClosed(**d.ref(at), reason=reason))
    return d.done()
