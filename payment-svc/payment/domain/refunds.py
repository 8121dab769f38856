"""The rules of a refund: never more than was paid (counting refunds the provider may still carry out), money back
in the ledger only once the provider accepted it or staff gave it back by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from payment.domain.model import NOTHING, BillState, Decision, Emit, PaymentState, RefundState
from payment.domain.payments import RetryPolicy, flag, payment_fields, transition
from payment.domain.states import (
    PARTIALLY_REFUNDED,
    REFUNDABLE_STATES,
    REFUNDED,
    REFUNDS_IN_FLIGHT,
    REFUNDS_TO_CHECK,
    RefundStatus,
)
from services.contracts.payment import FlagKind, PaymentRefunded
from services.errors import Conflict, Problem

#: What a provider's answer (provider_api.RefundAnswer's value) makes of a refund request; anything else: unknown.
ANSWERS = {
    "accepted": RefundStatus.ACCEPTED,
    "refused": RefundStatus.REFUSED,
    "processing": RefundStatus.PROCESSING,
    "not_found": RefundStatus.REFUSED,
}


def give_back(
    bill: BillState, payment: PaymentState, amount: int, reason: str, *, actor: str, at: datetime
) -> Decision:
    """Money returned to the payer: the refund transition, its ledger row and its event."""
    total = payment.refunded_amount + amount
    to = REFUNDED if total == payment.amount else PARTIALLY_REFUNDED
    moved, row = transition(payment, to, actor=actor, at=at, amount=amount, kind="refund", note=reason)
    refunded = replace(moved, refunded_amount=total)
    event = PaymentRefunded(
        **payment_fields(bill, refunded, at),  # type: ignore[arg-type]
        refund_amount=amount,
        refunded_total=total,
        fully_refunded=to == REFUNDED,
        reason=reason,
    )
    return Decision(payments=(refunded,), ledger=(row,), events=(Emit(event, bill.dossier_id),))


def begin_refund(
    bill: BillState,
    payment: PaymentState,
    amount: int,
    reason: str,
    *,
    in_flight: int,
    actor: str,
    through_provider: bool,
    request_id: str,
    at: datetime,
) -> Decision:
    """Check a refund of `amount` and record the request (`in_flight`: VND of refunds the provider may still carry
    out). `through_provider`: it is sent to the provider next (state "sending"); otherwise (payOS, which has no
    refund API) staff have given the money back by hand and the refund is recorded at once (state "manual")."""
    if payment.status not in REFUNDABLE_STATES:
        raise Conflict(f"Only a paid payment can be refunded; this one is {payment.status}.", code="not-refundable")
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
    request = RefundState(
        id=request_id, payment_id=payment.id, provider=payment.provider, amount=amount, reason=reason,
        actor=actor[:100], state=RefundStatus.SENDING if through_provider else RefundStatus.MANUAL,
        provider_answer="", checks=0, created_at=at, updated_at=at,
    )  # fmt: skip
    if through_provider:
        return Decision(refund=request)
    manual = replace(request, provider_answer=f"{payment.provider} has no refund API: given back by hand")
    return Decision(refund=manual).then(give_back(bill, payment, amount, reason, actor=actor, at=at))


def finish_refund(
    bill: BillState,
    payment: PaymentState,
    request: RefundState,
    answer: str,
    detail: str,
    *,
    provider_refund_id: str | None,
    at: datetime,
    retry: RetryPolicy,
) -> Decision:
    """The provider's answer to a refund (`answer`: provider_api.RefundAnswer's value, or "unknown" when none
    came). Accepted: the money goes back in the ledger, once. Refused: nothing changes. Processing or unknown:
    the sweep asks again (`next_check_at`). An answer for a request already settled changes nothing."""
    if request.state not in REFUNDS_IN_FLIGHT:
        return NOTHING
    state = ANSWERS.get(answer, RefundStatus.UNKNOWN)
    answered = replace(
        request,
        provider_answer=detail[:500],
        updated_at=at,
        provider_refund_id=provider_refund_id[:64] if provider_refund_id else request.provider_refund_id,
        state=state,
    )
    if state is RefundStatus.ACCEPTED:
        remaining = payment.amount - payment.refunded_amount
        if payment.status not in REFUNDABLE_STATES or request.amount > remaining:
            # The provider gave back money the ledger cannot take: a person must look at it.
            return Decision(refund=answered).then(
                flag(
                    FlagKind.SETTLEMENT_MISMATCH,
                    detail=f"{payment.provider} accepted refund {request.id} of {request.amount} VND for a "
                    f"payment that is {payment.status} with {payment.refunded_amount} VND refunded",
                    actor=f"{payment.provider}:refund",
                    provider=payment.provider,
                    payment=payment,
                    at=at,
                )
            )
        return Decision(refund=answered).then(
            give_back(bill, payment, request.amount, request.reason, actor=request.actor, at=at)
        )
    if state in REFUNDS_TO_CHECK:
        answered = replace(answered, next_check_at=at + retry.delay(request.checks), checks=request.checks + 1)
    return Decision(refund=answered)


def claim_refund_check(request: RefundState, *, at: datetime, retry: RetryPolicy) -> RefundState:
    """A refund about to be asked about again: its next question is due only after the retry delay."""
    return replace(request, next_check_at=at + retry.delay(request.checks), checks=request.checks + 1)
