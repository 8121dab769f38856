"""Starting a payment: one live payment per bill, a retry gets the same one, a bill paid or cancelled takes none."""

from __future__ import annotations

from datetime import timedelta

import pytest
from payment.domain import payments
from payment.domain.model import BillState, PaymentState
from payment.domain.states import BillStatus, PaymentStatus

from services.contracts.payment import PaymentExpired, PaymentStarted
from services.errors import Conflict, Invalid
from tests.payment.domain.factories import AT, TTL, bill, payment


def start(provider: str = "payos", *existing: PaymentState, of: BillState | None = None) -> payments.Started:
    return payments.start_payment(
        of or bill(), list(existing), provider, actor="portal:citizen", at=AT, ttl=TTL,
        payment_id="payment-new", order_ref="123456789012345",
    )  # fmt: skip


def test_a_new_payment_is_created_then_sent_to_the_provider() -> None:
    started = start("vnpay")
    assert started.created
    made = started.payment
    assert (made.status, made.provider, made.amount, made.order_ref) == ("pending", "vnpay", 50_000, "123456789012345")
    assert (made.created_at, made.expires_at, made.started_by) == (AT, AT + TTL, "portal:citizen")
    created, sent = started.decision.ledger
    assert (created.from_status, created.to_status, created.note) == (None, "created", "order 123456789012345")
    assert (sent.from_status, sent.to_status, sent.note) == ("created", "pending", "sent to the provider")
    (event,) = started.decision.events
    assert isinstance(event.payload, PaymentStarted) and event.subject == "dossier-1"
    assert (event.payload.online, event.payload.expires_at, event.payload.order_ref) == (True, AT + TTL, made.order_ref)


def test_a_retry_through_the_same_provider_gets_the_pending_payment_again() -> None:
    pending = payment(PaymentStatus.PENDING, provider="payos")
    started = start("payos", pending)
    assert not started.created and started.payment == pending and started.decision.empty


def test_another_providers_pending_payment_must_end_first() -> None:
    with pytest.raises(Conflict) as refused:
        start("momo", payment(PaymentStatus.PENDING, provider="payos"))
    assert refused.value.code == "payment-pending" and refused.value.extensions["payment_id"] == "payment-1"


def test_a_payment_past_its_time_expires_and_a_new_one_starts() -> None:
    late = payment(PaymentStatus.PENDING, provider="payos", expires_at=AT - timedelta(seconds=1))
    started = start("momo", late)
    assert started.created
    expired, new = started.decision.payments
    assert (expired.id, expired.status, new.status) == ("payment-1", "expired", "pending")
    assert isinstance(started.decision.events[0].payload, PaymentExpired)
    assert started.decision.ledger[0].actor == "system:expiry"


def test_payments_over_do_not_stand_in_the_way() -> None:
    assert start("momo", payment(PaymentStatus.FAILED), payment(PaymentStatus.EXPIRED, id="payment-2")).created


@pytest.mark.parametrize(("status", "code"), [(BillStatus.PAID, "bill-paid"), (BillStatus.CANCELLED, "bill-cancelled")])
def test_a_bill_paid_or_cancelled_takes_no_payment(status: BillStatus, code: str) -> None:
    with pytest.raises(Conflict) as refused:
        start("payos", of=bill(status))
    assert refused.value.code == code


def test_cash_and_unknown_providers_are_refused() -> None:
    for provider in ("cash", "paypal"):
        with pytest.raises(Invalid) as refused:
            start(provider)
        assert refused.value.extensions["errors"][0]["loc"] == ["body", "provider"]
