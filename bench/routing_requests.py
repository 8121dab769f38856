"""CPU and SQL statements per routing-svc request, in-process (independent of the machine's load).

    python -m bench.routing_requests [--dossiers 300] [--backend sqlite|postgresql] [--profile]

routing-svc's app runs in this process (ASGI transport, no HTTP; relay, consumers and sweep off) on a fresh
database whose catalogue replica is filled directly by the replica's own handlers. Each dossier goes through the
simulated quarter's agency path: the journey starts from `DossierReceived` (the consumer's handler, in a
transaction as the consumer runs it), then, for a ward → city → province dossier, GET the journey, complete the
ward's step, accept at the city, complete, accept at the province, complete with the result, return to the desk,
accept at the desk. Prints the CPU time and the statements per request kind (the in-process client's own work
included); `--profile` adds cProfile's top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import event

from bench.common import ROOT, fresh_database, machine
from services import catalogue_replica, migrations
from services.db import Database
from services.identity import Identity, Role, mint


async def run(args: argparse.Namespace) -> None:
    sys.path[:0] = [str(ROOT), str(ROOT / "routing-svc")]
    from routing.main import build_app
    from routing.service import Journeys
    from routing.settings import Settings

    from tests.routing import support

    url = await fresh_database(args.backend)
    await asyncio.to_thread(migrations.upgrade, ROOT / "routing-svc", url)
    db = Database(url)
    async with db.sessionmaker() as session, session.begin():
        for unit in support.units():
            await catalogue_replica.apply_unit(session, None, unit)
        for procedure in support.PROCEDURES:
            await catalogue_replica.apply_procedure(session, None, procedure)
    await db.dispose()

    settings = Settings(
        database_url=url, relay_enabled=False, consumers_enabled=False, sweep_enabled=False, log_level="WARNING"
    )
    app = build_app(settings)
    secret = settings.internal_token_secret.get_secret_value()

    def who(unit: str) -> dict[str, str]:
        return {"x-motcua-identity": mint(Identity(subject=f"officer@{unit}", role=Role.SPECIALIST, unit=unit), secret)}

    statements: Counter[str] = Counter()
    cpu: defaultdict[str, float] = defaultdict(float)
    calls: Counter[str] = Counter()
    current = ["?"]
    profiler = cProfile.Profile() if args.profile else None

    @contextmanager
    def measured(kind: str) -> Iterator[None]:
        current[0] = kind
        start = time.process_time()
        if profiler:
            profiler.enable()
        try:
            yield
        finally:
            if profiler:
                profiler.disable()
            cpu[kind] += time.process_time() - start
            calls[kind] += 1
            current[0] = "?"

    async with app.router.lifespan_context(app):
        engine = app.state.db.engine

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _count(*_: Any) -> None:
            statements[current[0]] += 1

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://routing") as client:

            async def call(kind: str, method: str, path: str, unit: str, body: Any = None) -> dict[str, Any]:
                with measured(kind):
                    r = await client.request(method, path, headers=who(unit), json=body)
                if r.status_code != 200:
                    raise RuntimeError(f"{method} {path}: {r.status_code} {r.text}")
                return dict(r.json())

            for n in range(args.dossiers):
                payload = support.received(support.INTER3, received_at=datetime.now(UTC))
                payload = payload.model_copy(update={"code": f"{support.WARD}-{payload.received_at:%y%m%d}-{n:06d}"})
                with measured("start (consumer handler)"):
                    async with app.state.db.sessionmaker() as session, session.begin():
                        await Journeys(session, settings.topic_prefix).start(payload)
                d = f"/journeys/{payload.dossier_id}"
                j = await call("GET journey", "GET", d, support.WARD)
                for _step in range(3):
                    if j["phase"] == "awaiting":
                        hop = f"{d}/hops/{j['pending_hop_id']}/accept"
                        j = await call("POST accept", "POST", hop, j["pending_unit"])
                    last = j["current_step"] == len(j["steps"])
                    body = {"note": "Đã xử lý", **({"result": "Giấy tờ kết quả"} if last else {})}
                    j = await call("POST complete", "POST", f"{d}/complete", j["holder_unit"], body)
                j = await call("POST return", "POST", f"{d}/return", j["holder_unit"], {})
                if j["phase"] != "awaiting":
                    raise RuntimeError(f"unexpected phase after return: {j['phase']}")
                await call("POST accept", "POST", f"{d}/hops/{j['pending_hop_id']}/accept", j["pending_unit"])

    print(f"routing-svc in-process, {args.backend}, {args.dossiers} ward → city → province dossiers; {machine()}")
    print(f"{'request':28} {'calls':>7} {'CPU µs/call':>12} {'statements/call':>16}")
    total_cpu = 0.0
    for kind in sorted(calls, key=lambda k: -cpu[k]):
        total_cpu += cpu[kind]
        per_call_us = cpu[kind] / calls[kind] * 1e6
        print(f"{kind:28} {calls[kind]:>7} {per_call_us:>12.0f} {statements[kind] / calls[kind]:>16.1f}")
    print(f"per dossier: {total_cpu / args.dossiers * 1e3:.1f} ms CPU, "
          f"{sum(statements.values()) / args.dossiers:.1f} statements")  # fmt: skip
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.profile_lines)
        print(out.getvalue())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dossiers", type=int, default=300)
    p.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--profile-lines", type=int, default=40)
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
