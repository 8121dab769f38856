"""The life of a delivery (one record for the portal) and the circuit that stops calling a portal that is down.

A delivery is `pending` until a worker claims it (`sent`: the call is in flight under the worker's lease), then
`acknowledged` (the portal took it: final), back to `pending` with a later attempt time (the call failed, the
answer was lost or unreadable), or `parked` (the portal rejected the record as invalid, or it failed
`max_attempts` times): parked waits for an operator, who may send it again (`pending`). Nothing goes backwards from
`acknowledged`. Pure: the caller passes the time and the random draw of the jitter.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from services.errors import Conflict


class State(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    PARKED = "parked"


S = State
#: The moves a delivery may make. `sent` → `sent`: a worker claims again a delivery whose previous worker's lease
#: ran out before an answer was recorded.
TRANSITIONS: dict[State, frozenset[State]] = {
    S.PENDING: frozenset({S.SENT}),
    S.SENT: frozenset({S.SENT, S.PENDING, S.ACKNOWLEDGED, S.PARKED}),
    S.PARKED: frozenset({S.PENDING}),
    S.ACKNOWLEDGED: frozenset(),
}
#: Not yet taken by the portal: a later delivery of the same dossier waits for these.
UNDELIVERED = frozenset({S.PENDING, S.SENT, S.PARKED})


def move(current: State, new: State) -> State:
    if new not in TRANSITIONS[current]:
        raise Conflict(f"A delivery {current.value} cannot become {new.value}.", code="delivery-state")
    return new


class Answer(StrEnum):
    """What became of one record in one attempt."""

    ACCEPTED = "accepted"  # the portal took it
    REJECTED = "rejected"  # the portal refused it as invalid: sending it again as it is cannot help
    FAILED = "failed"  # no answer, an error of the portal, an answer that cannot be read: try again later


@dataclass(frozen=True)
class RetryPolicy:
    #: The first wait after a failure; each further failure doubles it, up to `max_seconds`.
    base_seconds: float
    max_seconds: float
    #: Share of the wait drawn at random (0: none, 1: anywhere between 0 and the full wait), so that the deliveries
    #: that failed together are not all retried at the same instant.
    jitter: float
    #: Failed attempts after which a delivery is parked.
    max_attempts: int

    def delay(self, attempts: int, draw: float) -> float:
        """Seconds before the next attempt after `attempts` (≥ 1) failed ones; `draw` uniform in [0, 1)."""
        full = min(self.max_seconds, self.base_seconds * 2.0 ** max(0, attempts - 1))
        return full * (1 - self.jitter * draw)


@dataclass(frozen=True)
class Outcome:
    state: State
    next_attempt_at: datetime | None
    last_answer: str


def after_attempt(
    state: State, attempts: int, answer: Answer, message: str, *, now: datetime, policy: RetryPolicy, draw: float
) -> Outcome:
    """Where a `sent` delivery goes after its `attempts`-th attempt (counted when it was claimed) ended so."""
    if answer is Answer.ACCEPTED:
        return Outcome(move(state, S.ACKNOWLEDGED), None, message)
    if answer is Answer.REJECTED:
        return Outcome(move(state, S.PARKED), None, message)
    if attempts >= policy.max_attempts:
        return Outcome(move(state, S.PARKED), None, f"{message} (after {attempts} attempts)")
    return Outcome(move(state, S.PENDING), now + timedelta(seconds=policy.delay(attempts, draw)), message)


def resend(state: State) -> State:
    """An operator sends a parked delivery again."""
    if state is not S.PARKED:
        raise Conflict(
            f"Only a parked delivery can be sent again; this one is {state.value}.", code="delivery-not-parked"
        )
    return move(state, S.PENDING)


class CircuitState(StrEnum):
    CLOSED = "closed"  # calls go out
    OPEN = "open"  # the portal is down: no calls until the cool-down is over
    HALF_OPEN = "half_open"  # one call goes out to see whether the portal is back


@dataclass(frozen=True)
class Circuit:
    """The worker's view of the portal. Times are a monotonic clock's seconds."""

    failures_to_open: int
    cooldown_seconds: float
    state: CircuitState = CircuitState.CLOSED
    failures: int = 0
    open_until: float = 0.0

    def permits(self, now: float) -> tuple[bool, Circuit]:
        """Whether a call may go out now; an open circuit whose cool-down is over lets one probe through."""
        if self.state is CircuitState.OPEN:
            if now < self.open_until:
                return False, self
            return True, replace(self, state=CircuitState.HALF_OPEN)
        return True, self

    @property
    def probing(self) -> bool:
        return self.state is CircuitState.HALF_OPEN

    def succeeded(self) -> Circuit:
        return replace(self, state=CircuitState.CLOSED, failures=0)

    def failed(self, now: float) -> Circuit:
        """A call that got no usable answer (a record the portal rejected is an answer: that is not a failure)."""
        failures = self.failures + 1
        if self.state is CircuitState.HALF_OPEN or failures >= self.failures_to_open:
            return replace(self, state=CircuitState.OPEN, failures=failures, open_until=now + self.cooldown_seconds)
        return replace(self, failures=failures)
