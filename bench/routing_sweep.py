"""routing-svc: the overdue sweep over 100,000 open dossiers, and worklist query latency with 100,000 dossiers.

    python -m bench.routing_sweep [--dossiers 100000] [--units 200] [--queries 1000]

Set-up (no broker needed: the sweep writes its events to the outbox, which is what is timed): journeys inserted in
bulk at the newest migration, spread over `units` units; due dates from 10 days ago to 30 days ahead; 85 % active,
5 % each awaiting a hop, being routed, paused. Three sweeps are timed, each one transaction including the outbox
rows of its events: (1) catch-up, every stale flag at once (after an outage: tens of thousands of events);
(2) steady state right after (nothing new: the cost of looking); (3) one day later (the flags of one day).
Worklists: `repository.worklist` (the query behind GET /worklists/{unit}) for random units and views, first pages
and keyset-paged third pages, 50 rows each; p50/p95/p99 over `queries` calls.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from bench.common import ROOT, backends, fresh_database, machine, percentile
from services import migrations
from services.db import Database

sys.path.insert(0, str(ROOT / "routing-svc"))

from routing import repository as repo
from routing.models import Journey
from routing.sweep import sweep

from services.bus.tables import outbox

PHASES = [("active", "todo")] * 17 + [("awaiting", "outgoing"), ("routing", "todo"), ("paused", "waiting")]


async def populate(db: Database, n: int, units: int, now: datetime) -> None:
    rnd = random.Random(7)
    rows = []
    for i in range(n):
        phase, queue = rnd.choice(PHASES)
        unit = f"000.{i % units:02d}.31.H57" if units <= 100 else f"{i % units:03d}.00.31.H57"
        due = now + timedelta(minutes=rnd.randint(-10 * 24 * 60, 30 * 24 * 60))
        step_due = due - timedelta(days=rnd.randint(0, 5))
        rows.append(
            {
                "dossier_id": f"d{i:07d}",
                "code": f"{unit}-200916-{i:07d}",
                "procedure_code": "1.000001",
                "procedure_version": 1,
                "field_code": "G03-TP01",
                "receiving_unit": unit,
                "channel": "in_person",
                "inter_level": i % 3 == 0,
                "received_at": due - timedelta(days=14),
                "phase": phase,
                "queue": queue,
                "status": 4,
                "holder_unit": unit,
                "pending_unit": None,
                "officer": f"officer{i % 7}@{unit}" if i % 2 else None,
                "current_step": 1,
                "due_at": due,
                "original_due_at": due,
                "step_due_at": step_due,
                "sla_state": "on_time",
                "step_sla_state": "on_time",
                "paused_working_days": 0,
                "updated_at": now,
            }
        )
    for start in range(0, n, 5000):
        async with db.sessionmaker() as session, session.begin():
            await session.execute(insert(Journey.__table__), rows[start : start + 5000])


async def timed_sweep(db: Database, now: datetime) -> tuple[float, int, bool]:
    """One sweep run (≤ DEFAULT_LIMIT flags of each kind); returns (seconds, events, more to do)."""
    t0 = time.perf_counter()
    async with db.sessionmaker() as session, session.begin():
        result = await sweep(session, "bench", now=now)
    return time.perf_counter() - t0, result.events, result.more


async def run(backend: str, n: int, units: int, queries: int) -> None:
    url = await fresh_database(backend)
    await asyncio.to_thread(migrations.upgrade, ROOT / "routing-svc", url)
    db = Database(url, service="routing")
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    await populate(db, n, units, now)
    load = time.perf_counter() - t0
    if backend == "postgresql":
        async with db.engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE journeys")
            await conn.commit()
    print(f"[{backend}] {n} journeys in {units} units loaded in {load:.1f} s")
    for label, moment in (("catch-up", now), ("steady", now), ("next day", now + timedelta(days=1))):
        runs: list[tuple[float, int, bool]] = [await timed_sweep(db, moment)]
        while runs[-1][2]:
            runs.append(await timed_sweep(db, moment))
        total = sum(r[0] for r in runs)
        print(
            f"[{backend}] sweep {label:9s}: {len(runs)} run(s), longest {max(r[0] for r in runs) * 1000:8.1f} ms, "
            f"total {total * 1000:8.1f} ms, {sum(r[1] for r in runs)} events"
        )
    async with db.sessionmaker() as session:
        queued = await session.scalar(select(func.count()).select_from(outbox))
    print(f"[{backend}] outbox rows after the sweeps: {queued}")

    rnd = random.Random(11)
    views = ["todo", "overdue", "due_soon", "waiting", "incoming"]
    latencies: dict[str, list[float]] = {"first page": [], "third page": [], "officer": []}
    for q in range(queries):
        i = rnd.randrange(units)
        unit = f"000.{i:02d}.31.H57" if units <= 100 else f"{i:03d}.00.31.H57"
        view = views[q % len(views)]
        async with db.sessionmaker() as session:
            t0 = time.perf_counter()
            page = await repo.worklist(session, unit=unit, view=view, officer=None, limit=50, after=None)
            latencies["first page"].append(time.perf_counter() - t0)
            if len(page) == 50:
                cursor = (page[-1].step_due_at, page[-1].dossier_id)
                t0 = time.perf_counter()
                page2 = await repo.worklist(session, unit=unit, view=view, officer=None, limit=50, after=cursor)
                if len(page2) == 50:
                    cursor = (page2[-1].step_due_at, page2[-1].dossier_id)
                    await repo.worklist(session, unit=unit, view=view, officer=None, limit=50, after=cursor)
                latencies["third page"].append((time.perf_counter() - t0) / 2)
            t0 = time.perf_counter()
            await repo.worklist(
                session, unit=unit, view="todo", officer=f"officer{q % 7}@{unit}", limit=50, after=None
            )
            latencies["officer"].append(time.perf_counter() - t0)
    for label, values in latencies.items():
        ms = [v * 1000 for v in values]
        print(
            f"[{backend}] worklist {label:10s}: p50 {percentile(ms, 50):6.2f} ms  p95 {percentile(ms, 95):6.2f} ms  "
            f"p99 {percentile(ms, 99):6.2f} ms  ({len(ms)} queries)"
        )
    await db.dispose()
    if backend == "sqlite":
        await asyncio.to_thread(Path(db.engine.url.database or "").unlink, missing_ok=True)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dossiers", type=int, default=100_000)
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    print(f"machine: {machine()}  date: {datetime.now(UTC):%Y-%m-%d}")
    for backend in backends():
        await run(backend, args.dossiers, args.units, args.queries)


if __name__ == "__main__":
    asyncio.run(main())
