"""Domain logic of routing-svc: journeys, hops, actions, SLA. Takes a session, never commits, raises Problems.

Every command loads the journey row for update, checks who may act (the unit that holds the dossier; for a hop,
the addressed unit), changes the state, appends one or more rows to the action log, refreshes the derived status
and writes the events to the outbox, all in the caller's transaction. A refused command changes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Concatenate, ParamSpec, TypeVar

import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from routing import repository as repo
from routing.domain import sla
from routing.domain import status as st
from routing.models import Extension, Hop, Journey, JourneyStep
from services import catalogue_replica, clock
from services.bus.consumer import RetryLater
from services.bus.outbox import enqueue_many
from services.calendar import WorkingCalendar
from services.contracts import routing as ev
from services.contracts.catalogue import UnitChanged
from services.contracts.intake import DossierReceived
from services.contracts.routing import HopKind, NationalStatus, Outcome
from services.errors import Conflict, Invalid, NotFound, Problem
from services.events import CloudEvent, EventPayload, new_event
from services.identity import Identity
from services.topics import ROUTING_JOURNEYS

log = structlog.get_logger(__name__)

SOURCE = "/routing"


@dataclass(frozen=True)
class Actor:
    subject: str
    role: str
    unit: str | None

    @classmethod
    def of(cls, who: Identity) -> Actor:
        return cls(subject=who.subject, role=who.role.value, unit=who.unit)

    @classmethod
    def system(cls, unit: str | None = None, subject: str = "routing") -> Actor:
        return cls(subject=subject, role="system", unit=unit)


@dataclass(frozen=True)
class PlannedStep:
    seq: int
    level: str
    unit: str
    share: int


P = ParamSpec("P")
R = TypeVar("R")


def command(fn: Callable[Concatenate[Journeys, P], Awaitable[R]]) -> Callable[Concatenate[Journeys, P], Awaitable[R]]:
    """A command's entry point: the actions it logged and the events it emitted are written when it returns."""

    @functools.wraps(fn)
    async def run(self: Journeys, *args: P.args, **kwargs: P.kwargs) -> R:
        result = await fn(self, *args, **kwargs)
        await self.write_log()
        return result

    return run


#: the Journeys of a session, checked before it commits (session.info)
_IN_SESSION = "routing_journeys"


@event.listens_for(Session, "before_commit")
def _nothing_left_unwritten(session: Session) -> None:
    """A command that logged or emitted without writing it (a public command without @command) fails loudly
    instead of committing its state change without its actions and events."""
    if any(svc.unwritten for svc in session.info.get(_IN_SESSION, ())):
        raise RuntimeError("routing: a command's actions or events were not written (is it marked @command?)")


class Journeys:
    """Commands on journeys inside one transaction."""

    def __init__(self, session: AsyncSession, topic_prefix: str, *, now: datetime | None = None) -> None:
        self.session = session
        self.topic = ROUTING_JOURNEYS.full_name(topic_prefix)
        self._now = now
        self._calendar: WorkingCalendar | None = None
        # Read once per transaction: the route of a journey (its steps, changed in place), its hops and its next
        # action seq.
        self._steps: dict[str, list[JourneyStep]] = {}
        self._hops: dict[str, list[Hop]] = {}
        self._next_seq: dict[str, int] = {}
        #: whether each journey loaded in this transaction has had its one extension
        self.extended: dict[str, bool] = {}
        # What a command appends to the action log and to the outbox, written in one statement each when it ends
        self._actions: list[dict[str, Any]] = []
        self._events: list[CloudEvent] = []
        session.info.setdefault(_IN_SESSION, []).append(self)

    # -- helpers ---------------------------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self._now or clock.now()

    async def calendar(self) -> WorkingCalendar:
        if self._calendar is None:
            self._calendar = await catalogue_replica.calendar(self.session)
        return self._calendar

    def emit(self, payload: EventPayload, dossier_id: str) -> None:
        self._events.append(new_event(payload, source=SOURCE, subject=dossier_id))

    @property
    def unwritten(self) -> bool:
        return bool(self._actions or self._events)

    async def write_log(self) -> None:
        """Write the actions and events appended since the last call, in their order."""
        if self._actions:
            await self.session.execute(repo.INSERT_ACTION, self._actions)
            self._actions = []
        if self._events:
            await enqueue_many(self.session, [(e, self.topic, None) for e in self._events])
            self._events = []

    def log(
        self,
        j: Journey,
        action: str,
        actor: Actor,
        *,
        at: datetime | None = None,
        note: str | None = None,
        owner_decided: bool = False,
        **data: Any,
    ) -> None:
        """Append to the action log and fold the action into the derived status. A move the statuses do not allow is
        refused, unless intake (the dossier's owner) `owner_decided` it: then it is recorded and logged."""
        seq = self._next_seq[j.dossier_id]  # set when the journey was started or loaded in this transaction
        self._next_seq[j.dossier_id] = seq + 1
        self._actions.append(
            {
                "dossier_id": j.dossier_id,
                "seq": seq,
                "at": at or self.now(),
                "action": action,
                "actor": actor.subject,
                "role": actor.role,
                "unit": actor.unit,
                "note": note,
                "data": data,
            }
        )
        current = NationalStatus(j.status) if j.status else None
        status = st.next_status(current, action, data)
        if not st.allowed(current, status) and owner_decided:
            log.warning("routing.status.forced", dossier=j.code, action=action, previous=current, status=status)
        elif not st.allowed(current, status):  # a command whose phase checks let through what the statuses do not
            raise Conflict(
                f"Cannot {action.replace('_', ' ')}: dossier {j.code} would go from status {current} to {status}.",
                code="invalid-transition",
                status_code=j.status,
            )
        j.status = int(status)
        j.updated_at = at or self.now()

    @staticmethod
    def set_phase(j: Journey, phase: str) -> None:
        j.phase = phase
        j.queue = repo.QUEUE_OF_PHASE[phase]

    async def load(self, dossier_id: str) -> Journey:
        """The journey a command acts on, locked: a closed one (result returned, withdrawn) takes no command."""
        j = await self.find(dossier_id)
        if j is None:
            raise NotFound(f"No journey for dossier {dossier_id}.", code="journey-not-found")
        if j.phase == "closed":
            raise Conflict(
                f"Dossier {j.code} is closed (status {j.status}); nothing can be done on its journey any more.",
                code="journey-closed",
                status_code=j.status,
            )
        return j

    async def find(self, dossier_id: str) -> Journey | None:
        """The journey, locked for this transaction's change (None if there is none)."""
        found = await repo.journey_state(self.session, dossier_id, for_update=True)
        if found is None:
            return None
        j, last_seq, extended = found
        self._next_seq.setdefault(j.dossier_id, last_seq + 1)
        self.extended.setdefault(j.dossier_id, extended)
        return j

    @staticmethod
    def require_holder(j: Journey, actor: Actor) -> None:
        if actor.unit != j.holder_unit:
            raise Problem(
                403,
                f"Dossier {j.code} is held by unit {j.holder_unit}; unit {actor.unit} may not act on it.",
                code="not-holder",
                holder_unit=j.holder_unit,
            )

    @staticmethod
    def require_phase(j: Journey, *phases: str, doing: str) -> None:
        if j.phase not in phases:
            raise Conflict(
                f"Cannot {doing}: dossier {j.code} is {j.phase} (status {j.status}).",
                code="invalid-transition",
                phase=j.phase,
                status_code=j.status,
            )

    def ref(self, j: Journey, at: datetime | None = None) -> dict[str, Any]:
        return {
            "dossier_id": j.dossier_id,
            "code": j.code,
            "at": at or self.now(),
            "status": NationalStatus(j.status),
        }

    async def steps(self, j: Journey) -> list[JourneyStep]:
        found = self._steps.get(j.dossier_id)
        if found is None:
            found = self._steps[j.dossier_id] = await repo.steps(self.session, j.dossier_id)
        return found

    async def hops(self, j: Journey) -> list[Hop]:
        found = self._hops.get(j.dossier_id)
        if found is None:
            found = self._hops[j.dossier_id] = await repo.hops(self.session, j.dossier_id)
        return found

    async def step(self, j: Journey, seq: int | None) -> JourneyStep | None:
        if seq is None:
            return None
        return next((s for s in await self.steps(j) if s.seq == seq), None)

    async def last_seq(self, j: Journey) -> int:
        return len(await self.steps(j))

    async def check_unit(self, unit_id: str, *, field: str) -> UnitChanged | None:
        """A unit the dossier may go to: not merged away or closed (when the replica knows it)."""
        unit = await catalogue_replica.unit(self.session, unit_id)
        if unit is None:
            return None
        today = sla.local_date(self.now())
        if not unit.valid_on(today):
            raise Invalid(
                f"Unit {unit_id} ({unit.name}) is no longer in operation"
                + (f"; it was merged into {unit.successor_id}." if unit.successor_id else "."),
                field=field,
                code="unit-merged",
                successor_id=unit.successor_id,
            )
        return unit

    # -- journey creation ------------------------------------------------------------------------------------------

    async def plan(self, payload: DossierReceived) -> tuple[list[PlannedStep], bool, str | None]:
        """The route of the version in force at receipt: (steps, inter_level, problem with the route or None)."""
        received_day = sla.local_date(payload.received_at)
        version = await catalogue_replica.version_in_force(self.session, payload.procedure_code, payload.received_at)
        receiving = await catalogue_replica.unit(self.session, payload.receiving_unit)
        own_level = receiving.level if receiving is not None else "receiving"
        if version is None:
            # Intake judged the dossier by this version, so it is on its way through the catalogue topic.
            raise RetryLater(f"procedure {payload.procedure_code} in force at receipt is not in the replica yet")
        if not version.content.inter_level:
            return [PlannedStep(1, own_level, payload.receiving_unit, 100)], False, None
        chain = await catalogue_replica.ancestors(self.session, payload.receiving_unit)
        steps: list[PlannedStep] = []
        problem: str | None = None
        for i, step in enumerate(sorted(version.content.route, key=lambda s: s.order), start=1):
            unit_id = step.agency_id
            if unit_id is None:
                match = next((u for u in chain if u.level == step.level), None)
                unit_id = match.agency_id if match is not None else payload.receiving_unit
            unit = await catalogue_replica.unit(self.session, unit_id)
            if i == 1 and unit is not None and not unit.valid_on(received_day):
                problem = (  # later steps are checked when the dossier is about to hop to them
                    f"route step {i} references unit {unit_id} ({unit.name}), no longer in operation"
                    + (f" (merged into {unit.successor_id})" if unit.successor_id else "")
                    + "; the receiving desk must route the dossier"
                )
            steps.append(PlannedStep(i, step.level, unit_id, step.share_percent))
        return steps, True, problem

    @command
    async def start(self, payload: DossierReceived) -> Journey | None:
        """DossierReceived → the journey, its planned steps, and the first hop (or the first step at the desk)."""
        if await repo.journey_exists(self.session, payload.dossier_id):
            return None  # already started (a replay under another event id)
        cal = await self.calendar()
        planned, inter_level, problem = await self.plan(payload)
        total = sla.total_working_days(cal, payload.received_at, payload.appointment_at)
        days = sla.split_days(total, [p.share for p in planned])
        dues = sla.plan_due_dates(cal, payload.received_at, payload.appointment_at, days)
        at = payload.received_at
        j = Journey(
            dossier_id=payload.dossier_id,
            code=payload.code,
            procedure_code=payload.procedure_code,
            procedure_version=payload.procedure_version,
            field_code=payload.field_code,
            receiving_unit=payload.receiving_unit,
            channel=payload.channel.value,
            inter_level=inter_level,
            received_at=at,
            holder_unit=payload.receiving_unit,
            due_at=payload.appointment_at,
            original_due_at=payload.appointment_at,
            step_due_at=dues[0],
            sla_state=ev.SlaState.ON_TIME.value,
            step_sla_state=ev.SlaState.ON_TIME.value,
            paused_working_days=0,
            status=int(NationalStatus.NEW),
            updated_at=at,
        )
        self.set_phase(j, "routing")
        self.session.add(j)
        route = [
            JourneyStep(dossier_id=j.dossier_id, seq=p.seq, level=p.level, unit=p.unit, working_days=n, due_at=due)
            for p, n, due in zip(planned, days, dues, strict=True)
        ]
        self.session.add_all(route)
        await self.session.flush()
        self._steps[j.dossier_id] = route
        self._next_seq[j.dossier_id] = 1  # a journey that did not exist has no actions
        self.extended[j.dossier_id] = False
        desk = Actor.system(payload.receiving_unit, subject="intake")
        self.log(j, st.RECEIVED, desk, at=at, procedure_version=payload.procedure_version)
        self.emit(
            ev.JourneyStarted(
                **self.ref(j, at),
                procedure_code=j.procedure_code,
                procedure_version=j.procedure_version,
                field_code=j.field_code,
                receiving_unit=j.receiving_unit,
                inter_level=inter_level,
                steps=[
                    ev.RouteStep(seq=p.seq, level=p.level, unit=p.unit, working_days=n, due_at=due)
                    for p, n, due in zip(planned, days, dues, strict=True)
                ],
                due_at=j.due_at,
            ),
            j.dossier_id,
        )
        first = planned[0]
        if problem is not None:
            self.log(j, st.ROUTE_BLOCKED, Actor.system(), at=at, note=problem)
        elif first.unit == payload.receiving_unit:
            await self.begin_step(j, 1, desk, at=at)
        else:
            await self.request_hop(j, HopKind.FORWARD, first.unit, 1, desk, note=None, at=at)
        return j

    async def begin_step(self, j: Journey, seq: int, actor: Actor, *, at: datetime) -> None:
        step = await self.step(j, seq)
        assert step is not None
        step.state = "active"
        step.started_at = at
        j.current_step = seq
        j.step_due_at = step.due_at
        j.step_sla_state = ev.SlaState.ON_TIME.value
        j.officer = None
        self.set_phase(j, "active")
        self.log(j, st.STEP_STARTED, actor, at=at, step=seq, unit=step.unit)

    async def request_hop(
        self,
        j: Journey,
        kind: HopKind,
        to_unit: str,
        step_seq: int | None,
        actor: Actor,
        *,
        note: str | None,
        at: datetime | None = None,
    ) -> Hop:
        at = at or self.now()
        fields: dict[str, Any] = {
            "dossier_id": j.dossier_id,
            "kind": kind.value,
            "from_unit": j.holder_unit,
            "to_unit": to_unit,
            "step_seq": step_seq,
            "state": "requested",
            "requested_at": at,
            "requested_by": actor.subject,
            "note": note,
        }
        # Inserted at once for its id, without flushing the journey's pending changes (they go in one UPDATE).
        hop = Hop(id=(await self.session.execute(repo.INSERT_HOP, fields)).scalar_one(), **fields)
        self._hops.pop(j.dossier_id, None)  # read again (with this one) when the answer lists them
        j.pending_unit = to_unit
        j.pending_hop_id = hop.id
        if step_seq is not None:  # the clock of the step the hop leads into runs from now on
            target = await self.step(j, step_seq)
            assert target is not None
            j.step_due_at = target.due_at
            j.step_sla_state = ev.SlaState.ON_TIME.value
        self.set_phase(j, "awaiting")
        self.log(j, st.HOP_REQUESTED, actor, at=at, note=note, hop=hop.id, kind=kind.value, to=to_unit)
        self.emit(
            ev.HopRequested(
                **self.ref(j, at),
                hop_id=hop.id,
                kind=kind,
                from_unit=hop.from_unit,
                to_unit=to_unit,
                step_seq=step_seq,
                actor=actor.subject,
                actor_unit=actor.unit,
                note=note,
            ),
            j.dossier_id,
        )
        return hop

    # -- hops ------------------------------------------------------------------------------------------------------

    @command
    async def transfer(self, dossier_id: str, actor: Actor, to_unit: str | None, note: str | None) -> Hop:
        """The holder sends the dossier to the next step's unit (or another one: re-routing after a rejection)."""
        j = await self.load(dossier_id)
        self.require_holder(j, actor)
        self.require_phase(j, "routing", doing="transfer")
        seq = (j.current_step or 0) + 1
        step = await self.step(j, seq)
        if step is None:
            raise Conflict(f"Dossier {j.code} has no further route step to transfer to.", code="route-ended")
        target = to_unit or step.unit
        if target == j.holder_unit:
            raise Invalid("A dossier cannot be transferred to the unit that holds it.", field="body.to_unit")
        unit = await self.check_unit(target, field="body.to_unit")
        if target != step.unit:
            step.unit = target  # re-routed: the step is done by another unit
            if unit is not None:
                step.level = unit.level
        return await self.request_hop(j, HopKind.FORWARD, target, seq, actor, note=note)

    async def _pending_hop(self, j: Journey, hop_id: int, actor: Actor) -> Hop:
        hop = next((h for h in await self.hops(j) if h.id == hop_id), None)
        if hop is None:
            raise NotFound(f"No hop {hop_id} for dossier {j.code}.", code="hop-not-found")
        if hop.state != "requested":
            raise Conflict(f"Hop {hop_id} was already {hop.state}.", code="hop-not-pending", hop_state=hop.state)
        if actor.unit != hop.to_unit:
            raise Problem(
                403,
                f"Hop {hop_id} is addressed to unit {hop.to_unit}; unit {actor.unit} may not answer it.",
                code="not-addressee",
            )
        return hop

    @command
    async def accept_hop(self, dossier_id: str, hop_id: int, actor: Actor) -> Journey:
        j = await self.load(dossier_id)
        hop = await self._pending_hop(j, hop_id, actor)
        at = self.now()
        hop.state, hop.decided_at, hop.decided_by = "accepted", at, actor.subject
        j.holder_unit, j.pending_unit, j.pending_hop_id = hop.to_unit, None, None
        j.officer = None
        self.log(j, st.HOP_ACCEPTED, actor, at=at, hop=hop.id, kind=hop.kind, from_unit=hop.from_unit)
        self.emit(
            ev.HopAccepted(**self.ref(j, at), **self._hop_fields(hop), actor=actor.subject, actor_unit=actor.unit),
            j.dossier_id,
        )
        if hop.kind == HopKind.RETURN.value:
            await self.arrive_at_desk(j, actor, at)
        else:
            assert hop.step_seq is not None
            step = await self.step(j, hop.step_seq)
            assert step is not None
            step.state = "active"
            step.started_at = at
            j.current_step = hop.step_seq
            j.step_due_at = step.due_at
            j.step_sla_state = ev.SlaState.ON_TIME.value
            self.set_phase(j, "active")
        return j

    @command
    async def reject_hop(self, dossier_id: str, hop_id: int, actor: Actor, reason: str) -> Journey:
        j = await self.load(dossier_id)
        hop = await self._pending_hop(j, hop_id, actor)
        at = self.now()
        hop.state, hop.decided_at, hop.decided_by, hop.reason = "rejected", at, actor.subject, reason
        j.pending_unit, j.pending_hop_id = None, None  # the sender still holds it
        self.set_phase(j, "processed" if hop.kind == HopKind.RETURN.value else "routing")
        self.log(j, st.HOP_REJECTED, actor, at=at, note=reason, hop=hop.id, kind=hop.kind)
        self.emit(
            ev.HopRejected(
                **self.ref(j, at), **self._hop_fields(hop), actor=actor.subject, actor_unit=actor.unit, reason=reason
            ),
            j.dossier_id,
        )
        return j

    @staticmethod
    def _hop_fields(hop: Hop) -> dict[str, Any]:
        return {
            "hop_id": hop.id,
            "kind": HopKind(hop.kind),
            "from_unit": hop.from_unit,
            "to_unit": hop.to_unit,
            "step_seq": hop.step_seq,
        }

    # -- processing ------------------------------------------------------------------------------------------------

    @command
    async def assign(self, dossier_id: str, actor: Actor, officer: str, note: str | None) -> Journey:
        j = await self.load(dossier_id)
        self.require_holder(j, actor)
        self.require_phase(j, "active", "paused", doing="assign an officer")
        at = self.now()
        j.officer = officer
        self.log(j, st.ASSIGNED, actor, at=at, note=note, officer=officer)
        self.emit(
            ev.JourneyAssigned(**self.ref(j, at), unit=j.holder_unit, officer=officer, actor=actor.subject),
            j.dossier_id,
        )
        return j

    @command
    async def complete(self, dossier_id: str, actor: Actor, result: str | None, note: str | None) -> Journey:
        """Complete the holder's step: on to the next step's unit, or, at the last step, the result is ready."""
        j = await self.load(dossier_id)
        self.require_holder(j, actor)
        self.require_phase(j, "active", doing="complete")
        at = self.now()
        step = await self.step(j, j.current_step)
        assert step is not None
        last = step.seq == await self.last_seq(j)
        if last and not result:
            raise Invalid("The last step ends with a result: give `result`.", field="body.result")
        step.state, step.completed_at = "done", at
        step.late = at > step.due_at
        self.log(j, st.STEP_COMPLETED, actor, at=at, note=note, step=step.seq)
        self.emit(
            ev.StepCompleted(
                **self.ref(j, at),
                step_seq=step.seq,
                level=step.level,
                unit=step.unit,
                due_at=step.due_at,
                late=step.late,
                note=note,
            ),
            j.dossier_id,
        )
        if not last:
            following = await self.step(j, step.seq + 1)
            assert following is not None
            if following.unit == j.holder_unit:
                await self.begin_step(j, following.seq, actor, at=at)
            else:
                self.set_phase(j, "routing")
                try:
                    await self.check_unit(following.unit, field="route")
                except Problem as exc:  # a merged unit on the route: the holder re-routes with /transfer
                    self.log(j, st.ROUTE_BLOCKED, Actor.system(), at=at, note=exc.detail)
                    return j
                await self.request_hop(j, HopKind.FORWARD, following.unit, following.seq, actor, note=note, at=at)
            return j
        await self.finish(j, actor, Outcome.APPROVED, result=result, reasons=[], note=note, at=at)
        return j

    @command
    async def refuse(self, dossier_id: str, actor: Actor, reasons: list[str], note: str | None) -> Journey:
        j = await self.load(dossier_id)
        self.require_holder(j, actor)
        self.require_phase(j, "active", doing="refuse")
        at = self.now()
        step = await self.step(j, j.current_step)
        if step is not None:
            step.state, step.completed_at, step.late = "done", at, at > step.due_at
        await self.finish(j, actor, Outcome.REFUSED, result=None, reasons=reasons, note=note, at=at)
        return j

    async def finish(
        self,
        j: Journey,
        actor: Actor,
        outcome: Outcome,
        *,
        result: str | None,
        reasons: list[str],
        note: str | None,
        at: datetime,
    ) -> None:
        j.outcome, j.result, j.processed_at = outcome.value, result or "; ".join(reasons), at
        j.step_due_at = j.due_at
        self.set_phase(j, "processed")
        action = st.PROCESSED if outcome is Outcome.APPROVED else st.REFUSED
        self.log(j, action, actor, at=at, note=note, outcome=outcome.value, result=result, reasons=reasons)
        self.emit(
            ev.JourneyProcessed(
                **self.ref(j, at),
                unit=j.holder_unit,
                outcome=outcome,
                result=result,
                reasons=reasons,
                due_at=j.due_at,
                late=at > j.due_at,
            ),
            j.dossier_id,
        )

    @command
    async def return_to_desk(self, dossier_id: str, actor: Actor, note: str | None) -> Journey:
        j = await self.load(dossier_id)
        self.require_holder(j, actor)
        self.require_phase(j, "processed", doing="return the result")
        at = self.now()
        if j.holder_unit == j.receiving_unit:
            await self.arrive_at_desk(j, actor, at)
        else:
            await self.request_hop(j, HopKind.RETURN, j.receiving_unit, None, actor, note=note, at=at)
        return j

    async def arrive_at_desk(self, j: Journey, actor: Actor, at: datetime) -> None:
        self.set_phase(j, "at_desk")
        self.log(j, st.RESULT_AT_DESK, actor, at=at)
        self.emit(
            ev.ResultAtDesk(
                **self.ref(j, at), receiving_unit=j.receiving_unit, outcome=Outcome(j.outcome or "approved")
            ),
            j.dossier_id,
        )

    # -- clock: supplement, resume, extension ------------------------------------------------------------------------

    @command
    async def request_supplement(self, dossier_id: str, actor: Actor, missing: list[str], reason: str) -> Journey:
        j = await self.load(dossier_id)
        self.require_holder(j, actor)
        self.require_phase(j, "active", doing="request a supplement")
        at = self.now()
        j.paused_at = at
        self.set_phase(j, "paused")
        self.log(j, st.SUPPLEMENT_REQUESTED, actor, at=at, note=reason, missing=missing)
        self.emit(
            ev.SupplementRequested(
                **self.ref(j, at), unit=j.holder_unit, receiving_unit=j.receiving_unit, missing=missing, reason=reason
            ),
            j.dossier_id,
        )
        return j

    @command
    async def resume(self, dossier_id: str, actor: Actor, note: str | None, *, at: datetime | None = None) -> Journey:
        j = await self.load(dossier_id)
        if actor.role != "system":
            self.require_holder(j, actor)
        self.require_phase(j, "paused", doing="resume")
        await self._resume(j, actor, note, at or self.now())
        return j

    async def _resume(
        self, j: Journey, actor: Actor, note: str | None, at: datetime, appointment_at: datetime | None = None
    ) -> None:
        """Decree 61: once the dossier is complete again the processing time restarts from zero. Intake owns the
        appointment and announces it with the supplement; a resume at the agency counts the route's days again."""
        assert j.paused_at is not None
        cal = await self.calendar()
        n = sla.paused_days(cal, j.paused_at, at)
        steps = await self.steps(j)
        j.due_at = appointment_at or cal.add_working_days(at, sum(s.working_days for s in steps))
        open_steps = [s for s in steps if s.state != "done"]
        dues = sla.plan_due_dates(cal, at, j.due_at, [s.working_days for s in open_steps])
        for step, due in zip(open_steps, dues, strict=True):
            step.due_at = due
            if step.seq == j.current_step:
                j.step_due_at = due
        j.paused_working_days += n
        j.paused_at = None
        j.sla_state = j.step_sla_state = ev.SlaState.ON_TIME.value  # the sweep re-flags against the new dates
        self.set_phase(j, "active")
        self.log(j, st.RESUMED, actor, at=at, note=note, paused_working_days=n)
        self.emit(
            ev.JourneyResumed(
                **self.ref(j, at),
                unit=j.holder_unit,
                paused_working_days=n,
                due_at=j.due_at,
                step_due_at=j.step_due_at,
            ),
            j.dossier_id,
        )

    @command
    async def extend(self, dossier_id: str, actor: Actor, new_date: date, reason: str) -> Extension:
        """Once per dossier, at least one working day before the due date: form 04 and a new appointment."""
        j = await self.load(dossier_id)
        self.require_holder(j, actor)
        self.require_phase(j, "active", doing="extend")
        if self.extended.get(j.dossier_id):
            raise Conflict(
                f"Dossier {j.code} was already extended once; the appointment may be reset only once.",
                code="already-extended",
            )
        cal = await self.calendar()
        now = self.now()
        if sla.extension_lead_days(cal, now, j.due_at) < 1:
            raise Invalid(
                f"An extension must be asked at least one working day before the due date "
                f"({sla.local_date(j.due_at).isoformat()}).",
                field="body.new_date",
                code="extension-too-late",
                due_date=sla.local_date(j.due_at).isoformat(),
            )
        old_day = sla.local_date(j.due_at)
        if new_date <= old_day or not cal.is_working_day(new_date):
            raise Invalid(
                f"The new date must be a working day after the due date {old_day.isoformat()}.",
                field="body.new_date",
                code="invalid-new-date",
            )
        n = len(cal.working_days_in(old_day + timedelta(days=1), new_date))  # working days added
        previous = j.due_at
        j.due_at = cal.due_at(new_date)
        for step in await self.steps(j):
            if step.state != "done":
                step.due_at = min(sla.shift(cal, step.due_at, n), j.due_at)
                if step.seq == j.current_step:
                    j.step_due_at = step.due_at
        j.sla_state = j.step_sla_state = ev.SlaState.ON_TIME.value
        ext = Extension(
            dossier_id=j.dossier_id,
            unit=j.holder_unit,
            requested_by=actor.subject,
            requested_at=now,
            reason=reason,
            previous_due_at=previous,
            new_due_at=j.due_at,
        )
        self.session.add(ext)
        self.extended[j.dossier_id] = True
        self.log(j, st.EXTENDED, actor, at=now, note=reason, previous=previous.isoformat(), new=j.due_at.isoformat())
        self.emit(
            ev.JourneyExtended(
                **self.ref(j, now),
                unit=j.holder_unit,
                reason=reason,
                previous_appointment_at=previous,
                appointment_at=j.due_at,
                appointment_date=new_date,
            ),
            j.dossier_id,
        )
        return ext

    # -- intake events -------------------------------------------------------------------------------------------

    @command
    async def close(self, dossier_id: str, action: str, reason: str, at: datetime, unit: str | None) -> None:
        j = await self.find(dossier_id)
        if j is None or j.phase == "closed":
            return
        j.closed_at = at
        for hop in await self.hops(j):
            if hop.state == "requested":  # nobody may answer it any more
                hop.state, hop.decided_at, hop.reason = "cancelled", at, reason
        j.pending_unit = j.pending_hop_id = None
        if action == st.RESULT_RETURNED:
            j.holder_unit = j.receiving_unit
        self.set_phase(j, "closed")
        self.log(j, action, Actor.system(unit, subject="intake"), at=at, note=reason, owner_decided=True)
        self.emit(ev.JourneyClosed(**self.ref(j, at), reason=reason), j.dossier_id)

    @command
    async def supplemented(self, dossier_id: str, at: datetime, appointment_at: datetime | None) -> None:
        j = await self.find(dossier_id)
        if j is None or j.phase != "paused":
            return
        await self._resume(
            j, Actor.system(j.receiving_unit, subject="intake"), "hồ sơ đã được bổ sung", at, appointment_at
        )
