"""The delivery worker: claims due deliveries, sends them to the national portal in batches, records each answer.

Every replica may run one: a claim takes rows no other worker holds (PostgreSQL `FOR UPDATE SKIP LOCKED`; SQLite
serialises writers) under a lease, and an answer is recorded only by the worker that holds the lease. A dossier has
at most one delivery in flight and its next one is due only once the portal took the one before
(`connect.repository._due`), so the portal hears of each dossier in order.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy import Row

from connect import repository
from connect.domain import delivery
from connect.domain.delivery import Answer, Circuit, CircuitState, State
from connect.domain.records import F, Kind
from connect.portal_client import PortalClient, PortalUnavailable
from connect.settings import Settings
from services.db import Database

log = structlog.get_logger(__name__)

ATTEMPTS = Counter(
    "connect_delivery_attempts_total", "Attempts to deliver a record, by answer", ["party", "kind", "answer"]
)
PARKED = Counter(
    "connect_deliveries_parked_total", "Deliveries parked (rejected as invalid, or out of attempts)", ["party", "kind"]
)
CALLS = Counter(
    "connect_portal_calls_total", "Calls of the portal's integration endpoint, by outcome", ["party", "outcome"]
)
BACKLOG = Gauge("connect_delivery_backlog", "Deliveries not acknowledged, by state", ["party", "state"])
OLDEST = Gauge(
    "connect_delivery_oldest_undelivered_seconds",
    "Age of the oldest change not yet taken by the portal (pending or in flight)",
    ["party"],
)
CIRCUIT_OPEN = Gauge("connect_portal_circuit_open", "1 while this worker's circuit to the portal is open", ["party"])


def _batches(rows: list[Row[Any]], on_portal: set[str], size: int) -> list[tuple[str, bool, list[Row[Any]]]]:
    """The claimed deliveries as calls: one service and one `isUpdating` per call, at most `size` records."""
    groups: dict[tuple[str, bool], list[Row[Any]]] = {}
    for row in rows:
        updating = row.kind == Kind.DOSSIER.value and row.dossier_id in on_portal
        groups.setdefault((row.service, updating), []).append(row)
    calls = []
    for (service, updating), members in groups.items():
        it = iter(members)
        while chunk := list(islice(it, size)):
            calls.append((service, updating, chunk))
    return calls


class Worker:
    def __init__(
        self, db: Database, settings: Settings, client: PortalClient, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.db = db
        self.settings = settings
        self.client = client
        self.owner = uuid.uuid4().hex
        self.monotonic = monotonic
        self.circuit = Circuit(settings.circuit_failures, settings.circuit_cooldown_seconds)
        self._wake = asyncio.Event()
        #: Records this worker has had an answer (or a failure) for.
        self.tried = 0

    def wake(self, *_: Any) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                done = await self.round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database away: try again after a pause
                log.warning("delivery_round_failed", error=repr(exc))
                done = 0
            if done:
                continue
            wait = self.settings.delivery_poll_interval
            if self.circuit.state is CircuitState.OPEN:
                wait = min(wait, max(0.0, self.circuit.open_until - self.monotonic()))
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                pass
            self._wake.clear()

    async def round(self) -> int:
        """Claim what is due, send it, record the answers; the number of deliveries tried."""
        permitted, self.circuit = self.circuit.permits(self.monotonic())
        if not permitted:
            return 0
        s = self.settings
        now = datetime.now(UTC)
        async with self.db.sessionmaker() as session, session.begin():
            rows = await repository.claim(
                session,
                owner=self.owner,
                now=now,
                lease_until=now + timedelta(seconds=s.delivery_lease_seconds),
                limit=1 if self.circuit.probing else s.delivery_batch,
            )
            on_portal = await repository.on_portal(session, [row.dossier_id for row in rows])
        if not rows:
            return 0
        outcomes: list[dict[str, Any]] = []
        untried: list[int] = []
        held: set[str] = set()
        for service, updating, chunk in _batches(rows, on_portal, s.records_per_call):
            if self.circuit.state is CircuitState.OPEN:
                untried += [row.id for row in chunk]
                continue
            answers = await self._call(service, updating, chunk)
            for row, (answer, message) in zip(chunk, answers, strict=True):
                outcome = delivery.after_attempt(
                    State.SENT,
                    row.attempts,
                    answer,
                    message,
                    now=datetime.now(UTC),
                    policy=s.retry_policy,
                    draw=random.random(),
                )
                ATTEMPTS.labels(repository.PARTY, row.kind, answer.value).inc()
                if outcome.state is State.ACKNOWLEDGED and row.kind == Kind.DOSSIER.value:
                    held.add(row.dossier_id)
                if outcome.state is State.PARKED:
                    PARKED.labels(repository.PARTY, row.kind).inc()
                    log.warning("delivery_parked", delivery=row.id, dossier=row.dossier_id, answer=outcome.last_answer)
                outcomes.append(
                    {
                        "b_id": row.id,
                        "b_owner": self.owner,
                        "b_state": outcome.state.value,
                        "b_next_attempt_at": outcome.next_attempt_at,
                        "b_last_answer": outcome.last_answer[:600],
                        "b_is_updating": updating,
                        "b_now": datetime.now(UTC),
                        "b_acknowledged_at": datetime.now(UTC) if outcome.state is State.ACKNOWLEDGED else None,
                    }
                )
        async with self.db.sessionmaker() as session, session.begin():
            await repository.record_outcomes(session, outcomes)
            await repository.release(session, self.owner, untried)
            await repository.hold(session, held, datetime.now(UTC))
        self.tried += len(outcomes)
        return len(outcomes)

    async def _call(self, service: str, updating: bool, chunk: list[Row[Any]]) -> list[tuple[Answer, str]]:
        """Each record's answer. A step tried before may have reached the portal with its answer lost: the portal
        is asked what it holds (`TraCuuHoSo`) first, and a step it holds is not sent twice."""
        answers: dict[int, tuple[Answer, str]] = {}
        try:
            retried = [row for row in chunk if row.kind == Kind.STEP.value and row.attempts > 1]
            if retried:
                held = await self.client.held_steps(sorted({row.payload[F.CODE] for row in retried}))
                for row in retried:
                    if row.payload in held.get(row.payload[F.CODE], []):
                        answers[row.id] = (Answer.ACCEPTED, "already held by the portal (TraCuuHoSo)")
            to_send = [row for row in chunk if row.id not in answers]
            if to_send:
                answer = await self.client.call(service, updating, [row.payload for row in to_send])
                answers.update(zip((row.id for row in to_send), answer.records, strict=True))
        except PortalUnavailable as exc:
            CALLS.labels(repository.PARTY, "failed").inc()
            was_open = self.circuit.state is CircuitState.OPEN
            self.circuit = self.circuit.failed(self.monotonic())
            if self.circuit.state is CircuitState.OPEN and not was_open:
                log.warning("portal_circuit_opened", error=str(exc), cooldown=self.settings.circuit_cooldown_seconds)
            CIRCUIT_OPEN.labels(repository.PARTY).set(1 if self.circuit.state is CircuitState.OPEN else 0)
            return [(Answer.FAILED, str(exc))] * len(chunk)
        CALLS.labels(repository.PARTY, "answered").inc()
        self.circuit = self.circuit.succeeded()
        CIRCUIT_OPEN.labels(repository.PARTY).set(0)
        return [answers[row.id] for row in chunk]


async def refresh_gauges(db: Database) -> None:
    async with db.sessionmaker() as session:
        rows = await repository.backlog(session)
    counts = {state.value: 0 for state in State if state is not State.ACKNOWLEDGED}
    oldest: datetime | None = None
    for state, count, first in rows:
        counts[state] = count
        if state != State.PARKED.value and first is not None:
            first = first if first.tzinfo else first.replace(tzinfo=UTC)
            oldest = first if oldest is None else min(oldest, first)
    for state, count in counts.items():
        BACKLOG.labels(repository.PARTY, state).set(count)
    OLDEST.labels(repository.PARTY).set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0)


async def gauges(db: Database, interval: float) -> None:
    while True:
        try:
            await refresh_gauges(db)
        except Exception as exc:
            log.warning("delivery_gauges_failed", error=repr(exc))
        await asyncio.sleep(interval)
