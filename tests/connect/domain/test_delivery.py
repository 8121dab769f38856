"""The life of a delivery and the circuit (connect.domain.delivery): pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from connect.domain.delivery import (
    TRANSITIONS,
    Answer,
    Circuit,
    CircuitState,
    RetryPolicy,
    State,
    after_attempt,
    move,
    resend,
)

from services.errors import Conflict

NOW = datetime(2026, 3, 2, tzinfo=UTC)
POLICY = RetryPolicy(base_seconds=5, max_seconds=60, jitter=0.5, max_attempts=4)


def test_backoff_doubles_up_to_the_maximum() -> None:
    assert [POLICY.delay(n, draw=0.0) for n in (1, 2, 3, 4, 5, 6)] == [5, 10, 20, 40, 60, 60]


def test_jitter_takes_off_at_most_its_share() -> None:
    assert POLICY.delay(2, draw=0.0) == 10
    assert POLICY.delay(2, draw=0.999999) == pytest.approx(5, abs=1e-4)
    assert RetryPolicy(5, 60, 0.0, 4).delay(2, draw=0.7) == 10


def test_an_accepted_record_is_acknowledged() -> None:
    outcome = after_attempt(State.SENT, 1, Answer.ACCEPTED, "ok", now=NOW, policy=POLICY, draw=0)
    assert (outcome.state, outcome.next_attempt_at) == (State.ACKNOWLEDGED, None)


def test_a_rejected_record_is_parked_with_the_portals_message_at_the_first_attempt() -> None:
    outcome = after_attempt(State.SENT, 1, Answer.REJECTED, "MaTTHC: không tồn tại", now=NOW, policy=POLICY, draw=0)
    assert outcome.state is State.PARKED and outcome.last_answer == "MaTTHC: không tồn tại"


def test_a_failure_is_tried_again_later_then_parked_after_max_attempts() -> None:
    first = after_attempt(State.SENT, 1, Answer.FAILED, "HTTP 503", now=NOW, policy=POLICY, draw=0)
    assert first.state is State.PENDING and first.next_attempt_at == NOW + timedelta(seconds=5)
    third = after_attempt(State.SENT, 3, Answer.FAILED, "HTTP 503", now=NOW, policy=POLICY, draw=0)
    assert third.next_attempt_at == NOW + timedelta(seconds=20)
    last = after_attempt(State.SENT, 4, Answer.FAILED, "HTTP 503", now=NOW, policy=POLICY, draw=0)
    assert last.state is State.PARKED and "after 4 attempts" in last.last_answer


def test_nothing_leaves_acknowledged() -> None:
    assert TRANSITIONS[State.ACKNOWLEDGED] == frozenset()
    for new in State:
        with pytest.raises(Conflict):
            move(State.ACKNOWLEDGED, new)
    with pytest.raises(Conflict):
        after_attempt(State.ACKNOWLEDGED, 2, Answer.FAILED, "late answer", now=NOW, policy=POLICY, draw=0)


def test_only_a_parked_delivery_is_sent_again() -> None:
    assert resend(State.PARKED) is State.PENDING
    for state in (State.PENDING, State.SENT, State.ACKNOWLEDGED):
        with pytest.raises(Conflict):
            resend(state)


def test_the_circuit_opens_after_failures_in_a_row_and_probes_once_after_the_cooldown() -> None:
    c = Circuit(failures_to_open=3, cooldown_seconds=10)
    c = c.failed(0).failed(1)
    assert c.state is CircuitState.CLOSED and c.permits(1)[0]
    c = c.succeeded().failed(2).failed(3)
    assert c.state is CircuitState.CLOSED  # a success in between starts the count again
    c = c.failed(4)
    assert c.state is CircuitState.OPEN
    assert c.permits(13.9) == (False, c)
    allowed, probing = c.permits(14)
    assert allowed and probing.probing
    reopened = probing.failed(14.5)
    assert reopened.state is CircuitState.OPEN and reopened.open_until == 24.5
    assert probing.succeeded().state is CircuitState.CLOSED
