"""Outbox relay throughput and commit-to-consumer latency, on PostgreSQL and SQLite.

    make bench            (or: python -m bench.relay [--events 50000] [--rate 500] [--seconds 20])

Throughput: N events already committed in the outbox; time from starting the relay until every row has been
acknowledged by Kafka and deleted. Latency: writers commit one event per transaction at a fixed total rate (open
loop); a consumer in another process notes when each arrives; latency = arrival - the moment COMMIT was sent. On
PostgreSQL two writer processes (API replicas) wake the relay's process by NOTIFY; on SQLite the writer shares the
relay's process, as in the embedded deployment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import time
from typing import Any

from aiokafka import AIOKafkaConsumer
from sqlalchemy import func, insert, select

from bench.common import BOOTSTRAP, backends, fresh_database, machine, percentile, start_broker, stop_broker
from services.bus.kafka import event_headers
from services.bus.outbox import OutboxRelay, enqueue
from services.bus.tables import outbox
from services.db import Database, create_base
from services.events import EventPayload, event_type, new_event
from services.topics import TopicSpec, ensure_topics


@event_type("bench.ping", version=1)
class Ping(EventPayload):
    n: int
    note: str


Base = create_base()
DEBUG = bool(os.environ.get("BENCH_DEBUG"))
WRITERS = 2


async def throughput(backend: str, events: int) -> float:
    db = Database(await fresh_database(backend), service=f"bench-{backend}")
    await db.create_all(Base.metadata)
    prefix = f"bench{int(time.time())}"
    topic = TopicSpec("relay", 12).full_name(prefix)
    await ensure_topics(BOOTSTRAP, prefix, [TopicSpec("relay", 12)])
    batch = 1000
    for start in range(0, events, batch):
        rows = []
        for n in range(start, min(start + batch, events)):
            ev = new_event(Ping(n=n, note="hồ sơ " * 8), source="/bench", subject=f"dossier-{n % 5000}")
            rows.append(
                {
                    "event_id": ev.id,
                    "topic": topic,
                    "key": ev.subject,
                    "value": ev.to_json(),
                    "headers": [[k, v.decode()] for k, v in event_headers(ev.type, None)],
                }
            )
        async with db.sessionmaker() as session, session.begin():
            await session.execute(insert(outbox), rows)
    relay = OutboxRelay(db, service=db.service, bootstrap_servers=BOOTSTRAP, batch_size=2000)
    started = time.perf_counter()
    task = asyncio.create_task(relay.run())
    while True:
        async with db.sessionmaker() as session:
            left = await session.scalar(select(func.count()).select_from(outbox))
        if not left:
            break
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - started
    await relay.stop()
    await task
    await db.dispose()
    return events / elapsed


def _consume(topic: str, total: int, out: Any) -> None:
    """In its own process, as a real consumer would be: note the wall-clock arrival time of every event."""

    async def run() -> dict[str, float]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=BOOTSTRAP, auto_offset_reset="earliest", fetch_max_wait_ms=5
        )
        await consumer.start()
        arrived: dict[str, float] = {}
        out.send("ready")
        try:
            while len(arrived) < total:
                batches = await consumer.getmany(timeout_ms=100)
                now = time.time()
                for records in batches.values():
                    for record in records:
                        event_id = json.loads(record.value)["id"]
                        arrived.setdefault(event_id, now)
        finally:
            await consumer.stop()
        return arrived

    out.send(asyncio.run(run()))


def _write(db_url: str, service: str, topic: str, rate: float, total: int, out: Any) -> None:
    """In its own process, as a service's API would be."""
    out.send(asyncio.run(_write_load(db_url, service, topic, rate, total)))


