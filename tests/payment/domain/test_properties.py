"""Any sequence of notifications, status answers, expiry and refunds keeps a payment inside its transition table
and never gives back more than was paid."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from payment.domain import payments, refunds
from payment.domain.model import BillState, Decision, PaymentState
from payment.domain.payments import RetryPolicy
from payment.domain.states import PAID_STATES, TRANSITIONS, Outcome

from services.errors import Problem
from tests.payment.domain.factories import AT, bill, note, payment

RETRY = RetryPolicy(60, 3600)

commands = st.lists(
    st.one_of(
        st.tuples(st.just("notify"), st.sampled_from(["paid", "failed"]), st.sampled_from(["t1", "t2"]),
                  st.sampled_from([50_000, 49_000]), st.integers(0, 40)),
        st.tuples(st.just("answer"), st.sampled_from(["pending", "not_found", "error"]), st.integers(0, 40)),
        st.tuples(st.just("expire"), st.integers(0, 40)),
        st.tuples(st.just("refund"), st.integers(1, 60_000), st.booleans()),
    ),
    max_size=12,
)  # fmt: skip


def step(b: BillState, p: PaymentState, command: tuple, seen: dict[str, Outcome]) -> Decision:  # type: ignore[type-arg]
    kind, *args = command
    if kind == "notify":
        status, txn, amount, minutes = args
        at = AT + timedelta(minutes=minutes)
        news = note(p, status, txn=txn, amount=amount, paid_at=at)
        recorded = payments.Recorded(seen[txn], amount) if txn in seen else None
        notified = payments.notify(b, p, news, recorded=recorded, at=at)
        if notified.outcome in (Outcome.DUPLICATE, Outcome.CONFLICTING_REPLAY):
            return notified.before
        seen[txn] = notified.outcome
        assert notified.payment is not None
        return notified.before.then(payments.apply_outcome(b, notified.payment, news, notified.outcome, at=at,
                                                           source="webhook"))  # fmt: skip
    if kind == "answer":
        answer, minutes = args
        return payments.status_answered(b, p, answer, "", notified=False, at=AT + timedelta(minutes=minutes),
                                        retry=RETRY)  # fmt: skip
    if kind == "expire":
        (minutes,) = args
        return payments.expire(b, p, at=AT + timedelta(minutes=minutes)) if payments.is_overdue(
            p, AT + timedelta(minutes=minutes)) else Decision()  # fmt: skip
    amount, manual = args
    return refunds.begin_refund(b, p, amount, "r", in_flight=0, actor="desk", through_provider=not manual,
                                request_id="r", at=AT)  # fmt: skip


@settings(max_examples=300, deadline=None, derandomize=True)
@given(commands)
def test_a_payment_stays_inside_its_table(sequence: list[tuple]) -> None:  # type: ignore[type-arg]
    b, p = bill(), replace(payment(), provider_txn_id=None)
    seen: dict[str, Outcome] = {}
    given_back = 0
    for command in sequence:
        try:
            decision = step(b, p, command, seen)
        except Problem as problem:  # a refund of an unpaid payment or of too much: refused, nothing changes
            assert command[0] == "refund" and problem.status in (409, 422)
            continue
        for after in decision.payments:
            assert after.status == p.status or after.status in TRANSITIONS[p.status], (p.status, after.status)
            if p.status in PAID_STATES:
                assert after.status in PAID_STATES and after.provider_txn_id == p.provider_txn_id
            p = after
        given_back += sum(row.amount for row in decision.ledger if row.kind == "refund")
        b = decision.bill or b
        assert (b.status == "paid") == (p.status in PAID_STATES)
    assert p.refunded_amount == given_back <= p.amount
