"""The payment's transition table: every move it allows is made, every other one is refused."""

from __future__ import annotations

import itertools

import pytest
from payment.domain.payments import transition
from payment.domain.states import (
    FINAL_STATES,
    OPEN_STATES,
    PAID_STATES,
    REFUNDABLE_STATES,
    TRANSITIONS,
    PaymentStatus,
)

from services.errors import Conflict
from tests.payment.domain.factories import AT, payment

PAIRS = list(itertools.product(PaymentStatus, PaymentStatus))


def test_the_table_covers_every_state() -> None:
    assert set(TRANSITIONS) == set(PaymentStatus)
    assert all(targets <= set(PaymentStatus) for targets in TRANSITIONS.values())


def test_the_state_groups() -> None:
    assert OPEN_STATES == {PaymentStatus.CREATED, PaymentStatus.PENDING}
    assert PAID_STATES == {PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}
    assert FINAL_STATES == {PaymentStatus.FAILED, PaymentStatus.EXPIRED, PaymentStatus.REFUNDED}
    assert REFUNDABLE_STATES == {PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED}
    # Money once taken is never "un-taken": no move from a paid state back to an open or failed one.
    for state in PAID_STATES:
        assert not TRANSITIONS[state] & (OPEN_STATES | {PaymentStatus.FAILED, PaymentStatus.EXPIRED})


@pytest.mark.parametrize(("start", "to"), [p for p in PAIRS if p[1] in TRANSITIONS[p[0]]])
def test_an_allowed_move_is_made_and_written_in_the_ledger(start: PaymentStatus, to: PaymentStatus) -> None:
    moved, row = transition(payment(start), to, actor="someone", at=AT, amount=7, note="why", kind="refund")
    assert moved.status is to and moved.updated_at == AT
    assert (row.kind, row.from_status, row.to_status, row.amount, row.note) == ("refund", start, to, 7, "why")
    assert (row.payment_id, row.bill_id, row.actor, row.at) == ("payment-1", "bill-1", "someone", AT)


@pytest.mark.parametrize(("start", "to"), [p for p in PAIRS if p[1] not in TRANSITIONS[p[0]]])
def test_any_other_move_is_a_conflict(start: PaymentStatus, to: PaymentStatus) -> None:
    with pytest.raises(Conflict) as refused:
        transition(payment(start), to, actor="someone", at=AT)
    assert refused.value.code == "invalid-transition"
    assert refused.value.status == 409 and refused.value.extensions["payment_status"] == start
