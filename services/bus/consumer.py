"""Consumer runner: Kafka consumer group → handler in a database transaction → inbox → offset commit.

For each record, in partition order:
1. decode the CloudEvents envelope and its typed payload; a malformed event or an unknown type is poison and goes
   to the group's dead-letter topic at once (no retry can fix it);
2. a type this consumer has no handler for is skipped (without parsing it when the `ce_type` header names it);
3. otherwise a transaction inserts (consumer, event id) into the inbox and runs the handler; a duplicate event id
   means the effect already happened, so the handler is not called again. The handled events of one poll, from
   all its partitions, share a transaction (up to `group_size`; the subscription's `group_handler`, if any, takes
   them at once); if any of them fails, the group is split and the failing event goes on alone, as below;
4. offsets are committed after the database commits, at most once a `commit_interval`, only for partitions still
   assigned (and before partitions are given up or the consumer stops).

A failing handler is retried `max_attempts` times with backoff, then the event goes to the dead-letter topic with
the error in its headers, and the partition keeps flowing. Failures of the infrastructure (database unreachable)
are not the event's fault: those are retried without limit, so an outage delays effects and never dead-letters them.

Rebalances: aiokafka rebalances in a background task while records are being handled; the rebalance listener waits
for the batch in hand to finish and commit before the partitions are given up, and a commit that still fails
(CommitFailedError after a rebalance, a known aiokafka behaviour) is logged and dropped: the next owner re-reads
from the last committed offset and the inbox makes the repeat harmless.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import Counter, Gauge
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from services.bus.kafka import CE_TYPE_HEADER, PLAINTEXT, KafkaSecurity, close_quietly, header, new_producer
from services.bus.tables import inbox
from services.db import Database
from services.events import CloudEvent, EventPayload, EventRegistry, InvalidEvent, UnknownEventType, registry
from services.observability import REQUEST_ID_HEADER, bind_request_id

log = structlog.get_logger(__name__)

Handler = Callable[[AsyncSession, CloudEvent, Any], Awaitable[None]]
GroupHandler = Callable[[AsyncSession, list[tuple[CloudEvent, Any]]], Awaitable[None]]

CONSUMED = Counter("consumer_events_total", "Events handled by consumers", ["consumer", "outcome"])
DEAD_LETTERED = Counter(
    "consumer_dead_lettered_total", "Events the consumer group published to its dead-letter topic", ["consumer"]
)
CONSUMER_LAG = Gauge(
    "consumer_lag",
    "Records of a partition past the consumer group's committed offset (the broker's high watermark minus it)",
    ["consumer", "topic", "partition"],
)


@dataclass
class Subscription:
    """What one consumer group reads and how it handles each event type (by payload model)."""

    name: str
    topics: list[str]
    handlers: dict[type[EventPayload], Handler]
    #: Called after an event's transaction committed and before its offset is committed (metrics, tests).
    on_committed: Callable[[CloudEvent], None] | None = None
    dead_letter_topic: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: Optional: applies several new events (inbox rows already claimed) at once, in order, where doing them
    #: together is cheaper than one by one (stats folds them per dossier). Must have the same effect as calling the
    #: events' handlers in turn; events applied singly (a group of one, retries) still go through `handlers`.
    group_handler: GroupHandler | None = None


class _Ready(NamedTuple):
    """A record this consumer handles, decoded."""

    record: ConsumerRecord[bytes, bytes]
    envelope: CloudEvent
    payload: EventPayload
    handler: Handler


class _HandlerFailed(Exception):
    """The handler of the group's `index`-th event raised `error`."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(index, error)
        self.index, self.error = index, error


class RetryLater(Exception):
    """Raised by a handler when the event is valid but a fact it needs has not arrived yet (say, the catalogue
    version a dossier refers to, still on its way through another topic). The event is retried, its partition
    waiting, for up to `retry_later_limit` seconds, then dead-lettered: delayed, never handled wrongly."""


