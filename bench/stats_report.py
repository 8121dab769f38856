"""stats-svc benchmark: replay throughput from the broker into the read models, report latency over 1M dossiers.

    BENCH_DATABASE_URL=postgresql+asyncpg://postgres:postgres@127.0.0.1:5432/postgres \
        .venv/bin/python -m bench.stats_report [--events 300000] [--facts 1000000] [--queries 200]

Throughput: `--events` intake/routing events (received, processed, returned for a third of them each) are produced
onto the topics first; then `stats.rebuild.replay` reads them from offset zero into an empty migrated database;
events/s = events ÷ replay wall time. Latency: `--facts` dossier facts spread over 5 years and 200 units (1 city,
199 wards) are bulk-loaded set-based, then each of `--queries` rounds runs the II.06a and the quarterly report
(with two earlier periods) for a random 92-day period and a random scope (whole city or one ward); p50/p95/p99 of
each report's wall time. Uses a broker of its own (ports 39792/39793, var/bench-kafka-stats).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from bench.common import KAFKA_SH, ROOT, fresh_database, machine, percentile
from services import migrations
from services.contracts import intake as ik
from services.contracts import routing as rt
from services.db import Database
from services.events import new_event
from services.identity import Identity, Role
from services.topics import DOMAIN_TOPICS, INTAKE_DOSSIERS, ROUTING_JOURNEYS, ensure_topics

sys.path.insert(0, str(ROOT / "stats-svc"))  # the service's package, as its Procfile entry runs it

from stats import reports
from stats.rebuild import replay
from stats.settings import Settings

KAFKA_DIR = ROOT / "var" / "bench-kafka-stats"
BOOTSTRAP = "127.0.0.1:39792"
CITY = "000.00.31.H57"


def load() -> str:
    """The 1, 5 and 15 minute load averages (figures on a shared machine need them)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def broker(action: str) -> None:
    args = [str(KAFKA_SH), action, str(KAFKA_DIR)] + (["39792", "39793"] if action == "start" else [])
    subprocess.run(args, check=True)


async def produce(prefix: str, events: int) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP, linger_ms=20, max_batch_size=512 * 1024, compression_type=None, acks=1
    )
    await producer.start()
    try:
        start = datetime(2020, 1, 1, 2, tzinfo=UTC)
        pending = []
        for i in range(events // 3):
            d = f"D{i:08d}"
            received = start + timedelta(minutes=i)
            for topic, payload in (
                (
                    INTAKE_DOSSIERS,
                    ik.DossierReceived(
                        dossier_id=d,
                        code=d,
                        procedure_code="1.000001",
                        procedure_version=1,
                        field_code=f"F{i % 14}",
                        receiving_unit=CITY,
                        channel=ik.Channel.ONLINE if i % 9 == 0 else ik.Channel.IN_PERSON,
                        applicant_kind="citizen",
                        received_at=received,
                        appointment_at=received + timedelta(days=5),
                    ),
                ),
                (
                    ROUTING_JOURNEYS,
                    rt.JourneyProcessed(
                        dossier_id=d,
                        code=d,
                        at=received + timedelta(days=3),
                        status=rt.NationalStatus.PROCESSED,
                        unit=CITY,
                        outcome=rt.Outcome.APPROVED,
                        due_at=received + timedelta(days=5),
                        late=False,
                    ),
                ),
                (
                    INTAKE_DOSSIERS,
                    ik.DossierResultReturned(
                        dossier_id=d, code=d, at=received + timedelta(days=4), channel=ik.Channel.IN_PERSON
                    ),
                ),
            ):
                event = new_event(payload, source="/bench", subject=d)
                pending.append(await producer.send(topic.full_name(prefix), event.to_json(), key=d.encode()))
            if len(pending) > 20000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def backend_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of PostgreSQL backend processes (the database is local: /proc has them)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / ticks


async def throughput(url: str, events: int, batch: int) -> tuple[int, float, float, float]:
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    await ensure_topics(BOOTSTRAP, prefix, DOMAIN_TOPICS)
    await produce(prefix, events)
    db = Database(url)
    try:
        t0, cpu0 = time.perf_counter(), time.process_time()
        result = await replay(db, BOOTSTRAP, prefix, batch=batch, progress=True)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        # The replay's pooled connections are still open: their backends' CPU is the database's share of the work.
        async with db.engine.connect() as conn:
            pids = list((await conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            ))).scalars())  # fmt: skip
        db_cpu = backend_cpu_seconds(pids)
    finally:
        await db.dispose()
    return result.applied, elapsed, cpu, db_cpu


