"""The rules of a payment: starting it, a provider's notification, a status query's answer, expiry, flags.

A notification can only move a payment forwards: a "failed" after "paid" is stale and ignored, a "paid" for a
payment already failed or expired leaves it as it is and raises a flag (the money has to be returned by hand).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from payment.domain.model import NOTHING, ONLINE_PROVIDERS, BillState, Decision, Emit, LedgerRow, PaymentState
from payment.domain.states import (
    CREATED,
    EXPIRED,
    FAILED,
    OPEN_STATES,
    PAID,
    PAID_STATES,
    PENDING,
    TRANSITIONS,
    BillStatus,
    Outcome,
    PaymentStatus,
)
from payment.providers import Notification
from services.contracts.payment import (
    FlagKind,
    PaymentExpired,
    PaymentFailed,
    PaymentFlagged,
    PaymentPaid,
    PaymentStarted,
)
from services.errors import Conflict, Invalid

#: Who expires a payment whose time is up.
EXPIRY_ACTOR = "system:expiry"
EXPIRY_REASON = "time limit"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait before asking a provider again: doubling from `first_seconds`, capped."""

    first_seconds: float
    max_seconds: float

    def delay(self, attempts: int) -> timedelta:
        """The wait after `attempts` questions."""
        return timedelta(seconds=float(min(self.first_seconds * 2 ** min(attempts, 30), self.max_seconds)))


def bill_fields(bill: BillState, at: datetime) -> dict[str, object]:
    return {
        "bill_id": bill.id,
        "dossier_id": bill.dossier_id,
        "dossier_code": bill.dossier_code,
        "receiving_unit": bill.receiving_unit,
        "at": at,
    }


def payment_fields(bill: BillState, payment: PaymentState, at: datetime) -> dict[str, object]:
    return {
        **bill_fields(bill, at),
        "payment_id": payment.id,
        "provider": payment.provider,
        "online": payment.online,
        "amount": payment.amount,
    }


