"""`make simulate`: start the whole system, run a simulated quarter through the gateway, compare the reports.

    python -m sim [--size 21462] [--mix seed|CENTRE:CENTRE_ONLINE:WARDS:WARDS_ONLINE:ASSISTED]
                  [--period 2021-05-16:2021-08-15] [--seed 1] [--postgres URL] [--var var/sim]

Exits 0 when stats-svc's quarterly report, form II.06a and the 766 inputs equal the simulation's ground truth,
1 on any difference, 2 when the run itself failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import uvicorn
from payment.settings import Settings as PaymentSettings
from provider_simulator import Books, provider_app

from services import clock
from services.clock import VN_TZ
from sim import truth
from sim.client import Gateway
from sim.quarter import DEPARTMENTS, Quarter, agency, desk
from sim.system import ROOT, System
from sim.world import CITY, SEED_SIZE, WARDS, Days, Mix, population, procedures_from_api

#: The seed's period was 16 May – 15 Aug 2020; the demo catalogue's decision takes effect on 1 Jun 2020, so the
#: default runs the same dates a year later (92 days, 65 working days).
DEFAULT_PERIOD = "2021-05-16:2021-08-15"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sim", description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=SEED_SIZE, help=f"dossiers in the quarter (default {SEED_SIZE})")
    p.add_argument(
        "--mix",
        default="seed",
        help="seed (shaped like the seed's period) or "
        "CENTRE:CENTRE_ONLINE:WARDS:WARDS_ONLINE:ASSISTED (absolute counts; --size is then ignored)",
    )
    p.add_argument("--period", default=DEFAULT_PERIOD, help="FROM:TO, inclusive dates")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--concurrency", type=int, default=32, help="clients acting at the same time")
    p.add_argument(
        "--fate-weights",
        default="60:28:9:1:2",
        help="relative weights of early:on_time:late:extended:withdrawn dossiers",
    )
    p.add_argument("--lose-callbacks", type=float, default=0.03,
                   help="share of payments whose provider callback never arrives (the status query must find them)")
    p.add_argument("--probes-per-day", type=int, default=4, help="timed receipts and resolutions per day (each)")
    p.add_argument("--postgres", default=None, help="PostgreSQL server URL: one database per service (sim_<svc>)")
    p.add_argument("--var", default="var/sim", help="the simulation's state (wiped at the start)")
    p.add_argument("--kafka-port", type=int, default=9092)
    p.add_argument("--bootstrap", default=None, help="use this broker instead of starting one")
    p.add_argument("--port-base", type=int, default=None, help="services on BASE+1…BASE+5, gateway on BASE")
    p.add_argument("--settle", type=float, default=300.0, help="seconds to wait for the reports to catch up")
    p.add_argument("--result", default=None, help="write the result as JSON here (default VAR/result.json)")
    return p.parse_args(argv)


def mix_of(args: argparse.Namespace) -> Mix:
    if args.mix == "seed":
        return Mix.seed_shaped(args.size)
    centre, centre_online, wards, wards_online, assisted = (int(x) for x in args.mix.split(":"))
    return Mix(centre, centre_online, wards, wards_online, assisted)


def system_of(args: argparse.Namespace) -> System:
    system = System(var=(ROOT / args.var).resolve(), postgres=args.postgres, bootstrap=args.bootstrap,
                    kafka_port=args.kafka_port, kafka_controller_port=args.kafka_port + 1)  # fmt: skip
    if args.port_base:
        names = ["gateway", "catalogue", "intake", "routing", "payment", "stats"]
        system.ports = {name: args.port_base + k for k, name in enumerate(names)}
        system.providers_port = args.port_base + len(names)
    if args.bootstrap:
        system.topic_prefix = f"sim{uuid.uuid4().hex[:6]}"
        system.db_prefix = system.topic_prefix
    return system


def create_accounts(system: System, password: str) -> list[tuple[str, str | None]]:
    specs = [(CITY, "desk_officer", desk(CITY)), (CITY, "specialist", agency(CITY))]
    for ward in WARDS:
        specs += [(ward, "desk_officer", desk(ward)), (ward, "specialist", agency(ward))]
    specs += [(dept, "specialist", agency(dept)) for dept in DEPARTMENTS]
    system.run(sys.executable, "-m", "sim.accounts", password, *(":".join(s) for s in specs),
               PYTHONPATH=f"{ROOT}:{ROOT / 'gateway'}")  # fmt: skip
    return [(username, unit) for unit, _, username in specs]


async def read_catalogue(gw: Gateway) -> list[dict[str, Any]]:
    codes: list[str] = []
    page = 1
    while True:
        out = await gw.portal_get(f"/api/v1/catalogue/procedures?size=100&page={page}")
        codes += [item["code"] for item in out["items"]]
        if page * 100 >= out["total"]:
            break
        page += 1
    sem = asyncio.Semaphore(16)

    async def one(code: str) -> dict[str, Any]:
        async with sem:
            return await gw.portal_get(f"/api/v1/catalogue/procedures/{code}")  # type: ignore[no-any-return]

    return await asyncio.gather(*(one(c) for c in codes))


async def reports(gw: Gateway, start: date, end: date) -> dict[str, Any]:
    params = {"from": start.isoformat(), "to": end.isoformat(), "unit": CITY}
    q = await gw.as_staff("demo.leader", "GET", "/api/v1/stats/reports/quarterly", params=params)
    f = await gw.as_staff("demo.leader", "GET", "/api/v1/stats/reports/ii06a", params=params)
    i = await gw.as_staff("demo.leader", "GET", "/api/v1/stats/reports/indicators", params=params)
    return truth.reported(q, f, i)


Disruption = Callable[[System, Quarter, int], Awaitable[None]]


async def serve_providers(books: Books, system: System) -> uvicorn.Server:
    """The payment providers' APIs (status queries, refunds), answered from the books the quarter's payments fill,
    on `system.providers_port` in this process; payment-svc calls them over HTTP."""
    app = provider_app(books, PaymentSettings())  # the merchant's secrets, as payment-svc has them
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=system.providers_port, log_level="warning",
                                           access_log=False, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the providers' simulator did not start")
        await asyncio.sleep(0.02)
    return server


async def simulate(args: argparse.Namespace, disrupt: Disruption | None = None) -> int:
    start_s, end_s = args.period.split(":")
    start, end = date.fromisoformat(start_s), date.fromisoformat(end_s)
    system = system_of(args)
    if system.var.exists():
        shutil.rmtree(system.var)
    system.var.mkdir(parents=True)
    clock.set_instant(system.clock_file, datetime.combine(start - timedelta(days=1), dtime(8, 0), VN_TZ))
    t0 = time.monotonic()
    print(f"starting the system in {system.var} ({'PostgreSQL' if args.postgres else 'SQLite'}) …", flush=True)
    try:
        creds = system.prepare()
        password = uuid.uuid4().hex
        accounts = create_accounts(system, password)
        system.start()
    except Exception:
        system.stop()
        raise
    setup_s = time.monotonic() - t0
    gw = Gateway(system.gateway_url, creds.portal_key, concurrency=args.concurrency * 2)
    books = Books()
    providers = await serve_providers(books, system)
    gw.add_staff("demo.leader", creds.passwords["demo.leader"], CITY)
    for username, unit in accounts:
        gw.add_staff(username, password, unit)
    result: dict[str, Any] = {"args": vars(args), "setup_seconds": round(setup_s, 1), "db_prefix": system.db_prefix}
    code = 2
    try:
        days = Days(start, end)
        procedures = procedures_from_api(await read_catalogue(gw))
        mix = mix_of(args)
        weights = [float(w) for w in args.fate_weights.split(":")]
        dossiers = population(procedures, mix, days, random.Random(args.seed), weights, args.lose_callbacks)
        print(f"{len(procedures)} procedures in force; {len(dossiers)} dossiers over {days.in_period} working days "
              f"({start} – {end}): centre {mix.centre} ({mix.centre_online} online), wards {mix.wards} "
              f"({mix.wards_online} online), {mix.assisted} assisted accounts", flush=True)  # fmt: skip
        quarter = Quarter(gw, days, dossiers, system.clock_file, seed=args.seed, run_id=uuid.uuid4().hex[:8],
                          concurrency=args.concurrency, probes_per_day=args.probes_per_day,
                          log=lambda line: print(line, flush=True), books=books)  # fmt: skip
        t1 = time.monotonic()
        hook = (lambda i: disrupt(system, quarter, i)) if disrupt else None
        await quarter.run(hook)
        driven_s = time.monotonic() - t1
        # the evening of the last day: the reports must catch up with everything that was done
        clock.set_instant(system.clock_file, datetime.combine(end, dtime(18, 0), VN_TZ))
        want = truth.expected(dossiers, days, quarter.paid)
        deadline = time.monotonic() + args.settle
        while True:
            got = await reports(gw, start, end)
            if got == want or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        quarter_s = time.monotonic() - t1
        lines, differences = truth.compare(want, got)
        print("\n".join(lines))
        lat = quarter.latency.summary()
        result.update(
            dossiers=len(dossiers), working_days=days.in_period, driven_seconds=round(driven_s, 1),
            quarter_seconds=round(quarter_s, 1), requests=gw.calls, latency_seconds=lat, differences=differences,
            load_average=os.getloadavg(), finished=datetime.now().astimezone().isoformat(timespec="seconds"),
            inter_level=sum(d.procedure.inter_level and d.id is not None for d in dossiers),
            extended=sum(d.extended_to is not None for d in dossiers), paid=len(quarter.paid),
            duplicated_webhooks=sum(d.duplicates > 1 and d.n in quarter.paid for d in dossiers),
            reordered_webhooks=sum(d.reorder and d.n in quarter.paid for d in dossiers),
            lost_callbacks=sum(d.lose_callback and d.n in quarter.paid for d in dossiers),
            paid_by_provider={p: sum(d.provider == p and d.n in quarter.paid for d in dossiers)
                              for p in ("payos", "vnpay", "momo", "zalopay")},
            status_queries=len([c for c in books.calls if c[1] in ("querydr", "payment-requests", "query")]),
            truth=want, report=got,
        )  # fmt: skip
        print(f"\nquarter: {len(dossiers)} dossiers, {days.in_period} working days, {gw.calls} requests through "
              f"the gateway; driven in {driven_s:.1f} s, reports matched after {quarter_s:.1f} s "
              f"(system start-up {setup_s:.1f} s, not counted)")  # fmt: skip
        print(f"event → report latency (s): receipts {lat['receipt']}, resolutions {lat['resolution']}, "
              f"all {lat['all']} over {lat['samples']} probes")  # fmt: skip
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("RESULT: the reports equal the ground truth" if not differences
              else f"RESULT: {differences} figures differ from the ground truth")  # fmt: skip
        code = 0 if not differences else 1
    finally:
        await gw.close()
        providers.should_exit = True
        system.stop()
        out = Path(args.result) if args.result else system.var / "result.json"
        result["exit"] = code
        out.write_text(json.dumps(result, indent=2, default=str))
    return code


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # stopped from outside: still stop the services and the broker (the `finally` of `simulate`)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return asyncio.run(simulate(args))
    except (RuntimeError, subprocess.SubprocessError) as exc:
        print(f"simulation failed: {exc}", file=sys.stderr)
        return 2
