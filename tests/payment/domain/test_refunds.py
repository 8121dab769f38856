"""Refunds: never more than was paid (refunds still in the provider's hands count), money back in the ledger only
once the provider accepted, an answer for a settled request changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from payment.domain import refunds
from payment.domain.model import Decision
from payment.domain.payments import RetryPolicy
from payment.domain.states import PaymentStatus, RefundStatus

from services.contracts.payment import FlagKind, PaymentFlagged, PaymentRefunded
from services.errors import Conflict, Problem
from tests.payment.domain.factories import AT, bill, payment, refund

RETRY = RetryPolicy(first_seconds=60, max_seconds=3600)


def begin(
    amount: int,
    *,
    through_provider: bool = True,
    in_flight: int = 0,
    status: PaymentStatus = PaymentStatus.PAID,
    **changes: object,
) -> Decision:
    return refunds.begin_refund(
        bill(), payment(status, **changes), amount, "Thừa", in_flight=in_flight, actor="desk",
        through_provider=through_provider, request_id="refund-1", at=AT,
    )  # fmt: skip


@pytest.mark.parametrize(
    "status", [s for s in PaymentStatus if s not in (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED)]
)
def test_only_a_paid_payment_can_be_refunded(status: PaymentStatus) -> None:
    with pytest.raises(Conflict) as refused:
        begin(1, status=status)
    assert refused.value.code == "not-refundable"


def test_a_refund_beyond_what_is_left_is_refused_counting_refunds_in_flight() -> None:
    with pytest.raises(Problem) as refused:
        begin(20_001, in_flight=10_000, refunded_amount=20_000, status=PaymentStatus.PARTIALLY_REFUNDED)
    assert (refused.value.status, refused.value.code) == (422, "refund-exceeds-paid")
    assert refused.value.extensions == {"paid": 50_000, "refunded": 20_000, "awaiting_provider": 10_000,
                                        "remaining": 20_000}  # fmt: skip
    assert begin(20_000, in_flight=10_000, refunded_amount=20_000, status=PaymentStatus.PARTIALLY_REFUNDED).refund


def test_a_refund_through_the_provider_moves_no_money_yet() -> None:
    decision = begin(10_000)
    assert decision.refund is not None and decision.refund.state is RefundStatus.SENDING
    assert decision.payments == () and decision.ledger == () and decision.events == ()


@pytest.mark.parametrize(("amount", "to", "full"), [(10_000, "partially_refunded", False), (50_000, "refunded", True)])
def test_a_manual_refund_gives_the_money_back_at_once(amount: int, to: str, full: bool) -> None:
    decision = begin(amount, through_provider=False)
    assert decision.refund is not None and decision.refund.state is RefundStatus.MANUAL
    assert decision.refund.provider_answer == "payos has no refund API: given back by hand"
    assert decision.payment is not None
    assert (decision.payment.status, decision.payment.refunded_amount) == (to, amount)
    (row,) = decision.ledger
    assert (row.kind, row.amount, row.note) == ("refund", amount, "Thừa")
    (event,) = decision.events
    assert isinstance(event.payload, PaymentRefunded) and event.payload.fully_refunded is full


def test_accepted_gives_the_money_back_once() -> None:
    paid = payment(PaymentStatus.PAID)
    decision = refunds.finish_refund(bill(), paid, refund(paid, 30_000), "accepted", "00 ok",
                                     provider_refund_id="r" * 80, at=AT, retry=RETRY)  # fmt: skip
    assert decision.refund is not None and decision.refund.state is RefundStatus.ACCEPTED
    assert decision.refund.provider_refund_id == "r" * 64 and decision.refund.provider_answer == "00 ok"
    assert decision.payment is not None and decision.payment.refunded_amount == 30_000
    settled = refunds.finish_refund(bill(), decision.payment, decision.refund, "accepted", "again",
                                    provider_refund_id=None, at=AT, retry=RETRY)  # fmt: skip
    assert settled.empty


def test_money_the_ledger_cannot_take_back_is_flagged() -> None:
    refunded = payment(PaymentStatus.REFUNDED, refunded_amount=50_000)
    decision = refunds.finish_refund(bill(), refunded, refund(refunded, 10_000), "accepted", "00",
                                     provider_refund_id=None, at=AT, retry=RETRY)  # fmt: skip
    assert decision.refund is not None and decision.refund.state is RefundStatus.ACCEPTED
    assert decision.payments == ()
    (event,) = decision.events
    assert isinstance(event.payload, PaymentFlagged) and event.payload.kind is FlagKind.SETTLEMENT_MISMATCH


@pytest.mark.parametrize(("answer", "state"), [("refused", RefundStatus.REFUSED), ("not_found", RefundStatus.REFUSED)])
def test_refused_changes_no_money(answer: str, state: RefundStatus) -> None:
    paid = payment(PaymentStatus.PAID)
    decision = refunds.finish_refund(bill(), paid, refund(paid, 10_000), answer, "94 refused",
                                     provider_refund_id=None, at=AT, retry=RETRY)  # fmt: skip
    assert decision.refund is not None and decision.refund.state is state
    assert decision.payments == () and decision.ledger == () and decision.refund.next_check_at is None


@pytest.mark.parametrize(("answer", "state"), [("processing", RefundStatus.PROCESSING), ("???", RefundStatus.UNKNOWN)])
def test_no_final_answer_yet_is_asked_again_later(answer: str, state: RefundStatus) -> None:
    paid = payment(PaymentStatus.PAID)
    decision = refunds.finish_refund(bill(), paid, refund(paid, 10_000, checks=2), answer, "",
                                     provider_refund_id=None, at=AT, retry=RETRY)  # fmt: skip
    assert decision.refund is not None and decision.refund.state is state
    assert (decision.refund.checks, decision.refund.next_check_at) == (3, AT + timedelta(seconds=240))


def test_claiming_a_refund_check_moves_its_next_question_on() -> None:
    request = refund(payment(PaymentStatus.PAID), 1, RefundStatus.UNKNOWN)
    claimed = refunds.claim_refund_check(request, at=AT, retry=RETRY)
    assert (claimed.checks, claimed.next_check_at) == (1, AT + timedelta(seconds=60))