def transition(
    payment: PaymentState,
    to: PaymentStatus,
    *,
    actor: str,
    at: datetime,
    amount: int = 0,
    provider_txn_id: str | None = None,
    note: str = "",
    kind: str = "transition",
) -> tuple[PaymentState, LedgerRow]:
    """`payment` moved to `to`, with its ledger row; a move the transition table does not allow is a conflict."""
    if to not in TRANSITIONS[payment.status]:
        raise Conflict(
            f"A payment that is {payment.status} cannot become {to}.",
            code="invalid-transition",
            payment_status=payment.status,
        )
    row = LedgerRow(
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
    return replace(payment, status=to, updated_at=at), row


def flag(
    kind: FlagKind,
    *,
    detail: str,
    actor: str,
    provider: str,
    at: datetime,
    bill: BillState | None = None,
    payment: PaymentState | None = None,
    provider_txn_id: str | None = None,
    reported_amount: int | None = None,
) -> Decision:
    """Something a person must look at (money to give back, a difference with the provider): a ledger row and a
    PaymentFlagged event; no state changes."""
    row = LedgerRow(
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
    event = PaymentFlagged(
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
    )
    return Decision(ledger=(row,), events=(Emit(event, bill.dossier_id if bill else (provider_txn_id or provider)),))


def is_overdue(payment: PaymentState, at: datetime) -> bool:
    return payment.status in OPEN_STATES and payment.expires_at <= at


def expire(
    bill: BillState, payment: PaymentState, *, at: datetime, actor: str = EXPIRY_ACTOR, reason: str = EXPIRY_REASON
) -> Decision:
    expired, row = transition(payment, EXPIRED, actor=actor, at=at, note=reason)
    event = PaymentExpired(**payment_fields(bill, expired, at), reason=reason)  # type: ignore[arg-type]
    return Decision(payments=(expired,), ledger=(row,), events=(Emit(event, bill.dossier_id),))


# --- Starting a payment ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Started:
    decision: Decision
    payment: PaymentState
    #: False: the pending payment of the same provider, returned again (a portal's retry)
    created: bool


def check_provider(provider: str) -> None:
    if provider not in ONLINE_PROVIDERS:
        raise Invalid(f"Unknown provider {provider!r}; one of {', '.join(ONLINE_PROVIDERS)}.", field="body.provider")


def start_payment(
    bill: BillState,
    payments: list[PaymentState],
    provider: str,
    *,
    actor: str,
    at: datetime,
    ttl: timedelta,
    payment_id: str,
    order_ref: str,
) -> Started:
    """Start paying `bill` through `provider`: created → pending.

    The pending payment of the same provider is returned again; another provider's pending payment must expire or
    fail first (two live payments could both take the money). Payments of the bill past their time expire."""
    check_provider(provider)
    if bill.status is BillStatus.PAID:
        raise Conflict("This bill is paid already.", code="bill-paid")
    if bill.status is BillStatus.CANCELLED:
        raise Conflict("This bill was cancelled: the dossier was refused or withdrawn.", code="bill-cancelled")
    decision = NOTHING
    for existing in payments:
        if existing.status not in OPEN_STATES:
            continue
        if existing.expires_at <= at:
            decision = decision.then(expire(bill, existing, at=at))
            continue
        if existing.provider == provider:
            return Started(decision, existing, created=False)
        raise Conflict(
            f"Payment {existing.id} through {existing.provider} is still pending until "
            f"{existing.expires_at.isoformat()}.",
            code="payment-pending",
            payment_id=existing.id,
        )
    created = PaymentState(
        id=payment_id,
        bill_id=bill.id,
        order_ref=order_ref,
        provider=provider,
        amount=bill.amount,
        currency=bill.currency,
        status=CREATED,
        refunded_amount=0,
        provider_txn_id=None,
        created_at=at,
        expires_at=at + ttl,
        paid_at=None,
        updated_at=at,
        started_by=actor[:100],
    )
    opened = LedgerRow(
        kind="transition",
        actor=actor,
        bill_id=bill.id,
        payment_id=created.id,
        to_status=CREATED,
        provider=provider,
        note=f"order {order_ref}",
        at=at,
    )
    pending, sent = transition(created, PENDING, actor=actor, at=at, note="sent to the provider")
    event = PaymentStarted(
        **payment_fields(bill, pending, at),  # type: ignore[arg-type]
        order_ref=pending.order_ref,
        expires_at=pending.expires_at,
    )
    decision = decision.then(
        Decision(payments=(pending,), ledger=(opened, sent), events=(Emit(event, bill.dossier_id),))
    )
    return Started(decision, pending, created=True)


# --- A provider's notification ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recorded:
    """A notification of the same provider transaction recorded before: what it did, and its amount."""

    outcome: Outcome
    amount: int


@dataclass(frozen=True, slots=True)
class Notified:
    outcome: Outcome
    #: for DUPLICATE: what the first copy did, so that the provider gets the same answer again
    first_outcome: Outcome | None = None
    #: done whatever becomes of the notification (a payment past its time expires first)
    before: Decision = NOTHING
    #: the payment as `before` leaves it
    payment: PaymentState | None = None


def notify(
    bill: BillState | None,
    payment: PaymentState | None,
    note: Notification,
    *,
    recorded: Recorded | None,
    at: datetime,
) -> Notified:
    """What a verified notification means for its payment. Unless it is unknown, a repeat or a forged replay, its
    effect (`apply_outcome`) follows once it is recorded as the first of its provider transaction."""
    if payment is None or bill is None or payment.provider != note.provider:
        return Notified(Outcome.NOT_FOUND)
    if recorded is not None:
        if recorded.amount != note.amount:
            return Notified(Outcome.CONFLICTING_REPLAY, payment=payment)
        return Notified(Outcome.DUPLICATE, first_outcome=recorded.outcome, payment=payment)
    before = NOTHING
    if is_overdue(payment, at):
        paid_in_time = note.status == "paid" and note.paid_at is not None and note.paid_at <= payment.expires_at
        if not paid_in_time:
            before = expire(bill, payment, at=at)
            payment = before.payment or payment
    return Notified(judge(payment, note), before=before, payment=payment)


def judge(payment: PaymentState, note: Notification) -> Outcome:
    """What a new notification means for a payment in its current state."""
    if note.amount != payment.amount or note.currency.upper() != payment.currency:
        return Outcome.AMOUNT_MISMATCH
    if payment.status in OPEN_STATES:
        return Outcome.APPLIED
    if note.status == "failed":
        return Outcome.STALE if payment.status in PAID_STATES else Outcome.FINAL
    if payment.status in PAID_STATES:
        return Outcome.STALE if payment.provider_txn_id == note.provider_txn_id else Outcome.DOUBLE_PAYMENT
    return Outcome.FINAL


def apply_outcome(
    bill: BillState, payment: PaymentState, note: Notification, outcome: Outcome, *, at: datetime, source: str
) -> Decision:
    """The effect of a new notification (`source`: webhook, status_query, reconciliation) judged `outcome`."""
    actor = f"{note.provider}:{source}"
    if outcome is Outcome.AMOUNT_MISMATCH:
        return flag(
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
    if outcome is Outcome.APPLIED and note.status == "paid":
        return mark_paid(bill, payment, note, actor=actor, at=at, via=source)
    if outcome is Outcome.APPLIED:
        failed, row = transition(
            payment, FAILED, actor=actor, at=at, provider_txn_id=note.provider_txn_id, note="declined"
        )
        event = PaymentFailed(**payment_fields(bill, failed, at), reason=f"{note.provider} reports failure")  # type: ignore[arg-type]
        return Decision(payments=(failed,), ledger=(row,), events=(Emit(event, bill.dossier_id),))
    if outcome is Outcome.DOUBLE_PAYMENT or (outcome is Outcome.FINAL and note.status == "paid"):
        return flag(
            FlagKind.DOUBLE_PAYMENT if outcome is Outcome.DOUBLE_PAYMENT else FlagKind.PAID_WHEN_FINAL,
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
    ignored = LedgerRow(
        kind="ignored",
        actor=actor,
        bill_id=bill.id,
        payment_id=payment.id,
        provider=note.provider,
        provider_txn_id=note.provider_txn_id,
        note=f"{note.status} notification for a payment already {payment.status}: no change",
        at=at,
    )
    return Decision(ledger=(ignored,))


def mark_paid(
    bill: BillState, payment: PaymentState, note: Notification, *, actor: str, at: datetime, via: str
) -> Decision:
    """The payment is paid (`via` a callback, a status query or a settlement's correction), and so is its bill;
    a bill paid already or cancelled is flagged instead: the money has to go back."""
    paid_at = note.paid_at.astimezone(UTC) if note.paid_at else at
    moved, row = transition(
        payment,
        PAID,
        actor=actor,
        at=at,
        amount=note.amount,
        provider_txn_id=note.provider_txn_id,
        note=f"paid via {via}",
        kind="correction" if via == "reconciliation" else "transition",
    )
    paid = replace(moved, provider_txn_id=note.provider_txn_id, paid_at=paid_at)
    event = PaymentPaid(
        **payment_fields(bill, paid, at),  # type: ignore[arg-type]
        provider_txn_id=note.provider_txn_id,
        paid_at=paid_at,
        via=via,
    )
    decision = Decision(payments=(paid,), ledger=(row,), events=(Emit(event, bill.dossier_id),))
    if bill.status is BillStatus.OPEN:
        bill_paid = LedgerRow(
            kind="bill_paid", actor=actor, bill_id=bill.id, payment_id=paid.id,
            from_status=BillStatus.OPEN, to_status=BillStatus.PAID, amount=note.amount, at=at,
        )  # fmt: skip
        return decision.then(Decision(bill=replace(bill, status=BillStatus.PAID, updated_at=at), ledger=(bill_paid,)))
    return decision.then(
        flag(
            FlagKind.DOUBLE_PAYMENT if bill.status is BillStatus.PAID else FlagKind.PAID_AFTER_CANCEL,
            detail=f"payment {paid.id} was paid while its bill is {bill.status}: refund due",
            actor=actor,
            provider=paid.provider,
            bill=bill,
            payment=paid,
            provider_txn_id=note.provider_txn_id,
            reported_amount=note.amount,
            at=at,
        )
    )


# --- Status queries -----------------------------------------------------------------------------------------------


def claim_status_query(payment: PaymentState, *, at: datetime, retry: RetryPolicy) -> PaymentState:
    """A silent payment about to be asked about: its next question is due only after the retry delay."""
    return replace(
        payment,
        next_status_query_at=at + retry.delay(payment.status_queries),
        status_queries=payment.status_queries + 1,
    )


def status_answered(
    bill: BillState,
    payment: PaymentState,
    answer: str,
    detail: str,
    *,
    notified: bool,
    at: datetime,
    retry: RetryPolicy,
) -> Decision:
    """The provider's answer to a status query, once any notification it carried (`notified`) was applied:
    pending / not_found and nothing notified: nothing was paid, so a payment past its time expires; one still in
    time is asked about again later. error: nothing changes, the sweep asks again."""
    answered = replace(payment, status_answer=answer[:16], status_answered_at=at)
    decision = Decision(payments=(answered,))
    if notified or answer not in ("pending", "not_found") or answered.status not in OPEN_STATES:
        return decision
    if answered.expires_at <= at:
        reason = f"time limit; {payment.provider} confirms nothing was paid ({detail})"[:200]
        return decision.then(expire(bill, answered, at=at, actor=f"{payment.provider}:status_query", reason=reason))
    due = min(answered.expires_at, at + retry.delay(answered.status_queries))
    return Decision(payments=(replace(answered, next_status_query_at=due),))