class _Stopped(Exception):
    """Raised out of a retry loop when the consumer is asked to stop; the record's offset is not committed."""


def is_transient(exc: BaseException) -> bool:
    """Errors of the infrastructure rather than of the event: retry without limit."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, (ConnectionError, OSError, TimeoutError))


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: EventConsumer) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Wait until the batch being handled is done and committed before giving partitions away.
        async with self.runner.batch_lock:
            await self.runner.commit_pending()
        self.runner.forget_partitions(revoked)
        if revoked:
            log.info("partitions_revoked", consumer=self.runner.sub.name, count=len(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("partitions_assigned", consumer=self.runner.sub.name, count=len(assigned))


class EventConsumer:
    def __init__(
        self,
        db: Database,
        sub: Subscription,
        *,
        bootstrap_servers: str,
        security: KafkaSecurity = PLAINTEXT,
        max_attempts: int = 5,
        retry_backoff: float = 0.2,
        events: EventRegistry = registry,
        max_records: int = 500,
        retry_later_limit: float = 600.0,
        commit_interval: float = 1.0,
        group_size: int = 100,
        fetch_min_bytes: int = 1,
        fetch_max_wait_ms: int = 500,
        lag_interval: float = 5.0,
    ) -> None:
        self.db = db
        self.sub = sub
        self.bootstrap_servers = bootstrap_servers
        self.security = security
        self.max_attempts = max_attempts
        self.retry_backoff = retry_backoff
        self.events = events
        self.max_records = max_records
        self.retry_later_limit = retry_later_limit
        #: Offsets are committed at most this often (and when partitions are revoked or the consumer stops). The
        #: inbox makes a record read again after a crash a no-op; a commit per batch cost the consumers and the
        #: broker more than the records themselves under a steady trickle of events.
        self.commit_interval = commit_interval
        #: The records of one poll (all partitions) are applied together, up to this many per transaction (see
        #: `_apply_group`); 1 applies each record in a transaction of its own.
        self.group_size = max(1, group_size)
        self.fetch_min_bytes = fetch_min_bytes
        self.fetch_max_wait_ms = fetch_max_wait_ms
        #: How often `consumer_lag` is set, from the high watermarks the fetches brought (no request of its own).
        self.lag_interval = lag_interval
        self._pending: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}  # the offsets this member committed, or found committed
        self._committed_at = 0.0
        self.batch_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._dlq_producer: Any = None
        self._handlers = {model.event_type: handler for model, handler in sub.handlers.items()}
        insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
        # Built once: the inbox row of one event, and those of a group at once (answering which were new).
        self._claim_one = insert(inbox).on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        self._claim_group = self._claim_one.returning(inbox.c.event_id)
        self.running = False

    async def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap_servers,
                **self.security.client_options(),
                group_id=self.sub.name,
                client_id=self.sub.name,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                isolation_level="read_committed",
                max_poll_records=self.max_records,
                fetch_min_bytes=self.fetch_min_bytes,
                fetch_max_wait_ms=self.fetch_max_wait_ms,
            )
            try:
                await consumer.start()
            except KafkaError as exc:
                log.warning("consumer_start_failed", consumer=self.sub.name, error=repr(exc), retry_in=backoff)
                await close_quietly(consumer)
                await self._pause(backoff)
                backoff = min(backoff * 2, self.security.reconnect_backoff_max)
                continue
            backoff = 0.5
            consumer.subscribe(self.sub.topics, listener=_Listener(self))
            self._consumer = consumer
            self.running = True
            lag = asyncio.create_task(self._watch_lag(consumer), name=f"consumer-lag-{self.sub.name}")
            try:
                await self._poll_loop(consumer)
            except _Stopped:
                pass
            finally:
                self.running = False
                lag.cancel()
                await asyncio.gather(lag, return_exceptions=True)
                await self.commit_pending()
                self.forget_partitions(list(self._committed))
                self._consumer = None
                await close_quietly(consumer, timeout=10)
                if self._dlq_producer is not None:
                    await close_quietly(self._dlq_producer)
                    self._dlq_producer = None

    async def _poll_loop(self, consumer: AIOKafkaConsumer) -> None:
        while not self._stopping.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=self.max_records)
            if not batches:
                await self._commit_if_due()
                continue
            async with self.batch_lock:
                await self._handle_records(consumer, batches)
                await self._commit_if_due()

    async def _commit_if_due(self) -> None:
        if self._pending and asyncio.get_running_loop().time() - self._committed_at >= self.commit_interval:
            await self.commit_pending()

    async def commit_pending(self) -> None:
        """Commit the offsets handled since the last commit, in one request, for the partitions still ours."""
        consumer, pending = self._consumer, self._pending
        self._pending = {}
        self._committed_at = asyncio.get_running_loop().time()
        if consumer is None or not pending:
            return
        assigned = consumer.assignment()
        offsets = {tp: OffsetAndMetadata(offset, "") for tp, offset in pending.items() if tp in assigned}
        if not offsets:
            return
        try:
            # Bounded: with the broker down, aiokafka would wait for a coordinator for as long as it takes.
            await asyncio.wait_for(consumer.commit(offsets), timeout=10)
        except (KafkaError, TimeoutError) as exc:
            # The effects are in the database with their inbox rows; whoever reads these records again skips them.
            log.warning("offset_commit_failed", consumer=self.sub.name, partitions=len(offsets), error=repr(exc))
        else:
            self._committed.update((tp, meta.offset) for tp, meta in offsets.items())

    async def _watch_lag(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            await self._pause(self.lag_interval)
            if self._stopping.is_set():
                return
            try:
                await self.refresh_lag(consumer)
            except (KafkaError, TimeoutError) as exc:  # the broker is away: the gauges keep their last values
                log.warning("consumer_lag_unknown", consumer=self.sub.name, error=repr(exc))

    async def refresh_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Set `consumer_lag` of each assigned partition whose high watermark a fetch has brought. A partition this
        member has not committed yet asks the broker once for the group's committed offset (none: from offset 0)."""
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            if tp not in self._committed:
                committed = await asyncio.wait_for(consumer.committed(tp), timeout=10)
                self._committed.setdefault(tp, committed or 0)
            lag = max(0, highwater - self._committed[tp])
            CONSUMER_LAG.labels(self.sub.name, tp.topic, str(tp.partition)).set(lag)

    def forget_partitions(self, partitions: list[TopicPartition]) -> None:
        """No lag is reported for partitions given up (another member reports them)."""
        for tp in partitions:
            self._committed.pop(tp, None)
            try:
                CONSUMER_LAG.remove(self.sub.name, tp.topic, str(tp.partition))
            except KeyError:
                pass

    async def _handle_records(
        self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> None:
        """The records of one poll, each partition's in order; those of all partitions are grouped together (a
        topic's events are spread over its partitions by dossier). The offset to commit moves past a record only
        once it is dealt with: skipped, dead-lettered, or applied with the records grouped before it."""
        group: list[_Ready] = []
        dealt_with: dict[TopicPartition, int] = {}  # offsets past the records of `group` and those skipped since

        async def apply() -> None:
            nonlocal group
            if group:
                await self._apply_group(group)
                group = []
            self._pending.update(dealt_with)
            dealt_with.clear()

        for tp, records in batches.items():
            for record in records:
                if self._stopping.is_set():
                    await apply()
                    return
                if tp not in consumer.assignment():
                    break  # revoked while we worked; the new owner starts from the committed offset
                ready = await self._prepare(record)
                if ready is not None:
                    group.append(ready)
                dealt_with[tp] = record.offset + 1
                if len(group) >= self.group_size or not group:
                    await apply()
        await apply()

    async def _prepare(self, record: ConsumerRecord[bytes, bytes]) -> _Ready | None:
        """The decoded event and its handler; None when the record is skipped or dead-lettered as poison."""
        declared = header(record.headers, CE_TYPE_HEADER)
        if declared is not None and declared not in self._handlers:
            # Not ours (the relay names the type in a header): skipped without parsing the event. Records without
            # the header are parsed, so that a malformed one is still dead-lettered.
            CONSUMED.labels(self.sub.name, "skipped").inc()
            return None
        try:
            envelope, payload = self.events.decode(record.value or b"")
        except (InvalidEvent, UnknownEventType) as exc:
            bind_request_id(header(record.headers, REQUEST_ID_HEADER))
            CONSUMED.labels(self.sub.name, "dead_letter").inc()
            await self._dead_letter(record, exc, attempts=0)
            return None
        handler = self._handlers.get(envelope.type)
        if handler is None:
            CONSUMED.labels(self.sub.name, "skipped").inc()
            return None
        return _Ready(record, envelope, payload, handler)

    async def _apply_group(self, group: list[_Ready]) -> None:
        """Apply several events in one transaction, each with its inbox row, flushed in turn so that each handler
        sees what the previous ones did. Under a steady flow of events this spares a transaction (begin, commit,
        session, relay wake-up) per event. If anything fails, nothing of the group is kept: when a handler failed,
        the group is split around its event, which goes through `_handle_ready` (retries, dead letters) with that
        failure as its first attempt; when the transaction itself failed, every event goes through `_handle_ready`."""
        if len(group) == 1:
            await self._handle_ready(group[0])
            return
        try:
            outcomes = await self._apply_together(group)
        except asyncio.CancelledError:
            raise
        except _HandlerFailed as failed:
            # The events before the failing one are applied together again; the failure counts as the failing
            # event's first attempt; the events after it form a group of their own.
            k = failed.index
            log.info("consumer_group_split", consumer=self.sub.name, size=len(group), at=k, error=repr(failed.error))
            if k > 0:
                await self._apply_group(group[:k])
            await self._handle_ready(group[k], failure=failed.error)
            if k + 1 < len(group):
                await self._apply_group(group[k + 1 :])
            return
        except Exception as exc:  # the transaction itself (begin, inbox, commit): each event on its own
            log.info("consumer_group_retried_singly", consumer=self.sub.name, size=len(group), error=repr(exc))
            for ready in group:
                await self._handle_ready(ready)
            return
        for ready, applied in zip(group, outcomes, strict=True):
            CONSUMED.labels(self.sub.name, "applied" if applied else "duplicate").inc()
            if self.sub.on_committed is not None:
                self.sub.on_committed(ready.envelope)

    async def _apply_together(self, group: list[_Ready]) -> list[bool]:
        async with self.db.sessionmaker() as session, session.begin():
            outcomes = await self._claim_all(session, [ready.envelope for ready in group])
            if self.sub.group_handler is not None:
                claimed = [(r.envelope, r.payload) for r, applied in zip(group, outcomes, strict=True) if applied]
                if claimed:
                    await self.sub.group_handler(session, claimed)
                return outcomes
            for k, (ready, applied) in enumerate(zip(group, outcomes, strict=True)):
                if applied:
                    bind_request_id(header(ready.record.headers, REQUEST_ID_HEADER))
                    try:
                        await ready.handler(session, ready.envelope, ready.payload)
                        await session.flush()
                    except Exception as exc:
                        raise _HandlerFailed(k, exc) from exc
        return outcomes

    async def _handle_ready(self, ready: _Ready, *, failure: Exception | None = None) -> None:
        """One event in a transaction of its own, retried on failure, dead-lettered when it cannot be applied.
        `failure`: what its first attempt (in a group) raised."""
        record, envelope, payload, handler = ready
        bind_request_id(header(record.headers, REQUEST_ID_HEADER))
        attempts = 0
        delay = self.retry_backoff
        waiting_since: float | None = None
        while True:
            if failure is None:
                try:
                    applied = await self._apply(envelope, payload, handler)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    failure = exc
                else:
                    CONSUMED.labels(self.sub.name, "applied" if applied else "duplicate").inc()
                    if self.sub.on_committed is not None:
                        self.sub.on_committed(envelope)
                    return
            error, failure = failure, None
            if isinstance(error, RetryLater):
                now = asyncio.get_running_loop().time()
                waiting_since = now if waiting_since is None else waiting_since
                if now - waiting_since >= self.retry_later_limit:
                    attempts = self.max_attempts - 1  # waited long enough: dead-letter it with the reason
                else:
                    log.info("consumer_retry_later", consumer=self.sub.name, reason=str(error), retry_in=delay)
                    await self._pause(delay)
                    delay = min(delay * 2, 5.0)
                    if self._stopping.is_set():
                        raise _Stopped from error
                    continue
            if is_transient(error):
                log.warning("consumer_transient_error", consumer=self.sub.name, error=repr(error), retry_in=delay)
                await self._pause(delay)
                delay = min(delay * 2, 5.0)
                if self._stopping.is_set():
                    raise _Stopped from error
                continue
            attempts += 1
            if attempts >= self.max_attempts:
                CONSUMED.labels(self.sub.name, "dead_letter").inc()
                log.error(
                    "consumer_event_failed",
                    consumer=self.sub.name,
                    event_id=envelope.id,
                    type=envelope.type,
                    error=repr(error),
                )
                await self._dead_letter(record, error, attempts=attempts)
                return
            await self._pause(delay)
            delay = min(delay * 2, 5.0)

    async def _apply(self, envelope: CloudEvent, payload: EventPayload, handler: Handler) -> bool:
        async with self.db.sessionmaker() as session, session.begin():
            if not await self._claim(session, envelope):
                return False
            await handler(session, envelope, payload)
        return True

    async def _claim(self, session: AsyncSession, envelope: CloudEvent) -> bool:
        """Insert the event's inbox row; False when it is there already (the effect happened before)."""
        result = await session.execute(self._claim_one, {"consumer": self.sub.name, "event_id": envelope.id})
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _claim_all(self, session: AsyncSession, envelopes: list[CloudEvent]) -> list[bool]:
        """`_claim` for several events in one statement: which of them are new (an event twice: the first)."""
        rows = [{"consumer": self.sub.name, "event_id": e.id} for e in envelopes]
        new = {event_id for (event_id,) in await session.execute(self._claim_group, rows)}
        outcomes = []
        for e in envelopes:
            outcomes.append(e.id in new)
            new.discard(e.id)
        return outcomes

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], exc: BaseException, *, attempts: int) -> None:
        """Publish the original record with the error to the dead-letter topic; wait until Kafka has it."""
        topic = self.sub.dead_letter_topic
        if topic is None:
            raise RuntimeError(f"consumer {self.sub.name} has no dead-letter topic") from exc
        error_text = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:2000]
        headers = [
            *(record.headers or ()),
            ("dlq_error", error_text.encode()),
            ("dlq_attempts", str(attempts).encode()),
            ("dlq_source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
            ("dlq_consumer", self.sub.name.encode()),
        ]
        delay = 0.5
        while True:
            try:
                if self._dlq_producer is None:
                    producer = new_producer(
                        self.bootstrap_servers, client_id=f"{self.sub.name}-dlq", security=self.security
                    )
                    await producer.start()
                    self._dlq_producer = producer
                await self._dlq_producer.send_and_wait(topic, value=record.value, key=record.key, headers=headers)
                DEAD_LETTERED.labels(self.sub.name).inc()
                log.warning("event_dead_lettered", consumer=self.sub.name, topic=topic, error=error_text[:200])
                return
            except KafkaError as kafka_exc:
                log.warning("dead_letter_publish_failed", error=repr(kafka_exc), retry_in=delay)
                if self._dlq_producer is not None:
                    await close_quietly(self._dlq_producer)
                    self._dlq_producer = None
                if self._stopping.is_set():
                    raise _Stopped from kafka_exc
                await self._pause(delay)
                delay = min(delay * 2, 5.0)

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass
