"""What intake-svc consumes.

- The catalogue topics, into the local replica (`services.catalogue_replica`): intake judges dossiers from it alone.
- Routing's and payment's events (`services.contracts.routing` / `.payment`), to keep the dossier's status and
  history current: each event type maps to `apply_progress` (a history step, sometimes a new status),
  `apply_supplement_request` (the processing unit asks the applicant for more) or `apply_new_appointment` (the one
  extension, form 04, moves the appointment date). A new event type is one more entry in `_routing_handlers` /
  `_payment_handlers`; types without an entry are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from intake.models import Dossier
from intake.repository import add_step, dossier
from intake.schemas import CLOSED, Status, can_move
from intake.settings import Settings
from services import catalogue_replica
from services.bus.consumer import Handler, Subscription
from services.events import CloudEvent, EventPayload
from services.topics import PAYMENT_PAYMENTS, ROUTING_JOURNEYS

_LOCKED = "intake_locked_dossiers"


async def _locked(session: AsyncSession, dossier_id: str) -> Dossier | None:
    """The dossier, locked for this transaction; read once per transaction (the consumer applies the events of one
    poll together, and a routing command announces several steps of one dossier at once)."""
    held: dict[str, Dossier] = session.info.setdefault(_LOCKED, {})
    d = held.get(dossier_id)
    if d is None:
        d = await dossier(session, dossier_id, lock=True)
        if d is not None:
            held[dossier_id] = d
    return d


async def apply_progress(
    session: AsyncSession,
    envelope: CloudEvent,
    dossier_id: str,
    action: str,
    at: datetime,
    *,
    status: Status | None = None,
    status_from: frozenset[Status] | None = None,
    unit: str | None = None,
    note: str | None = None,
    appointment_at: datetime | None = None,
    handed_over: bool = False,
    result_at_desk: bool = False,
) -> None:
    """Record a step of another service in the dossier's history and move its status (only along the allowed
    transitions) and appointment (never those of a closed one)."""
    d = await _locked(session, dossier_id)
    if d is None:
        return  # not ours (another intake deployment) or not yet known: nothing to show
    if Status(d.status) not in CLOSED:
        if status is not None and can_move(d.status, status) and (status_from is None or d.status in status_from):
            d.status = status.value
            d.updated_at = at
        if handed_over and d.handed_over_at is None:
            d.handed_over_at = at
        if result_at_desk and d.result_at_desk_at is None:
            d.result_at_desk_at = at
        if appointment_at is not None and appointment_at != d.appointment_at:
            d.appointment_at = appointment_at
            d.updated_at = at
    await add_step(
        session, dossier_id=d.id, at=at, action=action, status=d.status, unit=unit, note=note, event_id=envelope.id
    )


async def apply_supplement_request(
    session: AsyncSession,
    envelope: CloudEvent,
    dossier_id: str,
    missing: list[str],
    reason: str,
    at: datetime,
    unit: str | None,
) -> None:
    """The processing unit asked for more (form 02 via the desk): the applicant supplements at intake, which then
    announces `DossierSupplemented`."""
    d = await _locked(session, dossier_id)
    if d is None or not can_move(d.status, Status.SUPPLEMENT_REQUESTED):
        return
    names: dict[str, str] = {}
    snapshot = await catalogue_replica.procedure(session, d.procedure_code)
    for v in snapshot.versions if snapshot else []:
        if v.version == d.procedure_version:
            names = {c.code: c.name for c in v.content.components}
    d.status = Status.SUPPLEMENT_REQUESTED.value
    d.missing = [{"code": code, "name": names.get(code, code)} for code in missing]
    d.supplement_reason = reason
    d.updated_at = at
    await add_step(
        session,
        dossier_id=d.id,
        at=at,
        action="supplement_requested",
        status=d.status,
        unit=unit,
        note=reason,
        event_id=envelope.id,
    )


async def apply_new_appointment(
    session: AsyncSession, envelope: CloudEvent, dossier_id: str, appointment_at: datetime, at: datetime, note: str
) -> None:
    """The one extension (form 04): the appointment date moves to the date routing set."""
    d = await _locked(session, dossier_id)
    if d is None or Status(d.status) in CLOSED:
        return
    d.appointment_at = appointment_at
    d.extended = True
    d.updated_at = at
    await add_step(session, dossier_id=d.id, at=at, action="extended", status=d.status, note=note, event_id=envelope.id)


_RECEIVED = frozenset({Status.RECEIVED})


def _routing_handlers() -> dict[type[EventPayload], Handler]:
    from services.contracts import routing as r

    async def started(session: AsyncSession, env: CloudEvent, p: r.JourneyStarted) -> None:
        await apply_progress(
            session, env, p.dossier_id, "handed_over", p.at, status=Status.PROCESSING, handed_over=True,
            status_from=_RECEIVED,  # not over a supplement the desk asked for meanwhile
        )  # fmt: skip

    async def hop(session: AsyncSession, env: CloudEvent, p: r.HopEvent) -> None:
        action = {r.HopRequested: "transfer_requested", r.HopAccepted: "transfer_accepted"}.get(
            type(p), "transfer_rejected"
        )
        note = getattr(p, "reason", None) or getattr(p, "note", None)
        await apply_progress(session, env, p.dossier_id, action, p.at, unit=p.to_unit, note=note)

    async def step_done(session: AsyncSession, env: CloudEvent, p: r.StepCompleted) -> None:
        await apply_progress(session, env, p.dossier_id, "step_completed", p.at, unit=p.unit)

    async def supplement_requested(session: AsyncSession, env: CloudEvent, p: r.SupplementRequested) -> None:
        await apply_supplement_request(session, env, p.dossier_id, p.missing, p.reason, p.at, p.unit)

    async def resumed(session: AsyncSession, env: CloudEvent, p: r.JourneyResumed) -> None:
        # after a supplement handed in at the agency the processing time restarted there (Decree 61)
        await apply_progress(
            session, env, p.dossier_id, "resumed", p.at, status=Status.PROCESSING, unit=p.unit, appointment_at=p.due_at
        )

    async def extended(session: AsyncSession, env: CloudEvent, p: r.JourneyExtended) -> None:
        await apply_new_appointment(session, env, p.dossier_id, p.appointment_at, p.at, p.reason)

    async def overdue(session: AsyncSession, env: CloudEvent, p: r.JourneyOverdue) -> None:
        if p.scope == "dossier":
            await apply_progress(session, env, p.dossier_id, "overdue", p.at, unit=p.unit)

    async def processed(session: AsyncSession, env: CloudEvent, p: r.JourneyProcessed) -> None:
        note = "; ".join(p.reasons) if p.outcome is r.Outcome.REFUSED else p.result
        d = await _locked(session, p.dossier_id)
        decided_at_desk = d is not None and p.unit == d.receiving_unit  # no hop back: the desk holds the result
        await apply_progress(
            session, env, p.dossier_id, f"processed_{p.outcome.value}", p.at, status=Status.PROCESSED, unit=p.unit,
            note=note, result_at_desk=decided_at_desk,
        )  # fmt: skip

    async def at_desk(session: AsyncSession, env: CloudEvent, p: r.ResultAtDesk) -> None:
        await apply_progress(
            session, env, p.dossier_id, "result_at_desk", p.at, unit=p.receiving_unit, result_at_desk=True
        )

    return {
        r.JourneyStarted: started,
        r.HopRequested: hop,
        r.HopAccepted: hop,
        r.HopRejected: hop,
        r.StepCompleted: step_done,
        r.SupplementRequested: supplement_requested,
        r.JourneyResumed: resumed,
        r.JourneyExtended: extended,
        r.JourneyOverdue: overdue,
        r.JourneyProcessed: processed,
        r.ResultAtDesk: at_desk,
    }


def _payment_handlers() -> dict[type[EventPayload], Handler]:
    from services.contracts import payment as pay

    async def bill(session: AsyncSession, env: CloudEvent, p: pay.BillRequested) -> None:
        await apply_progress(session, env, p.dossier_id, "payment_requested", p.at, note=f"{p.amount} VND")

    async def paid(session: AsyncSession, env: CloudEvent, p: pay.PaymentPaid) -> None:
        await apply_progress(session, env, p.dossier_id, "paid", p.paid_at, note=f"{p.amount} VND")

    async def cancelled(session: AsyncSession, env: CloudEvent, p: pay.BillCancelled) -> None:
        await apply_progress(session, env, p.dossier_id, "bill_cancelled", p.at)

    async def refunded(session: AsyncSession, env: CloudEvent, p: pay.PaymentRefunded) -> None:
        await apply_progress(session, env, p.dossier_id, "refunded", p.at, note=f"{p.refund_amount} VND")

    return {pay.BillRequested: bill, pay.PaymentPaid: paid, pay.BillCancelled: cancelled, pay.PaymentRefunded: refunded}


def subscriptions(settings: Settings) -> Sequence[Subscription]:
    # What the replica applies makes this process's cached terms and calendar stale (its `on_committed`).
    subs = [catalogue_replica.subscription(settings.topic_prefix, group="intake.catalogue")]
    handlers: dict[Any, Handler] = {**_routing_handlers(), **_payment_handlers()}
    if handlers:
        subs.append(
            Subscription(
                name="intake.progress",
                topics=[
                    ROUTING_JOURNEYS.full_name(settings.topic_prefix),
                    PAYMENT_PAYMENTS.full_name(settings.topic_prefix),
                ],
                handlers=handlers,
            )
        )
    return subs