async def _write_load(db_url: str, service: str, topic: str, rate: float, total: int) -> tuple[dict[str, float], float]:
    """Commit one event per transaction at a fixed rate; return each event's commit time."""
    db = Database(db_url, service=service)
    committed_at: dict[str, float] = {}

    async def write(n: int) -> None:
        ev = new_event(Ping(n=n, note="hồ sơ"), source="/bench", subject=f"dossier-{n}")
        async with db.sessionmaker() as session, session.begin():
            await enqueue(session, ev, topic=topic)
            # Taken as COMMIT is sent (conservative: includes the commit itself); after it returns, an event loop
            # busy with other writers can note the time later than the consumer sees the event.
            committed_at[ev.id] = time.time()

    # Open-loop load: each command starts at its scheduled time, whether or not earlier ones have finished.
    writers: set[asyncio.Task[None]] = set()
    started = time.perf_counter()
    for n in range(total):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(write(n))
        writers.add(task)
        task.add_done_callback(writers.discard)
    while writers:
        await asyncio.gather(*list(writers))
    achieved = total / (time.perf_counter() - started)
    await db.dispose()
    return committed_at, achieved


async def latency(backend: str, rate: int, seconds: int) -> tuple[float, float, float]:
    """Relay and consumer in processes of their own. On PostgreSQL the writer is a third process (API replicas);
    on SQLite it shares the relay's process, as in the embedded deployment where one process owns the file.
    The first second of events is warm-up (producer and consumer metadata for a new topic) and not counted."""
    db = Database(await fresh_database(backend), service=f"bench-lat-{backend}")
    await db.create_all(Base.metadata)
    prefix = f"benchlat{int(time.time())}"
    spec = TopicSpec("latency", 12)
    topic = spec.full_name(prefix)
    await ensure_topics(BOOTSTRAP, prefix, [spec])
    total = rate * (seconds + 1)
    spawn = multiprocessing.get_context("spawn")
    consumer_end, consumer_child = spawn.Pipe()
    consumer = spawn.Process(target=_consume, args=(topic, total, consumer_child))
    consumer.start()
    await asyncio.to_thread(consumer_end.recv)  # the consumer has joined
    relay = OutboxRelay(db, service=db.service, bootstrap_servers=BOOTSTRAP)
    relay_task = asyncio.create_task(relay.run())
    await asyncio.sleep(1)
    if backend == "sqlite":
        committed_at, achieved = await _write_load(db.url, db.service, topic, rate, total)
    else:
        # Two API replicas share the load: one Python process tops out near 330 commits/s on this machine.
        pipes, writers = [], []
        for _ in range(WRITERS):
            end, child = spawn.Pipe()
            share = (db.url, db.service, topic, rate / WRITERS, total // WRITERS, child)
            writer = spawn.Process(target=_write, args=share)
            writer.start()
            pipes.append(end)
            writers.append(writer)
        committed_at = {}
        achieved = 0.0
        for end in pipes:
            part, part_rate = await asyncio.to_thread(end.recv)
            committed_at.update(part)
            achieved += part_rate
        for writer in writers:
            writer.join(10)
    arrived_at: dict[str, float] = await asyncio.to_thread(consumer_end.recv)
    consumer.join(10)
    await relay.stop()
    await relay_task
    await db.dispose()
    order = sorted(committed_at, key=committed_at.get)[rate:]  # type: ignore[arg-type]
    lat = [(arrived_at[i] - committed_at[i]) * 1000 for i in order]
    if DEBUG:
        slow = [(n, round(v)) for n, v in enumerate(lat) if v > 100]
        print(f"  slow events (index, ms): {slow[:40]} … {len(slow)} in all")
    return percentile(lat, 50), percentile(lat, 99), achieved


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    start_broker()
    try:
        for backend in backends():
            eps = await throughput(backend, args.events)
            print(f"{backend}: relay throughput {eps:,.0f} events/s ({args.events:,} events)")
            p50, p99, achieved = await latency(backend, args.rate, args.seconds)
            print(
                f"{backend}: commit-to-consumer latency at {achieved:,.0f} events/s: "
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
            )
    finally:
        stop_broker()


if __name__ == "__main__":
    asyncio.run(main())
