"""payment-svc's commands: load (and lock) → decide (payment.domain) → write → emit.

Every command runs in its caller's session and never commits: the states it decided, their ledger rows and their
events (outbox) are written in the same transaction. A command's writes go through one `UnitOfWork`, which nested
commands share (a status query's answer applies a notification; a settlement's correction too).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from payment import repository
from payment.domain import bills, payments, refunds
from payment.domain.model import BillState, Decision, PaymentState, RefundState
from payment.domain.payments import Recorded, RetryPolicy
from payment.domain.states import Outcome
from payment.models import Bill, Payment, RefundRequest
from payment.providers import Notification
from payment.settings import Settings
from services import clock
from services.bus.outbox import EventBuffer
from services.contracts.intake import DossierReceived
from services.contracts.payment import PaymentFlagged
from services.errors import NotFound
from services.observability import bind_request_id, current_request_id
from services.topics import PAYMENT_PAYMENTS

log = structlog.get_logger(__name__)
security_log = structlog.get_logger("payment.security")


def now() -> datetime:
    return clock.now()


def new_order_ref() -> str:
    """15 digits, no leading zero: fits payOS's numeric orderCode, VNPay's vnp_TxnRef and the QR purpose."""
    return str(10**14 + secrets.randbelow(9 * 10**14))


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(settings.status_query_retry_seconds, settings.status_query_max_retry_seconds)


@dataclass
class UnitOfWork:
    """The rows a command loaded, and what it decided about them: written onto those rows (or added as new ones),
    the ledger rows appended, the events added to one EventBuffer and written together by `write_events`."""

    session: AsyncSession
    settings: Settings
    bills: dict[str, Bill] = field(default_factory=dict)
    payments: dict[str, Payment] = field(default_factory=dict)
    refunds: dict[str, RefundRequest] = field(default_factory=dict)
    events: EventBuffer = field(init=False)

    def __post_init__(self) -> None:
        topic = PAYMENT_PAYMENTS.full_name(self.settings.topic_prefix)
        self.events = EventBuffer(self.session, service=self.settings.service_name, topic=topic)

    def bill(self, row: Bill) -> BillState:
        self.bills[row.id] = row
        return repository.bill_state(row)

    def payment(self, row: Payment) -> PaymentState:
        self.payments[row.id] = row
        return repository.payment_state(row)

    def refund(self, row: RefundRequest) -> RefundState:
        self.refunds[row.id] = row
        return repository.refund_state(row)

    def record(self, decision: Decision) -> None:
        if decision.bill is not None:
            repository.write_state(self.bills[decision.bill.id], decision.bill)
        for payment in decision.payments:
            row = self.payments.get(payment.id)
            if row is None:
                self.payments[payment.id] = repository.add_payment(self.session, payment)
            else:
                repository.write_state(row, payment)
        if decision.refund is not None:
            request = self.refunds.get(decision.refund.id)
            if request is None:
                self.refunds[decision.refund.id] = repository.add_refund_request(self.session, decision.refund)
            else:
                repository.write_state(request, decision.refund)
        repository.add_ledger(self.session, decision.ledger)
        for emit in decision.events:
            if isinstance(emit.payload, PaymentFlagged):
                log.warning(
                    "payment_flagged", kind=emit.payload.kind.value, detail=emit.payload.detail,
                    payment_id=emit.payload.payment_id,
                )  # fmt: skip
            self.events.add(emit.payload, key=emit.subject)

    async def write_events(self) -> None:
        await self.events.write()


# --- Bills -------------------------------------------------------------------------------------------


async def open_bill(session: AsyncSession, settings: Settings, received: DossierReceived) -> BillState | None:
    """A bill for a received dossier from its fee items; none when the total is zero or one exists already."""
    decision = bills.open_bill(received, bill_id=str(uuid.uuid4()), at=now())
    if decision is None or decision.bill is None:
        return None
    if not await repository.add_bill_if_absent(session, decision.bill):
        return None
    work = UnitOfWork(session, settings)
    work.record(Decision(ledger=decision.ledger, events=decision.events))
    await work.write_events()
    return decision.bill


async def cancel_bill(session: AsyncSession, settings: Settings, dossier_id: str, reason: str) -> BillState | None:
    """Cancel the open bill of a refused or withdrawn dossier (bills.cancel_bill)."""
    existing = await repository.bill_of_dossier(session, dossier_id)
    if existing is None:
        return None
    work = UnitOfWork(session, settings)
    # Lock order everywhere: payments, then their bill.
    payments_of_bill = [work.payment(p) for p in await repository.payments_of_bill(session, existing.id, lock=True)]
    row = await repository.bill(session, existing.id, lock=True)
    assert row is not None
    decision = bills.cancel_bill(work.bill(row), payments_of_bill, reason, at=now())
    work.record(decision)
    await work.write_events()
    return decision.bill or repository.bill_state(row)


# --- Payments ----------------------------------------------------------------------------------------


async def start_payment(
    session: AsyncSession, settings: Settings, bill_id: str, provider: str, *, actor: str
) -> tuple[PaymentState, bool]:
    """Start paying a bill through `provider` (payments.start_payment). Returns (payment, created)."""
    payments.check_provider(provider)
    work = UnitOfWork(session, settings)
    await repository.payments_of_bill(session, bill_id, lock=True)
    row = await repository.bill(session, bill_id, lock=True, fresh=True)
    assert row is not None
    # Read again now that the bill is locked: on PostgreSQL a statement that waited for a lock does not see the
    # payment another start committed meanwhile (two pending payments of one provider), and rows already in the
    # session keep their old values unless they are read with populate_existing.
    known = [work.payment(p) for p in await repository.payments_of_bill(session, bill_id, fresh=True)]
    started = payments.start_payment(
        work.bill(row), known, provider, actor=actor, at=now(), ttl=timedelta(seconds=settings.payment_ttl_seconds),
        payment_id=str(uuid.uuid4()), order_ref=new_order_ref(),
    )  # fmt: skip
    work.record(started.decision)
    await work.write_events()
    return started.payment, started.created


async def expire_due(session: AsyncSession, settings: Settings, *, at: datetime | None = None, limit: int = 500) -> int:
    """Expire pending payments past their time; returns how many. Safe to run in every replica at once."""
    at = at or now()
    work = UnitOfWork(session, settings)
    due = await repository.due_payments(session, at, limit)
    for row in due:
        bill = await repository.bill(session, row.bill_id)
        assert bill is not None
        work.record(payments.expire(work.bill(bill), work.payment(row), at=at))
    await work.write_events()
    return len(due)


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    payment: PaymentState | None = None
    #: for DUPLICATE: what the first copy did, so that the provider gets the same answer again
    first_outcome: Outcome | None = None


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
    work = UnitOfWork(session, settings)
    results = await notify(work, notes, source=source, request_ids=request_ids)
    await work.write_events()
    return results


async def notify(
    work: UnitOfWork,
    notes: Sequence[Notification],
    *,
    source: str,
    request_ids: Sequence[str | None] | None = None,
) -> list[Result]:
    """`apply_notifications` inside a unit of work of the caller's."""
    if not notes:
        return []
    if conflicts(notes):
        raise ValueError("notifications applied together must be of distinct payments and provider transactions")
    session = work.session
    ids = list(request_ids) if request_ids is not None else [current_request_id()] * len(notes)
    # Lock order everywhere: payments (oldest first), then their bills. Same payment ⇒ serialised by its row lock;
    # the unique constraint on (provider, provider_txn_id) covers everything else.
    found = {
        p.order_ref: work.payment(p)
        for p in await repository.payments_by_order_refs(session, [n.order_ref for n in notes])
    }
    bills_of = {
        b.id: work.bill(b) for b in await repository.bills(session, {p.bill_id for p in found.values()}, lock=True)
    }
    recorded: dict[tuple[str, str], Recorded] = await repository.notification_outcomes(
        session, {(n.provider, n.provider_txn_id) for n in notes if n.order_ref in found}
    )
    at = now()
    results: list[Result | None] = [None] * len(notes)
    decided: list[tuple[int, Notification, payments.Notified]] = []
    try:
        for i, note in enumerate(notes):
            bind_request_id(ids[i])
            payment = found.get(note.order_ref)
            bill = bills_of.get(payment.bill_id) if payment is not None else None
            notified = payments.notify(
                bill, payment, note, recorded=recorded.get((note.provider, note.provider_txn_id)), at=at
            )
            if notified.outcome is Outcome.NOT_FOUND:
                log.info("notification_unknown_order", provider=note.provider, order_ref=note.order_ref)
            elif notified.outcome is Outcome.CONFLICTING_REPLAY:
                first = recorded[(note.provider, note.provider_txn_id)]
                security_log.warning(
                    "notification_conflicting_replay",
                    security=True,
                    provider=note.provider,
                    provider_txn_id=note.provider_txn_id,
                    recorded=first.amount,
                    reported=note.amount,
                )
            if notified.outcome in (Outcome.NOT_FOUND, Outcome.CONFLICTING_REPLAY, Outcome.DUPLICATE):
                results[i] = Result(notified.outcome, notified.payment, first_outcome=notified.first_outcome)
                continue
            work.record(notified.before)
            decided.append((i, note, notified))

        inserted = await repository.add_notifications_if_absent(
            session,
            [
                {
                    "provider": note.provider,
                    "provider_txn_id": note.provider_txn_id,
                    "order_ref": note.order_ref,
                    "payment_id": notified.payment.id if notified.payment else None,
                    "amount": note.amount,
                    "currency": note.currency[:3],
                    "status": note.status,
                    "outcome": notified.outcome.value,
                    "source": source,
                    "received_at": at,
                }
                for _, note, notified in decided
            ],
        )
        for i, note, notified in decided:
            bind_request_id(ids[i])
            assert notified.payment is not None
            if (note.provider, note.provider_txn_id) not in inserted:
                # A concurrent copy (for another payment's order ref) won the race.
                results[i] = Result(Outcome.DUPLICATE, notified.payment, first_outcome=notified.outcome)
                continue
            # Two payments of one bill may be in the batch: each effect sees the bill as the one before left it.
            effect = payments.apply_outcome(
                bills_of[notified.payment.bill_id], notified.payment, note, notified.outcome, at=at, source=source
            )
            work.record(effect)
            if effect.bill is not None:
                bills_of[effect.bill.id] = effect.bill
            results[i] = Result(notified.outcome, effect.payment or notified.payment)
    finally:
        bind_request_id(ids[0] if len(set(ids)) == 1 else None)
    return [r for r in results if r is not None]


