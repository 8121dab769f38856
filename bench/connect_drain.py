"""connect-svc draining a backlog of changes to the national-portal simulator, which answers each call in 50 ms.

    PYTHONPATH=.:connect-svc python -m bench.connect_drain [--dossiers 5000] [--latency 0.05] [--backend sqlite]

The backlog: every change of `--dossiers` dossiers' whole lives (20 records each: received, routed ward → city →
province, supplemented, extended, processed, returned), taken from their events through connect-svc's own handler
and committed before the clock starts. Throughput: records acknowledged per second from starting one delivery worker
until none is left; the simulator (its own process) holds every record at the end, each once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid

import httpx
from connect.main import build_app  # noqa: F401  (registers the settings' defaults as the service does)
from connect.models import Delivery
from connect.portal_client import PortalClient
from connect.service import take_event
from connect.settings import Settings
from connect.worker import Worker
from sqlalchemy import func, select

from bench.common import ROOT, backends, fresh_database, machine
from services import migrations
from services.db import Database
from services.events import new_event
from tests.connect.domain.events import journey


async def fill(db: Database, dossiers: int) -> int:
    events = []
    for n in range(dossiers):
        code = f"000.01.31.H57-260302-{n:05d}"
        events += journey(f"d-{uuid.uuid4().hex[:10]}", code)
    for start in range(0, len(events), 500):
        async with db.sessionmaker() as session, session.begin():
            for payload in events[start : start + 500]:
                await take_event(session, new_event(payload, source="/bench"), payload)
    async with db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Delivery)) or 0)


async def drain(backend: str, dossiers: int, latency: float, port: int) -> None:
    url = await fresh_database(backend)
    await asyncio.to_thread(migrations.upgrade, ROOT / "connect-svc", url)
    settings = Settings(
        database_url=url, portal_url=f"http://127.0.0.1:{port}", dev_mode=True, delivery_poll_interval=0.05
    )
    db = Database(url, service="connect")
    total = await fill(db, dossiers)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'connect-svc'}"}
    portal = await asyncio.create_subprocess_exec(sys.executable, "-m", "dvcqg_sim", "--port", str(port), env=env)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as control:
            for _ in range(100):
                try:
                    await control.post("/_control/faults", json={"slow_seconds": latency})
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            worker = Worker(db, settings, PortalClient(settings))
            started = time.perf_counter()
            while await worker.round():
                pass
            elapsed = time.perf_counter() - started
            state = (await control.get("/_control/state")).json()
        taken = len(state["log"])
        print(
            f"{backend}: {total} changes of {dossiers} dossiers drained in {elapsed:.1f} s = {total / elapsed:.0f}/s "
            f"({state['calls']} calls of {latency * 1000:.0f} ms; the portal took {taken}, refused "
            f"{len(state['refused'])}; {worker.settings.records_per_call} records per call)"
        )
        assert taken == total and not state["refused"]
    finally:
        portal.terminate()
        await portal.wait()
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dossiers", type=int, default=5000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default=None)
    parser.add_argument("--port", type=int, default=38291)
    args = parser.parse_args()
    print(machine())
    for backend in [args.backend] if args.backend else backends():
        asyncio.run(drain(backend, args.dossiers, args.latency, args.port))


if __name__ == "__main__":
    main()
