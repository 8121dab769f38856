"""A provider's notification: applied once, repeats without effect, stale news ignored, money taken too late or
twice flagged for a refund."""

from __future__ import annotations

from datetime import timedelta

import pytest
from payment.domain import payments
from payment.domain.model import NOTHING, BillState, Decision, PaymentState
from payment.domain.payments import Recorded
from payment.domain.states import BillStatus, Outcome, PaymentStatus
from payment.providers import Notification

from services.contracts.payment import FlagKind, PaymentExpired, PaymentFailed, PaymentFlagged, PaymentPaid
from tests.payment.domain.factories import AT, bill, note, payment


def notify(
    of_bill: BillState, of: PaymentState, news: Notification, recorded: Recorded | None = None
) -> tuple[payments.Notified, Decision]:
    notified = payments.notify(of_bill, of, news, recorded=recorded, at=AT)
    if notified.outcome in (Outcome.NOT_FOUND, Outcome.DUPLICATE, Outcome.CONFLICTING_REPLAY):
        return notified, NOTHING
    assert notified.payment is not None
    return notified, payments.apply_outcome(of_bill, notified.payment, news, notified.outcome, at=AT, source="webhook")


def flags(decision: Decision) -> list[FlagKind]:
    return [e.payload.kind for e in decision.events if isinstance(e.payload, PaymentFlagged)]


def test_paid_pays_the_payment_and_its_bill() -> None:
    pending = payment()
    notified, effect = notify(bill(), pending, note(pending, paid_at=AT - timedelta(minutes=1)))
    assert notified.outcome is Outcome.APPLIED
    paid = effect.payment
    assert paid is not None
    assert (paid.status, paid.provider_txn_id, paid.paid_at) == ("paid", "txn-1", AT - timedelta(minutes=1))
    assert effect.bill is not None and effect.bill.status is BillStatus.PAID
    moved, bill_paid = effect.ledger
    assert (moved.kind, moved.to_status, moved.amount, moved.note) == ("transition", "paid", 50_000, "paid via webhook")
    assert (bill_paid.kind, bill_paid.from_status, bill_paid.to_status) == ("bill_paid", "open", "paid")
    (event,) = effect.events
    assert isinstance(event.payload, PaymentPaid) and event.payload.via == "webhook"


def test_a_settlements_correction_is_written_as_one() -> None:
    pending = payment()
    notified = payments.notify(bill(), pending, note(pending), recorded=None, at=AT)
    effect = payments.apply_outcome(bill(), pending, note(pending), notified.outcome, at=AT, source="reconciliation")
    assert effect.ledger[0].kind == "correction"


def test_failed_ends_a_pending_payment() -> None:
    pending = payment()
    notified, effect = notify(bill(), pending, note(pending, "failed"))
    assert notified.outcome is Outcome.APPLIED
    assert effect.payment is not None and effect.payment.status is PaymentStatus.FAILED
    assert effect.bill is None  # the bill stays open: another payment may follow
    (event,) = effect.events
    assert isinstance(event.payload, PaymentFailed) and effect.ledger[0].note == "declined"


def test_a_repeat_of_a_recorded_transaction_has_no_effect_and_answers_as_the_first() -> None:
    paid = payment(PaymentStatus.PAID)
    notified, effect = notify(bill(BillStatus.PAID), paid, note(paid), Recorded(Outcome.APPLIED, 50_000))
    assert (notified.outcome, notified.first_outcome, notified.payment) == (Outcome.DUPLICATE, Outcome.APPLIED, paid)
    assert notified.before.empty and effect.empty


def test_a_replay_with_another_amount_is_refused_and_changes_nothing() -> None:
    paid = payment(PaymentStatus.PAID)
    notified, _ = notify(bill(BillStatus.PAID), paid, note(paid, amount=1), Recorded(Outcome.APPLIED, 50_000))
    assert notified.outcome is Outcome.CONFLICTING_REPLAY and notified.before.empty


def test_an_unknown_order_or_another_providers_is_not_found() -> None:
    pending = payment(provider="payos")
    assert payments.notify(None, None, note(pending), recorded=None, at=AT).outcome is Outcome.NOT_FOUND
    other = payments.notify(bill(), pending, note(pending, provider="momo"), recorded=None, at=AT)
    assert other.outcome is Outcome.NOT_FOUND and other.payment is None


