"""Statements sent to PostgreSQL per dossier submission, counted in-process (independent of the machine's load).

    python -m bench.intake_round_trips [--dossiers 200]

intake-svc's app runs in this process (ASGI transport, no HTTP, relay and consumers off) on a fresh PostgreSQL
database whose catalogue replica is filled directly by the replica's own handlers; every statement asyncpg sends
on the app's connections is counted by asyncpg's query logger (BEGIN, COMMIT, the pool's ping: BEGIN, ``;``,
ROLLBACK) or SQLAlchemy's cursor events (the other statements). The relay is off, so every commit also sends the
NOTIFY meant for a relay in another process (with the relay in the process, as under uvicorn, it does not).
Database from BENCH_DATABASE_URL or TEST_DATABASE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from typing import Any

import httpx
from sqlalchemy import event

from bench.common import ROOT, fresh_database, machine
from services import catalogue_replica, migrations
from services.contracts.catalogue import OnlineLevel, ProcedurePublished, ProcessingUnit, UnitOffering
from services.db import Database
from services.identity import Identity, Role, mint

WARD = "000.00.31.H57"


async def run(args: argparse.Namespace) -> None:
    sys.path[:0] = [str(ROOT), str(ROOT / "intake-svc")]
    from intake.main import build_app
    from intake.settings import Settings

    from bench.intake_submit import body
    from tests.intake.support import P_WORKING, _version

    url = await fresh_database("postgresql")
    await asyncio.to_thread(migrations.upgrade, ROOT / "intake-svc", url)
    db = Database(url)
    async with db.sessionmaker() as session, session.begin():
        procedure = ProcedurePublished(
            code=P_WORKING,
            revision=1,
            versions=[_version(P_WORKING, "Đăng ký khai sinh", 3, ProcessingUnit.WORKING_DAYS)],
            units=[UnitOffering(agency_id=WARD, online_level=OnlineLevel.FULL, postal=True)],
        )
        await catalogue_replica.apply_procedure(session, None, procedure)
    await db.dispose()

    settings = Settings(
        database_url=url,
        relay_enabled=False,
        consumers_enabled=False,
        log_level="WARNING",
        db_pool_pre_ping=args.pre_ping,
    )
    app = build_app(settings)
    statements: Counter[str] = Counter()

    def kind(sql: str) -> str:
        words = sql.replace("(", " ").split()
        if words and words[0].upper() == "WITH":
            return "WITH … INSERT (dossier, step, outbox)"
        return " ".join(words[:3]).upper() if words != [";"] else "; (pool ping)"

    def count(record: Any) -> None:  # simple queries: BEGIN, COMMIT, ROLLBACK
        statements[kind(record.query)] += 1

    secret = settings.internal_token_secret.get_secret_value()
    desk = {"x-motcua-identity": mint(Identity(subject="desk", role=Role.DESK_OFFICER, unit=WARD), secret, ttl=3600)}
    async with app.router.lifespan_context(app):
        engine = app.state.db.engine.sync_engine

        @event.listens_for(engine, "connect")
        def _log_queries(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.driver_connection.add_query_logger(count)

        @event.listens_for(engine, "before_cursor_execute")
        def _count_statement(*args: Any) -> None:
            statements[kind(args[2])] += 1

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            for i in range(20):  # warm-up: caches, prepared statements, pool
                assert (await client.post("/dossiers", json=body(i), headers=desk)).status_code == 201
            statements.clear()
            for i in range(args.dossiers):
                r = await client.post("/dossiers", json=body(1000 + i), headers=desk)
                assert r.status_code == 201, r.text
    print(f"machine: {machine()}  load average: {os.getloadavg()[0]:.2f}")
    print(f"{args.dossiers} submissions (2 documents, no Idempotency-Key), PostgreSQL, pool ping: {args.pre_ping}")
    per = sum(statements.values()) / args.dossiers
    print(f"statements per submission: {per:.2f}")
    for kind, n in statements.most_common():
        print(f"  {n / args.dossiers:5.2f}  {kind}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dossiers", type=int, default=200)
    parser.add_argument("--pre-ping", action="store_true", help="with the pool's ping (the kernel's default)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
