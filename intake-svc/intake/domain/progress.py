"""What routing's and payment's events do to a dossier: each event type is a history step, sometimes a new
status, appointment or hand-over mark (`intake.domain.dossier.progress`), the processing unit's supplement request,
or the one extension. `decide` answers for one event; `HANDLED` lists the types it answers for."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from intake.domain.dossier import Decision, Dossier, Status, extended, progress, supplement_requested_by_agency
from services.contracts import payment as pay
from services.contracts import routing as r
from services.events import EventPayload

_RECEIVED = frozenset({Status.RECEIVED})
_HOP_ACTIONS = {
    r.HopRequested: "transfer_requested",
    r.HopAccepted: "transfer_accepted",
    r.HopRejected: "transfer_rejected",
}


def _started(d: Dossier, p: r.JourneyStarted, _names: Mapping[str, str]) -> Decision:
    # not over a supplement the desk asked for meanwhile
    return progress(d, "handed_over", p.at, status=Status.PROCESSING, handed_over=True, status_from=_RECEIVED)


def _hop(d: Dossier, p: r.HopEvent, _names: Mapping[str, str]) -> Decision:
    note = getattr(p, "reason", None) or getattr(p, "note", None)
    return progress(d, _HOP_ACTIONS[type(p)], p.at, unit=p.to_unit, note=note)


def _step_completed(d: Dossier, p: r.StepCompleted, _names: Mapping[str, str]) -> Decision:
    return progress(d, "step_completed", p.at, unit=p.unit)


def _supplement_requested(d: Dossier, p: r.SupplementRequested, names: Mapping[str, str]) -> Decision | None:
    return supplement_requested_by_agency(d, p.missing, p.reason, p.at, p.unit, names)


def _resumed(d: Dossier, p: r.JourneyResumed, _names: Mapping[str, str]) -> Decision:
    # after a supplement handed in at the agency the processing time restarted there (Decree 61)
    return progress(d, "resumed", p.at, status=Status.PROCESSING, unit=p.unit, appointment_at=p.due_at)


def _extended(d: Dossier, p: r.JourneyExtended, _names: Mapping[str, str]) -> Decision | None:
    return extended(d, p.appointment_at, p.at, p.reason)


def _overdue(d: Dossier, p: r.JourneyOverdue, _names: Mapping[str, str]) -> Decision | None:
    return progress(d, "overdue", p.at, unit=p.unit) if p.scope == "dossier" else None


def _processed(d: Dossier, p: r.JourneyProcessed, _names: Mapping[str, str]) -> Decision:
    note = "; ".join(p.reasons) if p.outcome is r.Outcome.REFUSED else p.result
    return progress(
        d, f"processed_{p.outcome.value}", p.at, status=Status.PROCESSED, unit=p.unit, note=note,
        result_at_desk=p.unit == d.receiving_unit,  # decided at the desk, no hop back: the desk holds the result
    )  # fmt: skip


def _at_desk(d: Dossier, p: r.ResultAtDesk, _names: Mapping[str, str]) -> Decision:
    return progress(d, "result_at_desk", p.at, unit=p.receiving_unit, result_at_desk=True)


def _bill(d: Dossier, p: pay.BillRequested, _names: Mapping[str, str]) -> Decision:
    return progress(d, "payment_requested", p.at, note=f"{p.amount} VND")


def _paid(d: Dossier, p: pay.PaymentPaid, _names: Mapping[str, str]) -> Decision:
    return progress(d, "paid", p.paid_at, note=f"{p.amount} VND")


def _bill_cancelled(d: Dossier, p: pay.BillCancelled, _names: Mapping[str, str]) -> Decision:
    return progress(d, "bill_cancelled", p.at)


def _refunded(d: Dossier, p: pay.PaymentRefunded, _names: Mapping[str, str]) -> Decision:
    return progress(d, "refunded", p.at, note=f"{p.refund_amount} VND")


_DECIDE: dict[type[EventPayload], Callable[[Dossier, Any, Mapping[str, str]], Decision | None]] = {
    r.JourneyStarted: _started,
    r.HopRequested: _hop,
    r.HopAccepted: _hop,
    r.HopRejected: _hop,
    r.StepCompleted: _step_completed,
    r.SupplementRequested: _supplement_requested,
    r.JourneyResumed: _resumed,
    r.JourneyExtended: _extended,
    r.JourneyOverdue: _overdue,
    r.JourneyProcessed: _processed,
    r.ResultAtDesk: _at_desk,
    pay.BillRequested: _bill,
    pay.PaymentPaid: _paid,
    pay.BillCancelled: _bill_cancelled,
    pay.PaymentRefunded: _refunded,
}

#: The event types of routing and payment that a dossier takes notice of.
HANDLED: tuple[type[EventPayload], ...] = tuple(_DECIDE)

#: The types whose decision needs the names of the dossier's components (`decide`'s `names`).
NEEDS_COMPONENT_NAMES: frozenset[type[EventPayload]] = frozenset({r.SupplementRequested})


def dossier_id(payload: EventPayload) -> str:
    did: str = payload.dossier_id  # type: ignore[attr-defined]
    return did


def decide(d: Dossier, payload: EventPayload, names: Mapping[str, str] | None = None) -> Decision | None:
    """What the event does to the dossier; None: nothing, not even a step."""
    return _DECIDE[type(payload)](d, payload, names or {})