def conflicts(notes: Sequence[Notification]) -> bool:
    """True if two of `notes` are of the same payment or the same provider transaction."""
    return len({n.order_ref for n in notes}) < len(notes) or len(
        {(n.provider, n.provider_txn_id) for n in notes}
    ) < len(notes)


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
    work = UnitOfWork(session, settings)
    outcome: Outcome | None = None
    if note is not None:
        (result,) = await notify(work, [note], source="status_query")
        outcome = result.outcome
    row = await repository.payment(session, payment_id, lock=True)
    if row is not None:
        bill = await repository.bill(session, row.bill_id)
        assert bill is not None
        decision = payments.status_answered(
            work.bill(bill), work.payment(row), answer, detail, notified=note is not None, at=at,
            retry=retry_policy(settings),
        )  # fmt: skip
        work.record(decision)
        log.info("payment_status_answer", provider=row.provider, payment_id=row.id, answer=answer,
                 outcome=outcome.value if outcome else None)  # fmt: skip
    await work.write_events()
    return outcome


# --- Refunds -----------------------------------------------------------------------------------------


async def begin_refund(
    session: AsyncSession,
    settings: Settings,
    payment_id: str,
    amount: int,
    reason: str,
    *,
    actor: str,
    through_provider: bool,
) -> tuple[PaymentState, RefundState]:
    """Check a refund and record the request (refunds.begin_refund)."""
    work = UnitOfWork(session, settings)
    row = await repository.payment(session, payment_id, lock=True)
    if row is None:
        raise NotFound(f"No payment {payment_id}.")
    bill = await repository.bill(session, row.bill_id)
    assert bill is not None
    decision = refunds.begin_refund(
        work.bill(bill), work.payment(row), amount, reason,
        in_flight=await repository.refunds_in_flight(session, row.id), actor=actor,
        through_provider=through_provider, request_id=str(uuid.uuid4()), at=now(),
    )  # fmt: skip
    work.record(decision)
    await work.write_events()
    assert decision.refund is not None
    return repository.payment_state(row), decision.refund


async def finish_refund(
    session: AsyncSession,
    settings: Settings,
    request_id: str,
    answer: str,
    detail: str,
    *,
    provider_refund_id: str | None = None,
    at: datetime | None = None,
) -> tuple[PaymentState, RefundState]:
    """Record the provider's answer to a refund (refunds.finish_refund)."""
    at = at or now()
    work = UnitOfWork(session, settings)
    existing = await repository.refund_request(session, request_id)
    if existing is None:
        raise NotFound(f"No refund request {request_id}.")
    row = await repository.payment(session, existing.payment_id, lock=True)
    request = await repository.refund_request(session, request_id, lock=True)
    assert row is not None and request is not None
    bill = await repository.bill(session, row.bill_id)
    assert bill is not None
    decision = refunds.finish_refund(
        work.bill(bill), work.payment(row), work.refund(request), answer, detail,
        provider_refund_id=provider_refund_id, at=at, retry=retry_policy(settings),
    )  # fmt: skip
    work.record(decision)
    await work.write_events()
    return repository.payment_state(row), repository.refund_state(request)