LOAD_FACTS = """
INSERT INTO stats_dossier (dossier_id, code, procedure_code, procedure_version, field_code, receiving_unit, channel,
    received_at, received_date, appointment_at, appointment_date, appointment_set_at, extended, resolved_at,
    resolved_date, outcome, open_until, inter_level, hops, overdue_flagged, fee_amount, fee_bearing, paid_online,
    paid)
SELECT 'B' || g, 'B' || g, '1.' || lpad((g % 300)::text, 6, '0'), 1, 'F' || (g % 14),
    CASE WHEN g % 2 = 0 THEN :city ELSE 'W' || lpad((g % 199)::text, 3, '0') END,
    CASE WHEN g % 9 = 0 THEN 'online' WHEN g % 50 = 0 THEN 'postal' ELSE 'in_person' END,
    d::timestamp, d, (d + 7)::timestamp, d + 7, d::timestamp, false,
    CASE WHEN g % 10 = 0 THEN NULL ELSE (d + (g % 10))::timestamp END,
    CASE WHEN g % 10 = 0 THEN NULL ELSE d + (g % 10) END,
    CASE WHEN g % 10 = 0 THEN NULL ELSE 'approved' END,
    CASE WHEN g % 10 = 0 THEN DATE '9999-01-01' ELSE d + (g % 10) END, g % 20 = 0, 0, false,
    CASE WHEN g % 3 = 0 THEN 50000 ELSE 0 END, g % 3 = 0, g % 6 = 0, g % 3 = 0
FROM (SELECT g, DATE '2020-01-01' + (g % 1826) AS d FROM generate_series(1, :n) AS g) AS s
"""


# What the projection maintains next to the facts (stats.models.QueryBound), loaded the same set-based way.
LOAD_BOUND = """
INSERT INTO stats_query_bound (name, value)
SELECT 'max_open_days', max(open_until - received_date) FROM stats_dossier WHERE open_until <> DATE '9999-01-01'
"""


async def latency(url: str, facts: int, queries: int) -> dict[str, list[float]]:
    db = Database(url)
    timings: dict[str, list[float]] = {"ii06a": [], "quarterly": []}
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO stats_unit (agency_id, revision, name, kind, level, level_rank, parent_id) "
                    "VALUES (:id, 1, 'Thành phố', 'administrative', 'district', 2, NULL)"
                ),
                {"id": CITY},
            )
            await conn.execute(
                text(
                    "INSERT INTO stats_unit (agency_id, revision, name, kind, level, level_rank, parent_id) "
                    "SELECT 'W' || lpad(g::text, 3, '0'), 1, 'Phường ' || g, 'administrative', 'commune', 3, :city "
                    "FROM generate_series(0, 198) AS g"
                ),
                {"city": CITY},
            )
            await conn.execute(text(LOAD_FACTS), {"n": facts, "city": CITY})
            await conn.execute(text(LOAD_BOUND))
        async with db.engine.connect() as conn:
            await conn.execute(text("COMMIT"))
            await conn.execute(text("VACUUM ANALYZE stats_dossier"))
        settings = Settings(database_url=url)
        admin = Identity(subject="bench", role=Role.ADMIN)
        rng = random.Random(7)
        for _ in range(queries):
            start = date(2020, 6, 1) + timedelta(days=rng.randrange(0, 1400))
            period = reports.Period(start, start + timedelta(days=91))
            unit = CITY if rng.random() < 0.5 else f"W{rng.randrange(199):03d}"
            async with db.sessionmaker() as session:
                scope = await reports.scope(session, admin, unit)
                t0 = time.perf_counter()
                await reports.ii06a(session, period, scope)
                timings["ii06a"].append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                await reports.quarterly(session, period, scope, settings, 2)
                timings["quarterly"].append((time.perf_counter() - t0) * 1000)
    finally:
        await db.dispose()
    return timings


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--facts", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    print(f"machine: {machine()}  date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    broker("start")
    try:
        url = await fresh_database("postgresql")
        await asyncio.to_thread(migrations.upgrade, ROOT / "stats-svc", url)
        print(f"load before replay: {load()}")
        applied, elapsed, cpu, db_cpu = await throughput(url, args.events, args.batch)
        print(f"replay: {applied} events in {elapsed:.1f} s = {applied / elapsed:,.0f} events/s (batch {args.batch}); "
              f"load after: {load()}")  # fmt: skip
        print(f"replay CPU: this process {cpu:.1f} s = {cpu / applied * 1e6:.0f} µs/event, PostgreSQL backends "
              f"{db_cpu:.1f} s = {db_cpu / applied * 1e6:.0f} µs/event (they overlap: writing one poll while the "
              f"next is decoded)")  # fmt: skip
        url = await fresh_database("postgresql")
        await asyncio.to_thread(migrations.upgrade, ROOT / "stats-svc", url)
        timings = await latency(url, args.facts, args.queries)
        print(f"load after the queries: {load()}")
        for name, values in timings.items():
            print(
                f"{name} over {args.facts:,} facts, {len(values)} queries: p50 {percentile(values, 50):.1f} ms, "
                f"p95 {percentile(values, 95):.1f} ms, p99 {percentile(values, 99):.1f} ms"
            )
    finally:
        broker("stop")


if __name__ == "__main__":
    asyncio.run(main())