@pytest.mark.parametrize(("amount", "currency"), [(49_999, "VND"), (50_001, "VND"), (50_000, "USD")])
def test_another_amount_or_currency_is_flagged_not_paid(amount: int, currency: str) -> None:
    pending = payment()
    notified, effect = notify(bill(), pending, note(pending, amount=amount, currency=currency))
    assert notified.outcome is Outcome.AMOUNT_MISMATCH
    assert effect.payments == () and effect.bill is None and flags(effect) == [FlagKind.AMOUNT_MISMATCH]
    assert effect.ledger[0].amount == amount


def test_a_late_failed_after_paid_is_stale_and_ignored() -> None:
    paid = payment(PaymentStatus.PAID)
    notified, effect = notify(bill(BillStatus.PAID), paid, note(paid, "failed", txn="txn-2"))
    assert notified.outcome is Outcome.STALE
    assert effect.payments == () and effect.events == ()
    (ignored,) = effect.ledger
    assert ignored.kind == "ignored" and ignored.note == "failed notification for a payment already paid: no change"


def test_the_same_paid_transaction_again_is_stale() -> None:
    paid = payment(PaymentStatus.PARTIALLY_REFUNDED)
    notified, effect = notify(bill(BillStatus.PAID), paid, note(paid, txn="txn-1"))
    assert notified.outcome is Outcome.STALE and effect.events == ()


def test_a_second_transaction_paying_a_paid_payment_is_a_double_payment() -> None:
    paid = payment(PaymentStatus.PAID)
    notified, effect = notify(bill(BillStatus.PAID), paid, note(paid, txn="txn-2"))
    assert notified.outcome is Outcome.DOUBLE_PAYMENT
    assert effect.payments == () and flags(effect) == [FlagKind.DOUBLE_PAYMENT]


@pytest.mark.parametrize("status", [PaymentStatus.FAILED, PaymentStatus.EXPIRED])
def test_money_taken_for_a_payment_already_over_is_flagged(status: PaymentStatus) -> None:
    over = payment(status)
    notified, effect = notify(bill(), over, note(over))
    assert notified.outcome is Outcome.FINAL
    assert effect.payments == () and flags(effect) == [FlagKind.PAID_WHEN_FINAL]


@pytest.mark.parametrize("status", [PaymentStatus.FAILED, PaymentStatus.EXPIRED])
def test_failed_for_a_payment_already_over_changes_nothing(status: PaymentStatus) -> None:
    over = payment(status)
    notified, effect = notify(bill(), over, note(over, "failed"))
    assert notified.outcome is Outcome.FINAL and effect.events == () and effect.ledger[0].kind == "ignored"


def test_a_payment_past_its_time_paid_in_time_is_paid() -> None:
    late = payment(expires_at=AT - timedelta(minutes=1))
    notified, effect = notify(bill(), late, note(late, paid_at=AT - timedelta(minutes=2)))
    assert notified.before.empty and notified.outcome is Outcome.APPLIED
    assert effect.payment is not None and effect.payment.status is PaymentStatus.PAID


@pytest.mark.parametrize("paid_at", [AT, None])
def test_a_payment_past_its_time_expires_first_and_money_paid_late_is_flagged(paid_at: object) -> None:
    late = payment(expires_at=AT - timedelta(minutes=1))
    notified, effect = notify(bill(), late, note(late, paid_at=paid_at))  # type: ignore[arg-type]
    assert isinstance(notified.before.events[0].payload, PaymentExpired)
    assert notified.payment is not None and notified.payment.status is PaymentStatus.EXPIRED
    assert notified.outcome is Outcome.FINAL and flags(effect) == [FlagKind.PAID_WHEN_FINAL]


def test_a_failure_past_the_payments_time_expires_it() -> None:
    late = payment(expires_at=AT)
    notified, _ = notify(bill(), late, note(late, "failed"))
    assert notified.payment is not None and notified.payment.status is PaymentStatus.EXPIRED
    assert notified.outcome is Outcome.FINAL


@pytest.mark.parametrize(
    ("status", "kind"), [(BillStatus.CANCELLED, FlagKind.PAID_AFTER_CANCEL), (BillStatus.PAID, FlagKind.DOUBLE_PAYMENT)]
)
def test_paid_while_the_bill_is_cancelled_or_paid_by_another_payment_is_flagged(
    status: BillStatus, kind: FlagKind
) -> None:
    pending = payment()
    notified, effect = notify(bill(status), pending, note(pending))
    assert notified.outcome is Outcome.APPLIED
    assert effect.payment is not None and effect.payment.status is PaymentStatus.PAID
    assert effect.bill is None and flags(effect) == [kind]
    assert "refund due" in effect.events[-1].payload.detail  # type: ignore[attr-defined]
