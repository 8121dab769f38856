"""Expiry, and what a provider's answer to a status query does: a payment expires only once the provider said that
nothing was paid; a provider that does not answer is asked again, the wait doubling up to a cap."""

from __future__ import annotations

from datetime import timedelta

import pytest
from payment.domain import payments
from payment.domain.model import Decision
from payment.domain.payments import RetryPolicy
from payment.domain.states import PaymentStatus

from services.contracts.payment import PaymentExpired
from services.errors import Conflict
from tests.payment.domain.factories import AT, bill, payment

RETRY = RetryPolicy(first_seconds=60, max_seconds=3600)


def test_the_wait_doubles_up_to_its_cap() -> None:
    assert [RETRY.delay(n).total_seconds() for n in range(8)] == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert RETRY.delay(10_000).total_seconds() == 3600  # no overflow for a payment asked about for years


def test_an_open_payment_expires_with_its_event() -> None:
    decision = payments.expire(bill(), payment(PaymentStatus.CREATED), at=AT)
    assert decision.payment is not None and decision.payment.status is PaymentStatus.EXPIRED
    (row,) = decision.ledger
    assert (row.actor, row.note, row.from_status) == ("system:expiry", "time limit", "created")
    (event,) = decision.events
    assert isinstance(event.payload, PaymentExpired) and event.payload.reason == "time limit"


@pytest.mark.parametrize(
    "status", [s for s in PaymentStatus if s not in (PaymentStatus.CREATED, PaymentStatus.PENDING)]
)
def test_only_an_open_payment_can_expire(status: PaymentStatus) -> None:
    with pytest.raises(Conflict):
        payments.expire(bill(), payment(status), at=AT)


def test_is_overdue_at_its_expiry_and_after() -> None:
    pending = payment()
    assert not payments.is_overdue(pending, pending.expires_at - timedelta(microseconds=1))
    assert payments.is_overdue(pending, pending.expires_at)
    assert not payments.is_overdue(payment(PaymentStatus.PAID), pending.expires_at + timedelta(days=1))


def test_claiming_a_silent_payment_moves_its_next_question_on() -> None:
    claimed = payments.claim_status_query(payment(status_queries=2), at=AT, retry=RETRY)
    assert (claimed.status_queries, claimed.next_status_query_at) == (3, AT + timedelta(seconds=240))


def answered(answer: str, *, notified: bool = False, **changes: object) -> Decision:
    return payments.status_answered(
        bill(), payment(**changes), answer, "code 24", notified=notified, at=AT, retry=RETRY
    )


@pytest.mark.parametrize("answer", ["pending", "not_found"])
def test_nothing_paid_and_past_its_time_expires(answer: str) -> None:
    decision = answered(answer, expires_at=AT - timedelta(seconds=1))
    assert decision.payment is not None and decision.payment.status is PaymentStatus.EXPIRED
    assert decision.payment.status_answer == answer and decision.payment.status_answered_at == AT
    (row,) = decision.ledger
    assert row.actor == "payos:status_query"
    assert row.note == "time limit; payos confirms nothing was paid (code 24)"


def test_nothing_paid_yet_in_time_is_asked_again_no_later_than_its_expiry() -> None:
    soon = answered("pending", status_queries=1, expires_at=AT + timedelta(seconds=30))
    assert soon.payment is not None and soon.payment.next_status_query_at == AT + timedelta(seconds=30)
    later = answered("pending", status_queries=1, expires_at=AT + timedelta(hours=1))
    assert later.payment is not None and later.payment.next_status_query_at == AT + timedelta(seconds=120)
    assert later.payment.status is PaymentStatus.PENDING and later.ledger == ()


@pytest.mark.parametrize("answer", ["error", "paid", "failed"])
def test_an_error_or_a_notified_answer_only_records_the_answer(answer: str) -> None:
    decision = answered(answer, notified=answer != "error", expires_at=AT - timedelta(seconds=1))
    assert decision.payment is not None and decision.payment.status is PaymentStatus.PENDING
    assert decision.payment.status_answer == answer and decision.ledger == () and decision.events == ()


def test_an_answer_about_a_payment_no_longer_open_only_records_it() -> None:
    decision = answered("not_found", status=PaymentStatus.PAID, expires_at=AT - timedelta(seconds=1))
    assert decision.payment is not None and decision.payment.status is PaymentStatus.PAID and decision.ledger == ()
