"""Domain logic of payment-svc: bills, the payment state machine, notifications, refunds, expiry.

Functions take the request's (or the consumer's) session and never commit. Every change of state writes a ledger
row and its event (outbox) in the same transaction.

State machine of a payment::

    created ─► pending ─► paid ─► partially_refunded ─► refunded
                   │                      └──────────────►┘
                   ├─► failed    (final)
                   └─► expired   (final)

A notification can only move a payment forwards: a "failed" after "paid" is stale and ignored, a "paid" for a
payment already failed or expired leaves it as it is and raises a flag (the money has to be returned by hand).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from payment import ledger, repository
from payment.models import Bill, Payment, RefundRequest
from payment.providers import Notification
from payment.settings import Settings
from services import clock
from services.bus.outbox import enqueue, enqueue_many
from services.contracts.intake import DossierReceived
from services.contracts.payment import (
    BillCancelled,
    BillRequested,
    FlagKind,
    PaymentExpired,
    PaymentFailed,
    PaymentFlagged,
    PaymentPaid,
    PaymentRefunded,
    PaymentStarted,
)
from services.errors import Conflict, Invalid, NotFound, Problem
from services.events import EventPayload, new_event
from services.observability import bind_request_id, current_request_id
from services.topics import PAYMENT_PAYMENTS

log = structlog.get_logger(__name__)
security_log = structlog.get_logger("payment.security")

SOURCE = "/payment"
ONLINE_PROVIDERS = ("payos", "vnpay", "momo", "zalopay")
PROVIDERS = (*ONLINE_PROVIDERS, "cash")

CREATED, PENDING, PAID, FAILED, EXPIRED = "created", "pending", "paid", "failed", "expired"
PARTIALLY_REFUNDED, REFUNDED = "partially_refunded", "refunded"
OPEN_STATES = frozenset({CREATED, PENDING})
PAID_STATES = frozenset({PAID, PARTIALLY_REFUNDED, REFUNDED})
FINAL_STATES = frozenset({FAILED, EXPIRED, REFUNDED})

TRANSITIONS: dict[str, frozenset[str]] = {
    CREATED: frozenset({PENDING, FAILED, EXPIRED}),
    PENDING: frozenset({PAID, FAILED, EXPIRED}),
    PAID: frozenset({PARTIALLY_REFUNDED, REFUNDED}),
    PARTIALLY_REFUNDED: frozenset({PARTIALLY_REFUNDED, REFUNDED}),
    FAILED: frozenset(),
    EXPIRED: frozenset(),
    REFUNDED: frozenset(),
}

BILL_OPEN, BILL_PAID, BILL_CANCELLED = "open", "paid", "cancelled"


class Outcome(StrEnum):
    """What a verified notification did."""

    APPLIED = "applied"  # moved the payment (paid or failed)
    DUPLICATE = "duplicate"  # this provider transaction was seen before: no effect
    AMOUNT_MISMATCH = "amount_mismatch"  # flagged, not paid
    STALE = "stale"  # older news than the payment's state (failed after paid): ignored
    FINAL = "final"  # the payment is already expired / failed: no change (flagged if money was taken)
    DOUBLE_PAYMENT = "double_payment"  # a second transaction paid an already paid payment: flagged
    NOT_FOUND = "not_found"  # no payment of this provider with that order reference: nothing recorded
    #: a transaction seen before comes again with another amount (a forged or tampered replay): nothing recorded
    CONFLICTING_REPLAY = "conflicting_replay"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    payment: Payment | None = None
    #: for DUPLICATE: what the first copy did, so that the provider gets the same answer again
    first_outcome: Outcome | None = None


def now() -> datetime:
    return clock.now()


def new_order_ref() -> str:
    """15 digits, no leading zero: fits payOS's numeric orderCode, VNPay's vnp_TxnRef and the QR purpose."""
    return str(10**14 + secrets.randbelow(9 * 10**14))


#: session.info key of the events that `apply_notifications` writes to the outbox together at its end
_EVENTS = "payment_pending_events"


async def publish(session: AsyncSession, settings: Settings, payload: EventPayload, subject: str) -> None:
    event = new_event(payload, source=SOURCE, subject=subject)
    topic = PAYMENT_PAYMENTS.full_name(settings.topic_prefix)
    pending = session.info.get(_EVENTS)
    if pending is not None:
        pending.append((event, topic, None))
    else:
        await enqueue(session, event, topic=topic)


def _bill_fields(bill: Bill, at: datetime) -> dict[str, object]:
    return {
        "bill_id": bill.id,
        "dossier_id": bill.dossier_id,
        "dossier_code": bill.dossier_code,
        "receiving_unit": bill.receiving_unit,
        "at": at,
    }


def _payment_fields(bill: Bill, payment: Payment, at: datetime) -> dict[str, object]:
    return {
        **_bill_fields(bill, at),
        "payment_id": payment.id,
        "provider": payment.provider,
        "online": payment.provider in ONLINE_PROVIDERS,
        "amount": payment.amount,
    }


async def _transition(
    session: AsyncSession,
    payment: Payment,
    to: str,
    *,
    actor: str,
    at: datetime,
    amount: int = 0,
    provider_txn_id: str | None = None,
    note: str = "",
    kind: str = "transition",
) -> None:
    if to not in TRANSITIONS[payment.status]:
        raise Conflict(
            f"A payment that is {payment.status} cannot become {to}.",
            code="invalid-transition",
            status=payment.status,
        )
    await ledger.record(
        session,
        kind=kind,
        actor=actor,
        bill_id=payment.bill_id,
        payment_id=payment.id,
        from_status=payment.status,
        to_status=to,
        amount=amount,
        provider=payment.provider,
        provider_txn_id=provider_txn_id,
        note=note,
        at=at,
    )
    payment.status = to
    payment.updated_at = at


async def _flag(
    session: AsyncSession,
    settings: Settings,
    kind: FlagKind,
    *,
    detail: str,
    actor: str,
    provider: str,
    bill: Bill | None = None,
    payment: Payment | None = None,
    provider_txn_id: str | None = None,
    reported_amount: int | None = None,
    at: datetime,
) -> None:
    await ledger.record(
        session,
        kind="flag",
        actor=actor,
        bill_id=bill.id if bill else None,
        payment_id=payment.id if payment else None,
        provider=provider,
        provider_txn_id=provider_txn_id,
        amount=reported_amount or 0,
        note=f"{kind.value}: {detail}",
        at=at,
    )
    log.warning("payment_flagged", kind=kind.value, detail=detail, payment_id=payment.id if payment else None)
    await publish(
        session,
        settings,
        PaymentFlagged(
            kind=kind,
            bill_id=bill.id if bill else None,
            payment_id=payment.id if payment else None,
            dossier_id=bill.dossier_id if bill else None,
            dossier_code=bill.dossier_code if bill else None,
            provider=provider,
            provider_txn_id=provider_txn_id,
            expected_amount=payment.amount if payment else None,
            reported_amount=reported_amount,
            detail=detail,
            at=at,
        ),
        subject=bill.dossier_id if bill else (provider_txn_id or provider),
    )


# --- Bills -------------------------------------------------------------------------------------------


async def open_bill(session: AsyncSession, settings: Settings, received: DossierReceived) -> Bill | None:
    """A bill for a received dossier from its fee items; none when the total is zero or one exists already."""
    total = sum(item.amount for item in received.fees)
    if total <= 0:
        return None
    at = now()
    values: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "dossier_id": received.dossier_id,
        "dossier_code": received.code,
        "receiving_unit": received.receiving_unit,
        "procedure_code": received.procedure_code,
        "field_code": received.field_code,
        "dossier_channel": received.channel.value,
        "amount": total,
        "currency": "VND",
        "items": [item.model_dump() for item in received.fees],
        "status": BILL_OPEN,
        "created_at": at,
        "updated_at": at,
    }
    if not await repository.add_bill_if_absent(session, values):
        return None
    bill = await repository.bill_of_dossier(session, received.dossier_id)
    assert bill is not None
    await ledger.record(
        session, kind="bill_opened", actor="intake", bill_id=bill.id, to_status=BILL_OPEN, amount=total, at=at
    )
    await publish(
        session,
        settings,
        BillRequested(
            **_bill_fields(bill, at),  # type: ignore[arg-type]
            procedure_code=bill.procedure_code,
            field_code=bill.field_code,
            dossier_channel=bill.dossier_channel,
            amount=total,
        ),
        subject=bill.dossier_id,
    )
    return bill


async def cancel_bill(session: AsyncSession, settings: Settings, dossier_id: str, reason: str) -> Bill | None:
    """Cancel the open bill of a refused or withdrawn dossier. Its pending payments are left to the status query:
    only the provider can say whether the citizen has paid already; no new payment can start."""
    existing = await repository.bill_of_dossier(session, dossier_id)
    if existing is None:
        return None
    # Lock order everywhere: payments, then their bill.
    payments = await repository.payments_of_bill(session, existing.id, lock=True)
    bill = await repository.bill(session, existing.id, lock=True)
    assert bill is not None
    at = now()
    if bill.status == BILL_CANCELLED:
        return bill
    if bill.status == BILL_PAID:
        paid = next((p for p in payments if p.status in PAID_STATES), None)
        await _flag(
            session,
            settings,
            FlagKind.PAID_AFTER_CANCEL,
            detail=f"dossier {bill.dossier_code} was closed ({reason}) after its bill was paid: refund due",
            actor="intake",
            provider=paid.provider if paid else "unknown",
            bill=bill,
            payment=paid,
            at=at,
        )
        return bill
    # A pending payment stays pending: the citizen may have paid already, its callback not arrived yet. The sweep
    # asks its provider (settlement.py): paid → paid and flagged for refund (the bill is cancelled), else expired.
    await ledger.record(
        session,
        kind="bill_cancelled",
        actor="intake",
        bill_id=bill.id,
        from_status=bill.status,
        to_status=BILL_CANCELLED,
        note=reason,
        at=at,
    )
    bill.status = BILL_CANCELLED
    bill.updated_at = at
    await publish(session, settings, BillCancelled(**_bill_fields(bill, at), reason=reason), subject=bill.dossier_id)  # type: ignore[arg-type]
    return bill


# --- Payments ----------------------------------------------------------------------------------------


async def _fresh_payments_of_bill(session: AsyncSession, bill_id: str) -> Sequence[Payment]:
    stmt = (
        select(Payment)
        .where(Payment.bill_id == bill_id)
        .order_by(Payment.created_at, Payment.id)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalars().all()


async def start_payment(
    session: AsyncSession, settings: Settings, bill: Bill, provider: str, *, actor: str
) -> tuple[Payment, bool]:
    """Start paying `bill` through `provider`: created → pending. Returns (payment, created).

    The pending payment of the same provider is returned again (a portal retry); another provider's pending
    payment must expire or fail first (two live payments could both take the money).
    """
    if provider not in ONLINE_PROVIDERS:
        raise Invalid(f"Unknown provider {provider!r}; one of {', '.join(ONLINE_PROVIDERS)}.", field="body.provider")
    await repository.payments_of_bill(session, bill.id, lock=True)
    locked = await session.get(Bill, bill.id, with_for_update=True, populate_existing=True)
    assert locked is not None
    bill = locked
    # Read again now that the bill is locked: on PostgreSQL a statement that waited for a lock does not see the
    # payment another start committed meanwhile (two pending payments of one provider), and rows already in the
    # session keep their old values unless they are read with populate_existing.
    payments = await _fresh_payments_of_bill(session, bill.id)
    if bill.status == BILL_PAID:
        raise Conflict("This bill is paid already.", code="bill-paid")
    if bill.status == BILL_CANCELLED:
        raise Conflict("This bill was cancelled: the dossier was refused or withdrawn.", code="bill-cancelled")
    at = now()
    for existing in payments:
        if existing.status not in OPEN_STATES:
            continue
        if existing.expires_at <= at:
            await _expire(session, settings, bill, existing, at=at, actor="system:expiry", reason="time limit")
            continue
        if existing.provider == provider:
            return existing, False
        raise Conflict(
            f"Payment {existing.id} through {existing.provider} is still pending until "
            f"{existing.expires_at.isoformat()}.",
            code="payment-pending",
            payment_id=existing.id,
        )
    payment = Payment(
        id=str(uuid.uuid4()),
        bill_id=bill.id,
        order_ref=new_order_ref(),
        provider=provider,
        amount=bill.amount,
        currency=bill.currency,
        status=CREATED,
        refunded_amount=0,
        created_at=at,
        updated_at=at,
        expires_at=at + timedelta(seconds=settings.payment_ttl_seconds),
        started_by=actor[:100],
    )
    session.add(payment)
    await ledger.record(
        session,
        kind="transition",
        actor=actor,
        bill_id=bill.id,
        payment_id=payment.id,
        to_status=CREATED,
        provider=provider,
        note=f"order {payment.order_ref}",
        at=at,
    )
    await _transition(session, payment, PENDING, actor=actor, at=at, note="sent to the provider")
    await publish(
        session,
        settings,
        PaymentStarted(
            **_payment_fields(bill, payment, at),  # type: ignore[arg-type]
            order_ref=payment.order_ref,
            expires_at=payment.expires_at,
        ),
        subject=bill.dossier_id,
    )
    return payment, True


async def _expire(
    session: AsyncSession, settings: Settings, bill: Bill, payment: Payment, *, at: datetime, actor: str, reason: str
) -> None:
    await _transition(session, payment, EXPIRED, actor=actor, at=at, note=reason)
    await publish(
        session,
        settings,
        PaymentExpired(**_payment_fields(bill, payment, at), reason=reason),  # type: ignore[arg-type]
        subject=bill.dossier_id,
    )


async def expire_due(session: AsyncSession, settings: Settings, *, at: datetime | None = None, limit: int = 500) -> int:
    """Expire pending payments past their time; returns how many. Safe to run in every replica at once."""
    at = at or now()
    due = await repository.due_payments(session, at, limit)
    for payment in due:
        bill = await repository.bill(session, payment.bill_id)
        assert bill is not None
        await _expire(session, settings, bill, payment, at=at, actor="system:expiry", reason="time limit")
    return len(due)


async def apply_notification(
    session: AsyncSession, settings: Settings, note: Notification, *, source: str = "webhook"
) -> Result:
    """Apply a verified provider notification exactly once in effect."""
    return (await apply_notifications(session, settings, [note], source=source))[0]


async def apply_notifications(
    session: AsyncSession,
    settings: Settings,
    notes: Sequence[Notification],
    *,
    source: str = "webhook",
    request_ids: Sequence[str | None] | None = None,
) -> list[Result]:
    """Apply verified provider notifications, each exactly once in effect, in the session's transaction.

    Several at once is the group commit of the webhooks: each step is one statement for the whole batch. The
    notifications must be of distinct payments and distinct provider transactions (`conflicts` tells), so that
    each one is decided on the state its predecessors committed. `request_ids` (one per notification) tie each
    one's events to the request that brought it.
    """
    if not notes:
        return []
    if conflicts(notes):
        raise ValueError("notifications applied together must be of distinct payments and provider transactions")
    ids = list(request_ids) if request_ids is not None else [current_request_id()] * len(notes)
    # Lock order everywhere: payments (oldest first), then their bills. Same payment ⇒ serialised by its row lock;
    # the unique constraint on (provider, provider_txn_id) covers everything else.
    payments = {p.order_ref: p for p in await repository.payments_by_order_refs(session, [n.order_ref for n in notes])}
    bills = {b.id: b for b in await repository.bills(session, {p.bill_id for p in payments.values()}, lock=True)}
    known = {(n.provider, n.provider_txn_id) for n in notes if n.order_ref in payments}
    seen = await repository.notification_outcomes(session, known)
    at = now()
    results: list[Result | None] = [None] * len(notes)
    decided: list[tuple[int, Notification, Payment, Bill, Outcome]] = []
    session.info[_EVENTS] = []
    try:
        for i, note in enumerate(notes):
            bind_request_id(ids[i])
            payment = payments.get(note.order_ref)
            if payment is None or payment.provider != note.provider:
                log.info("notification_unknown_order", provider=note.provider, order_ref=note.order_ref)
                results[i] = Result(Outcome.NOT_FOUND)
                continue
            first = seen.get((note.provider, note.provider_txn_id))
            if first is not None:
                first_outcome, first_amount = first
                if first_amount != note.amount:
                    security_log.warning("notification_conflicting_replay", security=True, provider=note.provider,
                                provider_txn_id=note.provider_txn_id, recorded=first_amount, reported=note.amount)
                    results[i] = Result(Outcome.CONFLICTING_REPLAY, payment)
                else:
                    results[i] = Result(Outcome.DUPLICATE, payment, first_outcome=Outcome(first_outcome))
                continue
            bill = bills[payment.bill_id]
            outcome = await _decide(session, settings, bill, payment, note, at)
            decided.append((i, note, payment, bill, outcome))

        inserted = await repository.add_notifications_if_absent(
            session,
            [
                {
                    "provider": note.provider,
                    "provider_txn_id": note.provider_txn_id,
                    "order_ref": note.order_ref,
                    "payment_id": payment.id,
                    "amount": note.amount,
                    "currency": note.currency[:3],
                    "status": note.status,
                    "outcome": outcome.value,
                    "source": source,
                    "received_at": at,
                }
                for _, note, payment, _, outcome in decided
            ],
        )
        for i, note, payment, bill, outcome in decided:
            bind_request_id(ids[i])
            if (note.provider, note.provider_txn_id) not in inserted:
                # A concurrent copy (for another payment's order ref) won the race.
                results[i] = Result(Outcome.DUPLICATE, payment, first_outcome=outcome)
                continue
            await _apply(session, settings, bill, payment, note, outcome, at=at, source=source)
            results[i] = Result(outcome, payment)
        await enqueue_many(session, session.info[_EVENTS])
    finally:
        session.info.pop(_EVENTS, None)
        bind_request_id(ids[0] if len(set(ids)) == 1 else None)
    return [r for r in results if r is not None]


def conflicts(notes: Sequence[Notification]) -> bool:
    """True if two of `notes` are of the same payment or the same provider transaction."""
    return len({n.order_ref for n in notes}) < len(notes) or len(
        {(n.provider, n.provider_txn_id) for n in notes}
    ) < len(notes)


async def _decide(
    session: AsyncSession, settings: Settings, bill: Bill, payment: Payment, note: Notification, at: datetime
) -> Outcome:
    """What a new notification does to its payment; a payment past its time expires first (paid in time excepted)."""
    if payment.status in OPEN_STATES and payment.expires_at <= at:
        paid_in_time = note.status == "paid" and note.paid_at is not None and note.paid_at <= payment.expires_at
        if not paid_in_time:
            await _expire(session, settings, bill, payment, at=at, actor="system:expiry", reason="time limit")
    if note.amount != payment.amount or note.currency.upper() != payment.currency:
        return Outcome.AMOUNT_MISMATCH
    if payment.status in OPEN_STATES:
        return Outcome.APPLIED
    if note.status == "failed":
        return Outcome.STALE if payment.status in PAID_STATES else Outcome.FINAL
    if payment.status in PAID_STATES:
        return Outcome.STALE if payment.provider_txn_id == note.provider_txn_id else Outcome.DOUBLE_PAYMENT
    return Outcome.FINAL


async def _apply(
    session: AsyncSession,
    settings: Settings,
    bill: Bill,
    payment: Payment,
    note: Notification,
    outcome: Outcome,
    *,
    at: datetime,
    source: str,
) -> None:
    actor = f"{note.provider}:{source}"
    if outcome is Outcome.AMOUNT_MISMATCH:
        await _flag(
            session,
            settings,
            FlagKind.AMOUNT_MISMATCH,
            detail=f"{note.provider} reports {note.amount} {note.currency} for a payment of {payment.amount} VND",
            actor=actor,
            provider=note.provider,
            bill=bill,
            payment=payment,
            provider_txn_id=note.provider_txn_id,
            reported_amount=note.amount,
            at=at,
        )
    elif outcome is Outcome.APPLIED and note.status == "paid":
        await mark_paid(session, settings, bill, payment, note, actor=actor, at=at, via=source)
    elif outcome is Outcome.APPLIED:
        await _transition(
            session, payment, FAILED, actor=actor, at=at, provider_txn_id=note.provider_txn_id, note="declined"
        )
        await publish(
            session,
            settings,
            PaymentFailed(**_payment_fields(bill, payment, at), reason=f"{note.provider} reports failure"),  # type: ignore[arg-type]
            subject=bill.dossier_id,
        )
    elif outcome is Outcome.DOUBLE_PAYMENT or (outcome is Outcome.FINAL and note.status == "paid"):
        kind = FlagKind.DOUBLE_PAYMENT if outcome is Outcome.DOUBLE_PAYMENT else FlagKind.PAID_WHEN_FINAL
        await _flag(
            session,
            settings,
            kind,
            detail=f"{note.provider} took {note.amount} VND (txn {note.provider_txn_id}) for a payment already "
            f"{payment.status}: refund due",
            actor=actor,
            provider=note.provider,
            bill=bill,
            payment=payment,
            provider_txn_id=note.provider_txn_id,
            reported_amount=note.amount,
            at=at,
        )
    else:
        await ledger.record(
            session,
            kind="ignored",
            actor=actor,
            bill_id=bill.id,
            payment_id=payment.id,
            provider=note.provider,
            provider_txn_id=note.provider_txn_id,
            note=f"{note.status} notification for a payment already {payment.status}: no change",
            at=at,
        )


async def mark_paid(
    session: AsyncSession,
    settings: Settings,
    bill: Bill,
    payment: Payment,
    note: Notification,
    *,
    actor: str,
    at: datetime,
    via: str,
) -> None:
    paid_at = note.paid_at.astimezone(UTC) if note.paid_at else at
    await _transition(
        session,
        payment,
        PAID,
        actor=actor,
        at=at,
        amount=note.amount,
        provider_txn_id=note.provider_txn_id,
        note=f"paid via {via}",
        kind="correction" if via == "reconciliation" else "transition",
    )
    payment.provider_txn_id = note.provider_txn_id
    payment.paid_at = paid_at
    await publish(
        session,
        settings,
        PaymentPaid(
            **_payment_fields(bill, payment, at),  # type: ignore[arg-type]
            provider_txn_id=note.provider_txn_id,
            paid_at=paid_at,
            via=via,
        ),
        subject=bill.dossier_id,
    )
    if bill.status == BILL_OPEN:
        await ledger.record(
            session, kind="bill_paid", actor=actor, bill_id=bill.id, payment_id=payment.id,
            from_status=BILL_OPEN, to_status=BILL_PAID, amount=note.amount, at=at,
        )  # fmt: skip
        bill.status = BILL_PAID
        bill.updated_at = at
    else:
        await _flag(
            session,
            settings,
            FlagKind.DOUBLE_PAYMENT if bill.status == BILL_PAID else FlagKind.PAID_AFTER_CANCEL,
            detail=f"payment {payment.id} was paid while its bill is {bill.status}: refund due",
            actor=actor,
            provider=payment.provider,
            bill=bill,
            payment=payment,
            provider_txn_id=note.provider_txn_id,
            reported_amount=note.amount,
            at=at,
        )


async def _give_back(
    session: AsyncSession, settings: Settings, payment: Payment, amount: int, reason: str, *, actor: str, at: datetime
) -> None:
    """Money returned to the payer: the refund transition, its ledger row and its event."""
    bill = await repository.bill(session, payment.bill_id)
    assert bill is not None
    total = payment.refunded_amount + amount
    to = REFUNDED if total == payment.amount else PARTIALLY_REFUNDED
    await _transition(session, payment, to, actor=actor, at=at, amount=amount, kind="refund", note=reason)
    payment.refunded_amount = total
    await publish(
        session,
        settings,
        PaymentRefunded(
            **_payment_fields(bill, payment, at),  # type: ignore[arg-type]
            refund_amount=amount,
            refunded_total=total,
            fully_refunded=to == REFUNDED,
            reason=reason,
        ),
        subject=bill.dossier_id,
    )


async def begin_refund(
    session: AsyncSession,
    settings: Settings,
    payment_id: str,
    amount: int,
    reason: str,
    *,
    actor: str,
    through_provider: bool,
) -> tuple[Payment, RefundRequest]:
    """Check a refund and record the request; the total refunded (and asked for) never exceeds what was paid.

    `through_provider`: the request is sent to the provider next (state "sending") and money moves only when the
    provider accepts it (`finish_refund`). Otherwise (payOS, which has no refund API) staff have given the money
    back by hand and the refund is recorded at once (state "manual")."""
    payment = await repository.payment(session, payment_id, lock=True)
    if payment is None:
        raise NotFound(f"No payment {payment_id}.")
    if payment.status not in (PAID, PARTIALLY_REFUNDED):
        raise Conflict(f"Only a paid payment can be refunded; this one is {payment.status}.", code="not-refundable")
    in_flight = await repository.refunds_in_flight(session, payment.id)
    remaining = payment.amount - payment.refunded_amount - in_flight
    if amount > remaining:
        raise Problem(
            422,
            f"A refund of {amount} VND is more than the {remaining} VND left of this payment.",
            code="refund-exceeds-paid",
            paid=payment.amount,
            refunded=payment.refunded_amount,
            awaiting_provider=in_flight,
            remaining=remaining,
        )
    at = now()
    request = RefundRequest(
        id=str(uuid.uuid4()), payment_id=payment.id, provider=payment.provider, amount=amount, reason=reason,
        actor=actor[:100], state="sending" if through_provider else "manual", provider_answer="", checks=0,
        created_at=at, updated_at=at,
    )  # fmt: skip
    session.add(request)
    if not through_provider:
        request.provider_answer = f"{payment.provider} has no refund API: given back by hand"
        await _give_back(session, settings, payment, amount, reason, actor=actor, at=at)
    return payment, request


#: What a provider's answer makes of a refund request.
_REFUND_STATES = {"accepted": "accepted", "refused": "refused", "processing": "processing", "not_found": "refused"}


async def finish_refund(
    session: AsyncSession,
    settings: Settings,
    request_id: str,
    answer: str,
    detail: str,
    *,
    provider_refund_id: str | None = None,
    at: datetime | None = None,
) -> tuple[Payment, RefundRequest]:
    """Record the provider's answer to a refund (`answer`: provider_api.RefundAnswer's value, or "unknown" when
    none came). Accepted: the money goes back in the ledger, once. Refused: nothing changes. Processing or unknown:
    the sweep asks again (`next_check_at`). An answer for a request already settled changes nothing."""
    at = at or now()
    existing = await repository.refund_request(session, request_id)
    if existing is None:
        raise NotFound(f"No refund request {request_id}.")
    payment = await repository.payment(session, existing.payment_id, lock=True)
    request = await repository.refund_request(session, request_id, lock=True)
    assert payment is not None and request is not None
    if request.state not in repository.REFUNDS_IN_FLIGHT:
        return payment, request
    state = _REFUND_STATES.get(answer, "unknown")
    request.provider_answer = detail[:500]
    request.updated_at = at
    if provider_refund_id:
        request.provider_refund_id = provider_refund_id[:64]
    if state == "accepted":
        remaining = payment.amount - payment.refunded_amount
        if payment.status not in (PAID, PARTIALLY_REFUNDED) or request.amount > remaining:
            # The provider gave back money the ledger cannot take: a person must look at it.
            request.state = "accepted"
            await _flag(session, settings, FlagKind.SETTLEMENT_MISMATCH,
                        detail=f"{payment.provider} accepted refund {request.id} of {request.amount} VND for a "
                        f"payment that is {payment.status} with {payment.refunded_amount} VND refunded",
                        actor=f"{payment.provider}:refund", provider=payment.provider, payment=payment, at=at)
            return payment, request
        request.state = "accepted"
        await _give_back(session, settings, payment, request.amount, request.reason, actor=request.actor, at=at)
        return payment, request
    request.state = state
    if state in ("processing", "unknown"):
        request.next_check_at = at + timedelta(seconds=retry_delay(settings, request.checks))
        request.checks += 1
    return payment, request


def retry_delay(settings: Settings, attempts: int) -> float:
    """Seconds before asking a provider again after `attempts` questions: doubling from the first delay, capped."""
    return float(min(settings.status_query_retry_seconds * 2 ** min(attempts, 30),
                     settings.status_query_max_retry_seconds))


async def settle_from_query(
    session: AsyncSession,
    settings: Settings,
    payment_id: str,
    answer: str,
    note: Notification | None,
    detail: str,
    *,
    at: datetime | None = None,
) -> Outcome | None:
    """Act on the provider's answer to a status query, through the same state machine and ledger as a callback.

    paid / failed: the notification is applied as a callback's would be (a callback arriving before or after is
    a duplicate: the provider's transaction id is the same). pending / not_found: nothing was paid; a payment past
    its time expires now that the provider has said so. error: nothing changes, the sweep asks again later."""
    at = at or now()
    outcome: Outcome | None = None
    if note is not None:
        (result,) = await apply_notifications(session, settings, [note], source="status_query")
        outcome = result.outcome
    payment = await repository.payment(session, payment_id, lock=True)
    if payment is None:
        return outcome
    payment.status_answer = answer[:16]
    payment.status_answered_at = at
    if note is None and answer in ("pending", "not_found") and payment.status in OPEN_STATES:
        if payment.expires_at <= at:
            bill = await repository.bill(session, payment.bill_id)
            assert bill is not None
            await _expire(session, settings, bill, payment, at=at, actor=f"{payment.provider}:status_query",
                          reason=f"time limit; {payment.provider} confirms nothing was paid ({detail})"[:200])
        else:
            payment.next_status_query_at = min(payment.expires_at,
                                               at + timedelta(seconds=retry_delay(settings, payment.status_queries)))
    log.info("payment_status_answer", provider=payment.provider, payment_id=payment.id, answer=answer,
             outcome=outcome.value if outcome else None)
    return outcome
