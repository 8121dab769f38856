"""A broker outage shows in the metrics and leaves a few log lines: the repeated-lines filter, the outbox backlog
gauges and publish failures, the consumer lag and dead-letter metrics, and a service through 60 s without Kafka."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI, Request
from prometheus_client import REGISTRY
from sqlalchemy import func, insert, select

from services.app import create_app
from services.bus.outbox import OutboxRelay, outbox_row
from services.bus.tables import outbox
from services.db import Database
from services.events import new_event
from services.observability import RepeatedLinesFilter, configure_logging
from services.settings import ServiceSettings
from tests.conftest import Broker, DatabaseFactory
from tests.harness import serve
from tests.kernel import support
from tests.kernel.support import CounterIncremented

pytestmark = pytest.mark.kafka


def _json_lines(text: str) -> list[dict[str, object]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def _repeat_filter() -> RepeatedLinesFilter:
    (handler,) = logging.getLogger().handlers
    return next(f for f in handler.filters if isinstance(f, RepeatedLinesFilter))


def test_a_repeated_warning_is_written_once_an_interval_with_the_count_left_out(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("repeats", "INFO", json=True, repeat_interval=60)
    now = [1000.0]
    _repeat_filter().clock = lambda: now[0]
    capsys.readouterr()
    aiokafka_log = logging.getLogger("aiokafka")
    ours = structlog.get_logger("services.bus.outbox")
    for attempt in range(50):  # a broker that is down, retried by aiokafka and by the relay
        aiokafka_log.error("Unable connect to node with id %s: %s", 1, f"refused (attempt {attempt})")
        ours.warning("outbox_relay_error", error=f"attempt {attempt}")
        ours.info("outbox_relay_lease", leader=True)  # not a warning: every one is written
    logging.getLogger("aiokafka.consumer.fetcher").error("Failed fetch messages from %s: %s", 1, "refused")
    lines = _json_lines(capsys.readouterr().err)
    assert [(line["logger"], line["event"]) for line in lines if line["level"] != "info"] == [
        ("aiokafka", "Unable connect to node with id 1: refused (attempt 0)"),
        ("services.bus.outbox", "outbox_relay_error"),
        ("aiokafka.consumer.fetcher", "Failed fetch messages from 1: refused"),
    ]
    assert sum(line["event"] == "outbox_relay_lease" for line in lines) == 50
    assert not any("suppressed" in line for line in lines)

    now[0] += 61  # the interval has gone by: the next repeat is written, with the number left out meanwhile
    aiokafka_log.error("Unable connect to node with id %s: %s", 1, "refused (attempt 50)")
    ours.warning("outbox_relay_error", error="attempt 50")
    aiokafka_log.error("Unable connect to node with id %s: %s", 1, "refused (attempt 51)")
    lines = _json_lines(capsys.readouterr().err)
    assert [(line["event"], line["suppressed"]) for line in lines] == [
        ("Unable connect to node with id 1: refused (attempt 50)", 49),
        ("outbox_relay_error", 49),
    ]

    configure_logging("repeats", "INFO", json=True, repeat_interval=0)  # 0: every line is written
    capsys.readouterr()
    for _ in range(3):
        aiokafka_log.error("Unable connect to node with id %s: %s", 1, "refused")
    assert len(_json_lines(capsys.readouterr().err)) == 3


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_backlog_gauges_count_the_unpublished_rows_and_the_oldest_ones_age(
    databases: DatabaseFactory,
) -> None:
    db = Database(await databases.new("backlog"), service=f"kerneltest-backlog-{databases.backend}")
    await db.create_all(support.Base.metadata)
    relay = OutboxRelay(
        db, service=db.service, bootstrap_servers=f"127.0.0.1:{_closed_port()}", poll_interval=0.1,
        metrics_interval=0.1,
    )
    failures_before = _sample("outbox_publish_failures_total", service=db.service)
    old = new_event(CounterIncremented(key="old", seq=0), source="/kerneltest", subject="old")
    async with db.sessionmaker() as session, session.begin():
        # Written ten minutes ago (the server's clock fills created_at on the other rows).
        created = datetime.now(UTC) - timedelta(minutes=10)
        await session.execute(insert(outbox).values(**outbox_row(old, topic="t.counters"), created_at=created))
    for seq in (1, 2):
        await support.write_event(db, "t", "new", seq)
    task = asyncio.create_task(relay.run())
    try:
        async def measured() -> bool:
            return _sample("outbox_unpublished_rows", service=db.service) == 3

        await support.wait_for(measured, timeout=30)
        assert 600 <= _sample("outbox_oldest_unpublished_age_seconds", service=db.service) < 900
        # Kafka cannot be reached: every attempt is counted, and the rows stay.
        async def counted() -> bool:
            return _sample("outbox_publish_failures_total", service=db.service) >= failures_before + 2

        await support.wait_for(counted, timeout=30)
        async with db.sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(outbox)) == 3
    finally:
        await relay.stop()
        await asyncio.wait_for(task, 20)
        await db.dispose()


@pytest.fixture
async def consumer_db(databases: DatabaseFactory) -> AsyncIterator[Database]:
    db = Database(await databases.new("lag"), service="kerneltest-lag")
    await db.create_all(support.Base.metadata)
    yield db
    await db.dispose()


async def test_consumer_lag_and_dead_letters_are_in_the_metrics(
    consumer_db: Database, broker: Broker, topic_prefix: str
) -> None:
    await support.create_topics(broker.bootstrap, topic_prefix)
    topic = support.topic_name(topic_prefix)
    released = asyncio.Event()

    async def held(session, event, payload):  # type: ignore[no-untyped-def]
        await released.wait()
        await support.record_effect(session, event, payload)

    consumer = support.make_consumer(consumer_db, broker.bootstrap, topic_prefix, handler=held)
    consumer.lag_interval = 0.1
    group = consumer.sub.name
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    try:
        # One key: the five events and the malformed record are in one partition, in this order.
        for seq in range(5):
            event = new_event(CounterIncremented(key="one", seq=seq), source="/kerneltest", subject="one")
            await producer.send_and_wait(topic, value=event.to_json(), key=b"one")
        await producer.send_and_wait(topic, value=b"{not json", key=b"one")
    finally:
        await producer.stop()

    def lag() -> list[float]:
        return [_sample("consumer_lag", consumer=group, topic=topic, partition=str(p)) for p in range(3)]

    def lag_reported() -> bool:
        return all(
            REGISTRY.get_sample_value("consumer_lag", {"consumer": group, "topic": topic, "partition": str(p)})
            is not None
            for p in range(3)
        )

    assert _sample("consumer_dead_lettered_total", consumer=group) == 0
    task = asyncio.create_task(consumer.run())
    try:
        async def behind() -> bool:  # the first event is in hand, none committed
            return lag_reported() and sorted(lag()) == [0, 0, 6]

        await support.wait_for(behind, timeout=60)
        released.set()

        async def caught_up() -> bool:
            return lag() == [0, 0, 0]

        await support.wait_for(caught_up, timeout=60)
        assert await support.count_effects(consumer_db) == 5
        assert _sample("consumer_dead_lettered_total", consumer=group) == 1
    finally:
        await consumer.stop()
        await asyncio.wait_for(task, 30)
    assert not lag_reported()  # a consumer that stopped reports no partition


class OutageSettings(ServiceSettings):
    service_name = "kerneltest-outage"


def _outage_service(settings: OutageSettings) -> FastAPI:
    router = APIRouter()

    @router.post("/counters/{key}/{seq}", status_code=201)
    async def increment(key: str, seq: int, request: Request) -> dict[str, str]:
        event = await support.write_event(request.app.state.db, settings.topic_prefix, key, seq)
        return {"event_id": event.id}

    return create_app(
        settings,
        title="kernel test service",
        routers=[router],
        subscriptions=lambda s: [support.subscription(s.topic_prefix)],
    )


def _metric(text: str, name: str, service: str, *, missing: float | None = None) -> float:
    """`missing`: the value of a counter not yet incremented (it has no sample yet)."""
    for line in text.splitlines():
        if line.startswith(f'{name}{{service="{service}"}} '):
            return float(line.split()[-1])
    if missing is not None:
        return missing
    raise AssertionError(f"{name} of {service} is not in /metrics")


async def test_a_minute_without_kafka_is_in_the_metrics_and_leaves_few_log_lines(
    broker: Broker, topic_prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The service keeps committing commands while the broker is down for 60 s (SQLite: the outbox and the relay
    behave the same on PostgreSQL, which the tests above cover)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'outage.db'}"
    db = Database(url)
    await db.create_all(support.Base.metadata)
    await db.dispose()
    await support.create_topics(broker.bootstrap, topic_prefix)
    settings = OutageSettings(
        database_url=url, kafka_bootstrap_servers=broker.bootstrap, topic_prefix=topic_prefix, log_json=True
    )
    service = settings.service_name
    app = _outage_service(settings)
    written: list[str] = []
    async with serve(app) as client:
        db = app.state.db
        written.append((await client.post("/counters/before/0")).json()["event_id"])
        await support.wait_for(lambda: _effects_are(db, 1), timeout=60)
        metrics = (await client.get("/metrics")).text
        failures_before = _metric(metrics, "outbox_publish_failures_total", service, missing=0)
        capsys.readouterr()

        broker.stop()
        try:
            backlog_seen = 0.0
            loop = asyncio.get_running_loop()
            until = loop.time() + 60
            seq = 1
            while loop.time() < until:
                response = await client.post(f"/counters/key-{seq % 5}/{seq}")
                assert response.status_code == 201, response.text
                written.append(response.json()["event_id"])
                seq += 1
                metrics = (await client.get("/metrics")).text
                backlog_seen = max(backlog_seen, _metric(metrics, "outbox_unpublished_rows", service))
                await asyncio.sleep(0.5)
            # The access log's line per request aside (the commands and the scrapes above).
            outage_lines = [line for line in _json_lines(capsys.readouterr().err) if line["logger"] != "access"]
            failures = _metric((await client.get("/metrics")).text, "outbox_publish_failures_total", service)
        finally:
            broker.start()

        async def drained() -> bool:
            metrics = (await client.get("/metrics")).text
            return _metric(metrics, "outbox_unpublished_rows", service) == 0 and await _effects_are(db, len(written))

        await support.wait_for(drained, timeout=120)
        await asyncio.sleep(2)  # let any repeated delivery arrive before counting
        seen = await support.effects(db)
        metrics = (await client.get("/metrics")).text

    assert len(outage_lines) < 100, [line["event"] for line in outage_lines]
    assert backlog_seen >= 30  # the commands of most of the minute waited in the outbox
    assert failures > failures_before
    assert _metric(metrics, "outbox_oldest_unpublished_age_seconds", service) == 0
    # Nothing lost, nothing applied twice.
    assert sorted(e[0] for e in seen) == sorted(written)


async def _effects_are(db: Database, n: int) -> bool:
    return await support.count_effects(db) >= n
