"""Asking the providers: payments that went quiet and refunds whose answer was lost.

A payment still pending `status_query_after_seconds` after it started, with no callback, is asked about through
its provider's status API; the answer is applied through the same state machine and ledger as a callback
(`service.settle_from_query`), and a payment past its time expires only once the provider has said that nothing
was paid — a provider that does not answer leaves it pending (delayed, never wrong) and is asked again later, the
wait doubling. A refund whose answer was lost is asked about under its request id, never sent again.

Every replica runs the sweep: rows are claimed with `FOR UPDATE SKIP LOCKED` and their next check moved on in a
short transaction before the providers are called, so two replicas never ask about the same payment at once and no
database transaction waits on a provider. The providers are called outside any transaction.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from payment import repository, service
from payment.domain import payments, refunds
from payment.domain.model import PaymentState, RefundState
from payment.provider_api import ApiError, PaymentRef, RefundRef
from payment.provider_client import ProviderClients
from payment.settings import Settings
from services.db import Database

log = structlog.get_logger(__name__)


@dataclass
class SweepReport:
    queried: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    refunds_checked: int = 0
    expired: int = 0


def payment_ref(payment: PaymentState) -> PaymentRef:
    return PaymentRef(payment.order_ref, payment.amount, payment.created_at, payment.provider_txn_id)


def refund_ref(request: RefundState, payment: PaymentState) -> RefundRef:
    """The refund as the provider knows it; `full` when it gives back all that is left of the payment."""
    return RefundRef(
        request_id=request.id,
        amount=request.amount,
        reason=request.reason,
        full=request.amount + payment.refunded_amount == payment.amount,
        actor=request.actor,
        created_at=request.created_at,
    )


async def ask_about_silent_payments(
    db: Database, settings: Settings, clients: ProviderClients, at: datetime, report: SweepReport
) -> None:
    retry = service.retry_policy(settings)
    async with db.sessionmaker() as session, session.begin():
        due = await repository.claim_silent_payments(
            session,
            started_before=at - timedelta(seconds=settings.status_query_after_seconds),
            at=at,
            limit=settings.status_query_batch,
        )
        claimed = []
        for row in due:
            if row.provider not in clients.apis:
                continue
            payment = payments.claim_status_query(repository.payment_state(row), at=at, retry=retry)
            repository.write_state(row, payment)
            claimed.append((payment.id, payment.provider, payment_ref(payment)))

    async def ask(payment_id: str, provider: str, ref: PaymentRef) -> None:
        try:
            result = await clients.query(provider, ref, at)
            answer, note, detail = result.answer.value, result.note, result.detail
        except ApiError as exc:
            answer, note, detail = "error", None, str(exc)
            log.warning("payment_status_query_failed", provider=provider, payment_id=payment_id, reason=detail)
        report.answers[answer] = report.answers.get(answer, 0) + 1
        async with db.sessionmaker() as session, session.begin():
            await service.settle_from_query(session, settings, payment_id, answer, note, detail, at=at)

    await asyncio.gather(*(ask(*item) for item in claimed))
    report.queried += len(claimed)


async def check_refunds(
    db: Database, settings: Settings, clients: ProviderClients, at: datetime, report: SweepReport
) -> None:
    retry = service.retry_policy(settings)
    async with db.sessionmaker() as session, session.begin():
        due = await repository.claim_refunds_to_check(session, at=at, limit=settings.status_query_batch)
        claimed = []
        for row in due:
            payment = await repository.payment(session, row.payment_id)
            if payment is None or not clients.refunds_through_api(row.provider):
                continue
            request = refunds.claim_refund_check(repository.refund_state(row), at=at, retry=retry)
            repository.write_state(row, request)
            known = repository.payment_state(payment)
            claimed.append((request.id, request.provider, payment_ref(known), refund_ref(request, known)))

    async def check(request_id: str, provider: str, payment: PaymentRef, refund: RefundRef) -> None:
        try:
            result = await clients.refund_status(provider, payment, refund, at)
        except ApiError as exc:
            log.warning("refund_status_query_failed", provider=provider, refund_id=request_id, reason=str(exc))
            return
        async with db.sessionmaker() as session, session.begin():
            await service.finish_refund(
                session,
                settings,
                request_id,
                result.answer.value,
                result.detail,
                provider_refund_id=result.provider_refund_id,
                at=at,
            )

    await asyncio.gather(*(check(*item) for item in claimed))
    report.refunds_checked += len(claimed)


async def sweep(db: Database, settings: Settings, clients: ProviderClients, at: datetime | None = None) -> SweepReport:
    """One round: silent payments, refunds awaiting an answer."""
    at = at or service.now()
    report = SweepReport()
    await ask_about_silent_payments(db, settings, clients, at, report)
    await check_refunds(db, settings, clients, at, report)
    return report


async def sweeper(db: Database, settings: Settings, clients: ProviderClients) -> None:
    """The sweep every `expiry_sweep_interval` seconds, in every replica."""
    while True:
        await asyncio.sleep(settings.expiry_sweep_interval)
        try:
            report = await sweep(db, settings, clients)
            if report.queried or report.refunds_checked:
                log.info(
                    "payments_swept",
                    queried=report.queried,
                    answers=report.answers,
                    refunds_checked=report.refunds_checked,
                )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database may be down for a while: try again next round
            log.warning("payment_sweep_failed", error=repr(exc))
