"""The outbox, relay and consumer runner against the real broker, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import murmur2
from sqlalchemy import func, select

from services.bus.consumer import RetryLater
from services.bus.outbox import OutboxRelay, enqueue
from services.bus.tables import outbox
from services.db import Database
from services.events import CloudEvent, new_event
from services.observability import bind_request_id, current_request_id
from tests.conftest import Broker, DatabaseFactory
from tests.kernel import support
from tests.kernel.support import CounterIncremented

pytestmark = pytest.mark.kafka

CONSUMER_PROC = Path(__file__).with_name("consumer_proc.py")


async def _database(databases: DatabaseFactory, label: str) -> Database:
    db = Database(await databases.new(label), service=f"kerneltest-{label}")
    await db.create_all(support.Base.metadata)
    return db


@pytest.fixture
async def producer_db(databases: DatabaseFactory) -> AsyncIterator[Database]:
    db = await _database(databases, "producer")
    yield db
    await db.dispose()


@pytest.fixture
async def consumer_db(databases: DatabaseFactory) -> AsyncIterator[Database]:
    db = await _database(databases, "consumer")
    yield db
    await db.dispose()


@pytest.fixture
async def topics(broker: Broker, topic_prefix: str) -> str:
    await support.create_topics(broker.bootstrap, topic_prefix)
    return topic_prefix


@pytest.fixture
async def relay(producer_db: Database, broker: Broker) -> AsyncIterator[OutboxRelay]:
    r = OutboxRelay(producer_db, service=producer_db.service, bootstrap_servers=broker.bootstrap, poll_interval=0.2)
    task = asyncio.create_task(r.run())
    yield r
    await r.stop()
    await asyncio.wait_for(task, 20)


class ConsumerProcess:
    def __init__(self, db_url: str, bootstrap: str, prefix: str, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(CONSUMER_PROC), db_url, bootstrap, prefix, *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


async def _outbox_rows(db: Database) -> int:
    async with db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(outbox)) or 0)


async def test_outbox_event_reaches_consumer_in_another_process_and_rollback_publishes_nothing(
    producer_db: Database, consumer_db: Database, broker: Broker, topics: str, relay: OutboxRelay
) -> None:
    proc = ConsumerProcess(consumer_db.url, broker.bootstrap, topics)
    try:
        # A command that fails after writing its event: the transaction rolls back and takes the event with it.
        rolled_back = new_event(CounterIncremented(key="k", seq=0), source="/kerneltest", subject="k")
        with pytest.raises(RuntimeError):
            async with producer_db.sessionmaker() as session, session.begin():
                await enqueue(session, rolled_back, topic=support.topic_name(topics))
                raise RuntimeError("the command fails")
        assert await _outbox_rows(producer_db) == 0

        committed = [await support.write_event(producer_db, topics, "k", seq) for seq in (1, 2, 3)]

        async def all_arrived() -> bool:
            return await support.count_effects(consumer_db) >= 3

        await support.wait_for(all_arrived, timeout=60)
        seen = await support.effects(consumer_db)
        assert [e[0] for e in seen] == [e.id for e in committed]
        assert rolled_back.id not in {e[0] for e in seen}
        assert [e[2] for e in seen] == [1, 2, 3]
        await support.wait_for(lambda: _empty(producer_db), timeout=10)
    finally:
        assert proc.stop() in (0, -15), proc.proc.stdout.read().decode() if proc.proc.stdout else ""


async def _empty(db: Database) -> bool:
    return await _outbox_rows(db) == 0


async def test_commands_commit_while_broker_is_down_and_every_event_is_delivered_once(
    producer_db: Database, consumer_db: Database, broker: Broker, topics: str, relay: OutboxRelay
) -> None:
    consumer = support.make_consumer(consumer_db, broker.bootstrap, topics)
    consumer_task = asyncio.create_task(consumer.run())
    try:
        await support.write_event(producer_db, topics, "before", 0)
        await support.wait_for(lambda: _count_is(consumer_db, 1), timeout=60)

        broker.stop()
        written = [await support.write_event(producer_db, topics, f"key-{i % 7}", i) for i in range(200)]
        # Every command committed although Kafka is unreachable: its events wait in the outbox.
        assert await _outbox_rows(producer_db) == 200
        broker.start()

        await support.wait_for(lambda: _count_is(consumer_db, 201), timeout=120)
        await asyncio.sleep(2)  # let any duplicate deliveries arrive before counting again
        seen = await support.effects(consumer_db)
        assert len(seen) == 201
        assert {e[0] for e in seen} == {e.id for e in written} | {seen[0][0]}
        assert await _outbox_rows(producer_db) == 0
    finally:
        await consumer.stop()
        await asyncio.wait_for(consumer_task, 30)


async def _count_is(db: Database, n: int) -> bool:
    return await support.count_effects(db) >= n


async def test_consumer_killed_between_db_commit_and_offset_commit_has_no_second_effect(
    producer_db: Database, consumer_db: Database, broker: Broker, topics: str, relay: OutboxRelay
) -> None:
    events = [await support.write_event(producer_db, topics, "same-key", seq) for seq in range(5)]
    crashing = ConsumerProcess(consumer_db.url, broker.bootstrap, topics, "--crash-after-commit")
    assert await asyncio.to_thread(crashing.proc.wait, 60) == 3  # died right after the first event's database commit
    assert await support.count_effects(consumer_db) == 1

    # Its offset was never committed: Kafka will deliver that event again to the next member of the group.
    group = support.subscription(topics).name
    probe = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False)
    await probe.start()
    try:
        partitions = probe.partitions_for_topic(support.topic_name(topics)) or set()
        committed = [await probe.committed(TopicPartition(support.topic_name(topics), p)) for p in partitions]
        assert all(offset in (None, 0) for offset in committed)
    finally:
        await probe.stop()

    again = ConsumerProcess(consumer_db.url, broker.bootstrap, topics)
    try:
        await support.wait_for(lambda: _count_is(consumer_db, 5), timeout=60)
        await asyncio.sleep(1.5)
        seen = await support.effects(consumer_db)
        assert [e[0] for e in seen] == [e.id for e in events]
    finally:
        again.stop()


async def test_consumer_killed_after_a_grouped_commit_applies_every_event_once(
    producer_db: Database, consumer_db: Database, broker: Broker, topics: str, relay: OutboxRelay
) -> None:
    """Services apply the events of a poll in one transaction: a crash between that commit and the offset commit
    leaves the whole group applied, and the next member re-reads it without a second effect of any of them."""
    events = [await support.write_event(producer_db, topics, "same-key", seq) for seq in range(8)]
    await support.wait_for(lambda: _outbox_rows_are(producer_db, 0), timeout=30)  # all 8 in Kafka before it polls
    crashing = ConsumerProcess(consumer_db.url, broker.bootstrap, topics, "--crash-after-group-commit")
    assert await asyncio.to_thread(crashing.proc.wait, 60) == 3
    applied_before_crash = await support.count_effects(consumer_db)
    assert applied_before_crash > 1  # one transaction held several events

    again = ConsumerProcess(consumer_db.url, broker.bootstrap, topics)
    try:
        await support.wait_for(lambda: _count_is(consumer_db, 8), timeout=60)
        await asyncio.sleep(1.5)
        seen = await support.effects(consumer_db)
        assert [e[0] for e in seen] == [e.id for e in events]
        assert [e[2] for e in seen] == list(range(8))
    finally:
        again.stop()


async def test_group_handler_applies_the_new_events_of_a_poll_together_once_each(
    producer_db: Database, consumer_db: Database, broker: Broker, topics: str, relay: OutboxRelay
) -> None:
    events = [await support.write_event(producer_db, topics, "grouped", seq) for seq in range(6)]
    groups = [[p.seq for p in g] for g in await _consume_in_groups(producer_db, consumer_db, broker, topics, 6)]
    assert any(len(g) > 1 for g in groups)  # several events in one call
    assert sorted(seq for g in groups for seq in g) == list(range(6))  # each event once
    assert [e[0] for e in await support.effects(consumer_db)] == [e.id for e in events]


async def test_events_of_several_partitions_in_one_poll_share_one_transaction(
    producer_db: Database, consumer_db: Database, broker: Broker, topics: str, relay: OutboxRelay
) -> None:
    keys = [f"spread-{k}" for k in range(8)]
    partition_of = {key: (murmur2(key.encode()) & 0x7FFFFFFF) % support.TOPIC.partitions for key in keys}
    assert len(set(partition_of.values())) > 1  # the keys are spread over the topic's partitions
    events = [await support.write_event(producer_db, topics, key, 1) for key in keys]
    groups = [[p.key for p in g] for g in await _consume_in_groups(producer_db, consumer_db, broker, topics, len(keys))]
    assert any(len({partition_of[key] for key in g}) > 1 for g in groups)  # one call across partitions
    assert sorted(key for g in groups for key in g) == sorted(keys)  # each event once
    assert sorted(e[0] for e in await support.effects(consumer_db)) == sorted(e.id for e in events)


async def _consume_in_groups(
    producer_db: Database, consumer_db: Database, broker: Broker, topics: str, n: int
) -> list[list[CounterIncremented]]:
    """Once the relay has put everything in Kafka, consume through a group handler until `n` effects are there;
    the payloads of each call of the handler."""
    await support.wait_for(lambda: _outbox_rows_are(producer_db, 0), timeout=30)  # all in Kafka before the poll
    groups: list[list[CounterIncremented]] = []

    async def group_handler(session, items):  # type: ignore[no-untyped-def]
        groups.append([payload for _, payload in items])
        for envelope, payload in items:
            await support.record_effect(session, envelope, payload)

    consumer = support.make_consumer(consumer_db, broker.bootstrap, topics, group_handler=group_handler)
    task = asyncio.create_task(consumer.run())
    try:
        await support.wait_for(lambda: _count_is(consumer_db, n), timeout=60)
        await asyncio.sleep(1.0)  # an event applied twice would show by now
    finally:
        await consumer.stop()
        await asyncio.wait_for(task, 30)
    return groups


async def _outbox_rows_are(db: Database, n: int) -> bool:
    return await _outbox_rows(db) == n


async def test_malformed_and_unknown_events_go_to_dead_letter_and_partition_keeps_flowing(
    consumer_db: Database, broker: Broker, topics: str
) -> None:
    topic = support.topic_name(topics)
    good = new_event(CounterIncremented(key="p", seq=1), source="/kerneltest", subject="p")
    unknown = CloudEvent(source="/kerneltest", type="vn.motcua.kerneltest.never.registered.v9", subject="p", data={})
    invalid_payload = CloudEvent(source="/kerneltest", type=CounterIncremented.event_type, subject="p", data={"x": 1})
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    try:
        # Same key, so all four land in one partition, in this order.
        for value in (b"{not json", unknown.to_json(), invalid_payload.to_json(), good.to_json()):
            await producer.send_and_wait(topic, value=value, key=b"p")
    finally:
        await producer.stop()

    consumer = support.make_consumer(consumer_db, broker.bootstrap, topics)
    task = asyncio.create_task(consumer.run())
    try:
        await support.wait_for(lambda: _count_is(consumer_db, 1), timeout=60)
        assert [e[0] for e in await support.effects(consumer_db)] == [good.id]
    finally:
        await consumer.stop()
        await asyncio.wait_for(task, 30)

    dead = await _read_all(broker, support.dlq_name(topics), expected=3)
    assert [m.value for m in dead] == [b"{not json", unknown.to_json(), invalid_payload.to_json()]
    errors = [dict(m.headers)["dlq_error"].decode() for m in dead]
    assert "not a CloudEvents" in errors[0]
    assert "unknown event type" in errors[1]
    assert "payload is invalid" in errors[2]


async def test_failing_handler_is_retried_then_dead_lettered(
    consumer_db: Database, producer_db: Database, broker: Broker, topics: str, relay: OutboxRelay
) -> None:
    calls: list[int] = []

    async def handler(session, event, payload):  # type: ignore[no-untyped-def]
        calls.append(payload.seq)
        if payload.seq == 1:
            raise ValueError("business rule broken by this event")
        await support.record_effect(session, event, payload)

    for seq in (1, 2):
        await support.write_event(producer_db, topics, "h", seq)
    consumer = support.make_consumer(consumer_db, broker.bootstrap, topics, handler=handler, max_attempts=3)
    task = asyncio.create_task(consumer.run())
    try:
        await support.wait_for(lambda: _count_is(consumer_db, 1), timeout=60)
    finally:
        await consumer.stop()
        await asyncio.wait_for(task, 30)
    assert calls == [1, 1, 1, 2]
    assert [e[2] for e in await support.effects(consumer_db)] == [2]
    dead = await _read_all(broker, support.dlq_name(topics), expected=1)
    headers = dict(dead[0].headers)
    assert headers["dlq_attempts"] == b"3"
    assert "business rule broken" in headers["dlq_error"].decode()
    assert json.loads(dead[0].value)["data"]["seq"] == 1


async def test_per_key_order_holds_with_many_concurrent_writers(
    producer_db: Database, consumer_db: Database, broker: Broker, topics: str, relay: OutboxRelay
) -> None:
    writers, per_writer = 16, 25

    async def writer(key: str) -> None:
        for seq in range(per_writer):
            await support.write_event(producer_db, topics, key, seq)

    keys = [f"writer-{i}-{uuid.uuid4().hex[:4]}" for i in range(writers)]
    consumer = support.make_consumer(consumer_db, broker.bootstrap, topics)
    task = asyncio.create_task(consumer.run())
    try:
        await asyncio.gather(*(writer(k) for k in keys))
        await support.wait_for(lambda: _count_is(consumer_db, writers * per_writer), timeout=90)
    finally:
        await consumer.stop()
        await asyncio.wait_for(task, 30)
    seen = await support.effects(consumer_db)
    assert len(seen) == writers * per_writer
    for key in keys:
        assert [seq for _, k, seq in seen if k == key] == list(range(per_writer)), key


async def test_only_one_relay_per_service_publishes(producer_db: Database, broker: Broker) -> None:
    first = OutboxRelay(producer_db, service="one-service", bootstrap_servers=broker.bootstrap, lease_seconds=2)
    second = OutboxRelay(producer_db, service="one-service", bootstrap_servers=broker.bootstrap, lease_seconds=2)
    assert await first._hold_lease() is True
    assert await second._hold_lease() is False
    assert await first._hold_lease() is True  # renewal by the holder
    await asyncio.sleep(2.2)  # the holder stopped renewing: the lease expires and the other relay takes over
    assert await second._hold_lease() is True
    assert await first._hold_lease() is False
    await first._release()
    await second._release()


async def _read_all(broker: Broker, topic: str, *, expected: int, timeout: float = 30) -> list:  # type: ignore[type-arg]
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    out = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(out) < expected and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                out.extend(records)
    finally:
        await consumer.stop()
    out.sort(key=lambda m: m.offset)
    return out


async def test_a_member_joining_mid_stream_rebalances_without_losing_or_repeating_effects(
    producer_db: Database, consumer_db: Database, broker: Broker, topics: str, relay: OutboxRelay
) -> None:
    first = support.make_consumer(consumer_db, broker.bootstrap, topics)
    second = support.make_consumer(consumer_db, broker.bootstrap, topics)
    tasks = [asyncio.create_task(first.run())]
    try:
        written = [await support.write_event(producer_db, topics, f"r{i % 9}", i) for i in range(150)]
        await support.wait_for(lambda: _count_is(consumer_db, 20), timeout=60)
        tasks.append(asyncio.create_task(second.run()))  # the group rebalances while events are being handled
        written += [await support.write_event(producer_db, topics, f"r{i % 9}", i) for i in range(150, 300)]
        await support.wait_for(lambda: _count_is(consumer_db, 300), timeout=90)
        await first.stop()  # and once more when a member leaves
        written += [await support.write_event(producer_db, topics, f"r{i % 9}", i) for i in range(300, 360)]
        await support.wait_for(lambda: _count_is(consumer_db, 360), timeout=90)
        await asyncio.sleep(1.5)
    finally:
        await first.stop()
        await second.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
    seen = await support.effects(consumer_db)
    assert sorted(e[0] for e in seen) == sorted(e.id for e in written)
    for key in {f"r{i}" for i in range(9)}:
        seqs = [seq for _, k, seq in seen if k == key]
        assert seqs == sorted(seqs), key


async def test_request_id_travels_from_the_command_to_the_consumer(
    producer_db: Database, consumer_db: Database, broker: Broker, topics: str, relay: OutboxRelay
) -> None:
    seen_ids: list[str | None] = []

    async def handler(session, event, payload):  # type: ignore[no-untyped-def]
        seen_ids.append(current_request_id())
        await support.record_effect(session, event, payload)

    bind_request_id("req-from-the-portal-42")
    try:
        event = await support.write_event(producer_db, topics, "rid", 1)
    finally:
        bind_request_id(None)
    assert event.requestid == "req-from-the-portal-42"
    consumer = support.make_consumer(consumer_db, broker.bootstrap, topics, handler=handler)
    task = asyncio.create_task(consumer.run())
    try:
        await support.wait_for(lambda: _count_is(consumer_db, 1), timeout=60)
    finally:
        await consumer.stop()
        await asyncio.wait_for(task, 30)
    assert seen_ids == ["req-from-the-portal-42"]


async def test_an_event_waiting_for_a_fact_is_retried_then_applied_or_dead_lettered(
    consumer_db: Database, producer_db: Database, broker: Broker, topics: str, relay: OutboxRelay
) -> None:
    known: set[str] = set()
    calls: list[int] = []

    async def handler(session, event, payload):  # type: ignore[no-untyped-def]
        calls.append(payload.seq)
        if payload.key not in known:
            raise RetryLater(f"{payload.key} has not arrived yet")
        await support.record_effect(session, event, payload)

    await support.write_event(producer_db, topics, "late-fact", 1)
    consumer = support.make_consumer(consumer_db, broker.bootstrap, topics, handler=handler, max_attempts=2)
    task = asyncio.create_task(consumer.run())
    try:
        await support.wait_for(lambda: _calls_at_least(calls, 4), timeout=60)  # more than max_attempts: no DLQ
        assert await support.count_effects(consumer_db) == 0
        known.add("late-fact")  # the fact arrives
        await support.wait_for(lambda: _count_is(consumer_db, 1), timeout=60)
    finally:
        await consumer.stop()
        await asyncio.wait_for(task, 30)

    never = support.make_consumer(
        consumer_db, broker.bootstrap, topics, handler=handler, retry_later_limit=0.5
    )
    await support.write_event(producer_db, topics, "never-arrives", 2)
    task = asyncio.create_task(never.run())
    try:
        dead = await _read_all(broker, support.dlq_name(topics), expected=1)
    finally:
        await never.stop()
        await asyncio.wait_for(task, 30)
    assert "never-arrives has not arrived yet" in dict(dead[0].headers)["dlq_error"].decode()


async def _calls_at_least(calls: list[int], n: int) -> bool:
    return len(calls) >= n
