"""Transactional outbox: events are rows written with the state change; a relay publishes them to Kafka.

Writing: a command appends its events to an `EventBuffer` and writes them with `await buffer.write()` (one
multi-row INSERT) inside its transaction; a hot path with a prebuilt statement of its own puts
`await buffer.take_rows()` into it. Nothing reaches Kafka unless that transaction commits, and a commit that would
leave added events unwritten raises instead.

Publishing: one `OutboxRelay` per service process runs in the background; a lease row makes sure only one of the
service's replicas publishes at a time. It reads rows in id order, sends them with an idempotent producer (which
keeps order within a partition, hence per key), waits for every acknowledgement and only then deletes the rows.
A crash between the acknowledgement and the delete re-sends those rows: delivery is at least once and consumers
drop duplicates by event id (the inbox).

Wake-up: a commit that wrote outbox rows wakes the relay of the same process at once (SQLAlchemy `after_commit`);
on PostgreSQL the transaction also sends `NOTIFY`, which wakes the relay of whichever replica holds the lease.
Otherwise the relay polls every `poll_interval` seconds.

After a send fails (broker down, or the known case of an idempotent aiokafka producer left with a stale sequence
after a broker outage: OutOfOrderSequenceNumber / UnknownProducerId), the relay throws the producer away and
starts a fresh one (a new producer id), then re-sends from the first unacknowledged row. An idempotent aiokafka
producer never gives up on a batch by itself (it retries until the broker answers), so the relay stops waiting for
the acknowledgements after `publish_timeout` and counts that as a failure too.

Metrics (the leader's; another replica reports an empty outbox): `outbox_unpublished_rows` and
`outbox_oldest_unpublished_age_seconds`, read from the table every `metrics_interval` seconds by a task of their
own (so they move while a publish hangs), `outbox_published_total`, `outbox_publish_failures_total`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Gauge
from sqlalchemy import delete, event, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.bus.kafka import PLAINTEXT, KafkaSecurity, close_quietly, event_headers, new_producer
from services.bus.tables import outbox, relay_lease
from services.db import Database
from services.events import CloudEvent, EventPayload, new_event
from services.observability import current_request_id

log = structlog.get_logger(__name__)

RELAY_PUBLISHED = Counter("outbox_published_total", "Events published by the outbox relay", ["service"])
RELAY_FAILURES = Counter("outbox_publish_failures_total", "Failed publish attempts of the relay", ["service"])
RELAY_LEADER = Gauge("outbox_relay_leader", "1 while this process holds the relay lease", ["service"])
OUTBOX_UNPUBLISHED = Gauge("outbox_unpublished_rows", "Outbox rows not yet acknowledged by Kafka", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_unpublished_age_seconds", "Age of the oldest outbox row not yet acknowledged by Kafka", ["service"]
)

_DIRTY = "motcua_outbox_dirty"
_wakers: weakref.WeakSet[OutboxRelay] = weakref.WeakSet()


def notify_channel(service: str) -> str:
    return "outbox_" + "".join(c if c.isalnum() else "_" for c in service)


def outbox_row(event_: CloudEvent, *, topic: str, key: str | None = None) -> dict[str, Any]:
    """The outbox row of `event_` (column → value), for a service that writes it with its own statement; it must
    then call `note_enqueued` in the same transaction. `key` defaults to the event's subject."""
    request_id = event_.requestid or current_request_id()
    return {
        "event_id": event_.id,
        "topic": topic,
        "key": key if key is not None else event_.subject,
        "value": event_.to_json(),
        "headers": [[k, v.decode()] for k, v in event_headers(event_.type, request_id)],
    }


#: Built once: statement construction costs more than executing it with new parameters.
_INSERT_OUTBOX = insert(outbox)

#: the buffers that hold events in the session's transaction (session.info), checked before it commits
_BUFFERS = "motcua_event_buffers"


class EventBuffer:
    """The events of one command (or one transaction), written to the outbox in one statement.

    `add` builds each CloudEvent (source `/<service>`, subject = key) and its outbox row; `write()` inserts what was
    added since the last write, in that order. A commit of the session while added events are unwritten raises
    RuntimeError (the state change would otherwise commit without its events); a rollback discards them."""

    def __init__(self, session: AsyncSession, *, service: str, topic: str) -> None:
        self.session = session
        self.source = f"/{service}"
        self.topic = topic
        self._rows: list[dict[str, Any]] = []

    def add(self, payload: EventPayload, *, key: str, topic: str | None = None) -> CloudEvent:
        """Append the event of `payload` about aggregate `key` (its subject and Kafka key), to the buffer's topic
        unless `topic` is given."""
        event_ = new_event(payload, source=self.source, subject=key)
        if not self._rows:
            buffers: list[EventBuffer] = self.session.sync_session.info.setdefault(_BUFFERS, [])
            if self not in buffers:
                buffers.append(self)
        self._rows.append(outbox_row(event_, topic=self.topic if topic is None else topic, key=key))
        return event_

    @property
    def unwritten(self) -> bool:
        return bool(self._rows)

    async def write(self) -> None:
        """Insert the events added since the last write in one statement and wake the relay at commit."""
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        await self.session.execute(_INSERT_OUTBOX, rows)  # executemany: SQLAlchemy sends one multi-row INSERT
        await note_enqueued(self.session)

    async def take_rows(self) -> list[dict[str, Any]]:
        """Hand the unwritten rows (outbox column → value, in order) to a statement of the caller's, which must run
        in this transaction; the buffer counts them as written and the relay is woken at commit."""
        rows, self._rows = self._rows, []
        if rows:
            await note_enqueued(self.session)
        return rows


@event.listens_for(Session, "before_commit")
def _nothing_left_unwritten(session: Session) -> None:
    if any(buffer.unwritten for buffer in session.info.get(_BUFFERS, ())):
        raise RuntimeError("events were added to an EventBuffer but not written before the commit")


@event.listens_for(Session, "after_commit")
def _forget_buffers(session: Session) -> None:
    session.info.pop(_BUFFERS, None)


async def enqueue(session: AsyncSession, event_: CloudEvent, *, topic: str, key: str | None = None) -> None:
    """Add an event built elsewhere (a test's, a benchmark's) to the outbox in the session's transaction. `key`
    defaults to the event's subject. A service writes through an `EventBuffer`."""
    await enqueue_many(session, [(event_, topic, key)])


async def enqueue_many(session: AsyncSession, events: Sequence[tuple[CloudEvent, str, str | None]]) -> None:
    """Add several (event, topic, key) to the outbox in one statement, in this order."""
    if not events:
        return
    rows = [outbox_row(event_, topic=topic, key=key) for event_, topic, key in events]
    await session.execute(_INSERT_OUTBOX, rows)  # executemany: SQLAlchemy sends one multi-row INSERT
    await note_enqueued(session)


async def note_enqueued(session: AsyncSession) -> None:
    """Outbox rows were written in this transaction: wake the relay when it commits."""
    info = session.sync_session.info
    if not info.get(_DIRTY):
        info[_DIRTY] = True
        service = info.get("motcua_service")
        if service and session.get_bind().dialect.name == "postgresql" and not _leader_here(service):
            # Another replica publishes: tell it. NOTIFY is transactional, delivered only if this commits.
            await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": notify_channel(service)})


def _leader_here(service: str) -> bool:
    return any(relay.is_leader and relay.service == service for relay in list(_wakers))


@event.listens_for(Session, "after_commit")
def _wake_relays(session: Session) -> None:
    if session.info.pop(_DIRTY, False):
        for relay in list(_wakers):
            relay.wake()


@event.listens_for(Session, "after_rollback")
def _forget_rollback(session: Session) -> None:
    session.info.pop(_DIRTY, None)
    for buffer in session.info.pop(_BUFFERS, ()):
        buffer._rows.clear()


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        *,
        service: str,
        bootstrap_servers: str,
        security: KafkaSecurity = PLAINTEXT,
        batch_size: int = 1000,
        poll_interval: float = 0.5,
        lease_seconds: float = 10.0,
        producer_factory: Callable[[], AIOKafkaProducer] | None = None,
        linger: float = 0.0,
        publish_timeout: float = 15.0,
        metrics_interval: float = 5.0,
    ) -> None:
        self.db = db
        self.service = service
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.lease_seconds = lease_seconds
        self.linger = linger
        self.publish_timeout = publish_timeout
        self.metrics_interval = metrics_interval
        self.reconnect_backoff_max = security.reconnect_backoff_max
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._producer_factory = producer_factory or (
            lambda: new_producer(bootstrap_servers, client_id=f"{service}-relay", security=security)
        )
        self._producer: AIOKafkaProducer | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._listener: Any = None
        self.is_leader = False
        self._renew_after = 0.0
        self.connected = False
        _wakers.add(self)

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        backoff = 0.2
        metrics = asyncio.create_task(self._watch_backlog(), name=f"outbox-metrics-{self.service}")
        try:
            await self._listen()
            while not self._stopping.is_set():
                try:
                    if not await self._hold_lease():
                        await self._sleep(self.lease_seconds / 3)
                        continue
                    sent = await self.publish_batch()
                    backoff = 0.2
                    if sent < self.batch_size and await self._sleep(self.poll_interval) and self.linger:
                        await asyncio.sleep(self.linger)  # woken by a commit: let the next few commits join
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    RELAY_FAILURES.labels(self.service).inc()
                    log.warning("outbox_relay_error", error=repr(exc), retry_in=backoff)
                    await self._reset_producer()
                    await self._back_off(backoff)
                    backoff = min(backoff * 2, self.reconnect_backoff_max)
        finally:
            metrics.cancel()
            await asyncio.gather(metrics, return_exceptions=True)
            await self._release()

    async def publish_batch(self) -> int:
        """Publish up to `batch_size` rows; return how many were sent and deleted."""
        async with self.db.sessionmaker() as session:
            rows = (
                await session.execute(
                    select(outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.value, outbox.c.headers)
                    .order_by(outbox.c.id)
                    .limit(self.batch_size)
                )
            ).all()
        if not rows:
            return 0
        producer = await self._ensure_producer()
        futures = []
        for row in rows:
            futures.append(
                await producer.send(
                    row.topic,
                    value=row.value,
                    key=row.key.encode() if row.key is not None else None,
                    headers=[(k, v.encode()) for k, v in row.headers],
                )
            )
        try:
            await asyncio.wait_for(asyncio.gather(*futures), self.publish_timeout)
        except TimeoutError:
            raise TimeoutError(f"{len(rows)} events still unacknowledged after {self.publish_timeout} s") from None
        ids = [row.id for row in rows]
        async with self.db.sessionmaker() as session, session.begin():
            await session.execute(delete(outbox).where(outbox.c.id.in_(ids)))
        RELAY_PUBLISHED.labels(self.service).inc(len(ids))
        return len(ids)

    async def _watch_backlog(self) -> None:
        while True:
            try:
                await self.refresh_backlog()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is down: the gauges keep their last values
                log.warning("outbox_metrics_failed", error=repr(exc))
            await asyncio.sleep(self.metrics_interval)

    async def refresh_backlog(self) -> None:
        """Set the backlog gauges from the outbox table (one statement), or to 0 on a replica that does not publish."""
        count, oldest = 0, None
        if self.is_leader:
            async with self.db.sessionmaker() as session:
                count, oldest = (await session.execute(select(func.count(), func.min(outbox.c.created_at)))).one()
        age = 0.0
        if oldest is not None:
            if oldest.tzinfo is None:  # SQLite keeps CURRENT_TIMESTAMP, which is UTC, without the zone
                oldest = oldest.replace(tzinfo=UTC)
            age = max(0.0, (datetime.now(UTC) - oldest).total_seconds())
        OUTBOX_UNPUBLISHED.labels(self.service).set(count)
        OUTBOX_OLDEST_AGE.labels(self.service).set(age)

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = self._producer_factory()
            try:
                await producer.start()
            except BaseException:
                await close_quietly(producer)
                raise
            self._producer = producer
            self.connected = True
        return self._producer

    async def _reset_producer(self) -> None:
        producer, self._producer = self._producer, None
        self.connected = False
        if producer is not None:
            await close_quietly(producer)

    async def _back_off(self, seconds: float) -> None:
        """Wait `seconds` after a failure: commits meanwhile do not cut it short (a service committing many times a
        second would otherwise retry a broker that is down as often); a stop does."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    async def _sleep(self, seconds: float) -> bool:
        """Wait for a wake-up or `seconds`; True when woken (and not stopping)."""
        woken = True
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            woken = False
        self._wake.clear()
        return woken and not self._stopping.is_set()

    async def _hold_lease(self) -> bool:
        """Take or renew the service's relay lease; True while this relay is the one publisher.

        A leader renews once a third of the lease has gone by, not at every batch: a renewal is a write transaction,
        and batches follow each commit that wrote events. Two thirds of the lease is still left when it renews."""
        if self.is_leader and time.monotonic() < self._renew_after:
            return True
        now = time.time()
        renewing_from = time.monotonic()
        async with self.db.sessionmaker() as session, session.begin():
            result = await session.execute(
                update(relay_lease)
                .where(relay_lease.c.name == self.service)
                .where((relay_lease.c.holder == self.holder) | (relay_lease.c.expires_at < now))
                .values(holder=self.holder, expires_at=now + self.lease_seconds)
            )
            won: bool = result.rowcount == 1  # type: ignore[attr-defined]
            if not won:
                exists = await session.scalar(select(relay_lease.c.name).where(relay_lease.c.name == self.service))
                if exists is None:
                    try:
                        async with session.begin_nested():
                            await session.execute(
                                insert(relay_lease).values(
                                    name=self.service, holder=self.holder, expires_at=now + self.lease_seconds
                                )
                            )
                        won = True
                    except IntegrityError:
                        won = False
        if won != self.is_leader:
            log.info("outbox_relay_lease", leader=won, holder=self.holder)
            if not won:
                await self._reset_producer()
        self.is_leader = won
        self._renew_after = renewing_from + self.lease_seconds / 3 if won else 0.0
        RELAY_LEADER.labels(self.service).set(1 if won else 0)
        return won

    async def _release(self) -> None:
        _wakers.discard(self)
        await self._reset_producer()
        if self._listener is not None:
            conn, driver, channel = self._listener
            try:
                await driver.remove_listener(channel, self._on_notify)
                await conn.close()
            except Exception:
                pass
        if self.is_leader:
            try:
                async with self.db.sessionmaker() as session, session.begin():
                    await session.execute(
                        update(relay_lease)
                        .where(relay_lease.c.name == self.service, relay_lease.c.holder == self.holder)
                        .values(expires_at=0.0)
                    )
            except Exception:
                pass
        RELAY_LEADER.labels(self.service).set(0)

    async def _listen(self) -> None:
        """On PostgreSQL, LISTEN for commits of other replicas, on a connection of the service's own engine (so it
        has exactly the service's connect arguments) kept out of the pool for the relay's lifetime."""
        if self.db.dialect != "postgresql":
            return
        try:
            conn = await self.db.engine.connect()
            driver = (await conn.get_raw_connection()).driver_connection
            if driver is None:
                raise RuntimeError("no driver connection")
            channel = notify_channel(self.service)
            await driver.add_listener(channel, self._on_notify)
            self._listener = (conn, driver, channel)
        except Exception as exc:  # polling still works without it
            log.warning("outbox_listen_failed", error=repr(exc))

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()
