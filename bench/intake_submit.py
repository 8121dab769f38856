"""Dossier submissions through intake-svc's HTTP API (uvicorn process) on PostgreSQL, with the outbox relay running.

    python -m bench.intake_submit [--dossiers 3000] [--concurrency 48] [--rate 100] [--seconds 15] [--workers 1]

Throughput: `--dossiers` in-person submissions by `--concurrency` closed-loop clients spread over 20 ward desks;
dossiers/s = count ÷ time until the last answer. Latency: an open-loop client submits at a fixed `--rate` for
`--seconds`; p50/p99 of the answer time. Afterwards the relay must have published every event (outbox empty).
Broker on 127.0.0.1:49392 (own directory var/bench-kafka-intake), database from BENCH_DATABASE_URL or
TEST_DATABASE_URL.

The load generator shares the machine's cores with the service, PostgreSQL and the broker, so it is kept lean: a
minimal HTTP/1.1 client on asyncio streams (`RawHttp`: keep-alive connections, request bytes built by hand, the
answer read by its Content-Length) instead of httpx, which costs several times more CPU per request than the
service's own work. `--client httpx` measures with httpx instead. The CPU line splits the CPU time of the
throughput phase between the service (uvicorn process and workers), the load generator, the PostgreSQL backends
of the benchmark database and the Kafka broker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
from sqlalchemy import func, select, text

from bench.common import KAFKA_SH, ROOT, fresh_database, machine, percentile
from services import catalogue_replica, migrations
from services.bus.tables import outbox
from services.contracts.catalogue import OnlineLevel, ProcedurePublished, UnitOffering
from services.db import Database
from services.identity import Identity, Role, mint
from services.settings import ServiceSettings
from services.topics import CATALOGUE_PROCEDURES

KAFKA_DIR = ROOT / "var" / "bench-kafka-intake"
BOOTSTRAP = "127.0.0.1:49392"
WARDS = [f"000.00.{n:02d}.H57" for n in range(40, 60)]
PROCEDURE = "1.001234"


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (uvicorn workers), from /proc."""
    pids = [pid]
    try:
        children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
        pids += [int(p) for p in children.split()]
    except OSError:
        pass
    total = 0.0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RawHttp:
    """Keep-alive HTTP/1.1 connections to one server, each used by one request at a time."""

    def __init__(self, base: str, connections: int) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.host, self.port, self.size = host, int(port), connections
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def __aenter__(self) -> RawHttp:
        for _ in range(self.size):
            self.idle.put_nowait(await asyncio.open_connection(self.host, self.port))
        return self

    async def __aexit__(self, *_: object) -> None:
        while not self.idle.empty():
            _, writer = self.idle.get_nowait()
            writer.close()

    async def post_json(self, path: str, payload: object, headers: dict[str, str]) -> int:
        """Send the request; return the answer's status (its body is read and dropped)."""
        data = json.dumps(payload, ensure_ascii=False).encode()
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        request = (
            f"POST {path} HTTP/1.1\r\nhost: {self.host}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\n{head}\r\n"
        ).encode() + data
        reader, writer = await self.idle.get()
        try:
            writer.write(request)
            status_line, _, rest = (await reader.readuntil(b"\r\n\r\n")).partition(b"\r\n")
            length = 0
            for line in rest.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
        except BaseException:
            writer.close()
            self.idle.put_nowait(await asyncio.open_connection(self.host, self.port))
            raise
        self.idle.put_nowait((reader, writer))
        return int(status_line.split(b" ", 2)[1])


class HttpxClient:
    """The same interface over httpx (heavier on the load generator's CPU)."""

    def __init__(self, base: str, connections: int) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self.client = httpx.AsyncClient(base_url=base, timeout=60, limits=limits)

    async def __aenter__(self) -> HttpxClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.client.aclose()

    async def post_json(self, path: str, payload: object, headers: dict[str, str]) -> int:
        return (await self.client.post(path, json=payload, headers=headers)).status_code


Client = RawHttp | HttpxClient
CLIENTS = {"raw": RawHttp, "httpx": HttpxClient}


def process_cpu(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each process still alive."""
    found = {}
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            found[p] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return found


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two readings by the processes alive at the second (a process that exited is not counted)."""
    return sum(t - before.get(p, 0.0) for p, t in after.items())


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def backend_pids(db: Database) -> list[int]:
    """The PostgreSQL backends serving the benchmark database (the service's pool and its listener)."""
    async with db.sessionmaker() as s:
        rows = await s.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        )
        return [int(r[0]) for r in rows]


def broker_pid() -> int | None:
    try:
        return int((KAFKA_DIR / "broker.pid").read_text().strip())
    except (OSError, ValueError):
        return None


async def feed_catalogue(prefix: str) -> None:
    sys.path.insert(0, str(ROOT))
    from services.contracts.catalogue import ProcessingUnit
    from tests.intake.support import P_WORKING, _version, publish  # the tests' catalogue builder

    proc = ProcedurePublished(
        code=P_WORKING,
        revision=1,
        versions=[_version(P_WORKING, "Đăng ký khai sinh", 3, ProcessingUnit.WORKING_DAYS)],
        units=[UnitOffering(agency_id=w, online_level=OnlineLevel.FULL, postal=True) for w in WARDS],
    )
    tmp = ROOT / "var" / "bench"
    tmp.mkdir(parents=True, exist_ok=True)
    await publish(BOOTSTRAP, prefix, tmp, [(CATALOGUE_PROCEDURES.name, P_WORKING, proc)], source="/catalogue")


def body(i: int) -> dict[str, object]:
    return {
        "procedure_code": PROCEDURE,
        "channel": "in_person" if i % 4 else "postal",
        "applicant": {
            "kind": "citizen",
            "id_number": f"0460{90 + i % 9}{i % 1000000:06d}",
            "name": "Nguyễn Văn An",
            "phone": f"0905{i % 1000000:06d}",
            "email": "an@example.vn",
            "address": "12 Lê Lợi, phường Phú Hội, Huế",
            "account_id": f"VNC-{i}",
        },
        "documents": [{"component_code": "TK"}, {"component_code": "GCS"}],
    }


async def closed_loop(
    client_kind: str, base: str, tokens: list[dict[str, str]], n: int, concurrency: int
) -> tuple[float, dict[int, int]]:
    statuses: dict[int, int] = {}
    counter = iter(range(n))
    async with CLIENTS[client_kind](base, concurrency) as client:

        async def worker() -> None:
            for i in counter:
                status = await client.post_json("/dossiers", body(i), tokens[i % len(tokens)])
                statuses[status] = statuses.get(status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, statuses


async def open_loop(
    client_kind: str, base: str, tokens: list[dict[str, str]], rate: float, seconds: float
) -> tuple[list[float], dict[int, int]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    async with CLIENTS[client_kind](base, 64) as client:

        async def one(i: int) -> None:
            t0 = time.perf_counter()
            try:
                status = await client.post_json("/dossiers", body(100000 + i), tokens[i % len(tokens)])
            except (OSError, asyncio.IncompleteReadError, httpx.HTTPError) as exc:
                status = -1
                print(f"request failed: {exc!r}")
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1

        tasks = []
        start = time.perf_counter()
        total = int(rate * seconds)
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return latencies, statuses


async def wait_until(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.2)


async def run(args: argparse.Namespace) -> None:
    load_before = f"{os.getloadavg()[0]:.2f}"
    url = await fresh_database("postgresql")
    await asyncio.to_thread(migrations.upgrade, ROOT / "intake-svc", url)
    prefix = f"benchintake{int(time.time())}"
    secret = ServiceSettings().internal_token_secret.get_secret_value()
    tokens = [
        {"x-motcua-identity": mint(Identity(subject=f"desk-{w}", role=Role.DESK_OFFICER, unit=w), secret, ttl=3600)}
        for w in WARDS
    ]
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}:{ROOT / 'intake-svc'}",
        "INTAKE_DATABASE_URL": url,
        "INTAKE_KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
        "INTAKE_TOPIC_PREFIX": prefix,
        "INTAKE_LOG_LEVEL": "WARNING",
        "INTAKE_DB_POOL_SIZE": str(args.pool),
    }
    cmd = [sys.executable, "-m", "uvicorn", "intake.main:app", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(args.workers), "--no-access-log", "--log-level", "warning",
           "--timeout-keep-alive", "60", *os.environ.get("BENCH_UVICORN_ARGS", "").split()]  # fmt: skip
    if os.environ.get("BENCH_PROFILE"):  # profile the server: python -m cProfile -o $BENCH_PROFILE -m uvicorn ...
        cmd[1:3] = ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"], "-m", "uvicorn"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)  # noqa: ASYNC220 (started once, before measuring)
    base = f"http://127.0.0.1:{port}"
    db = Database(url)
    try:

        async def up() -> bool:
            try:
                async with httpx.AsyncClient() as c:
                    return (await c.get(base + "/healthz")).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_until(up, 60)
        await feed_catalogue(prefix)

        async def replica_ready() -> bool:
            async with db.sessionmaker() as s:
                return bool(await s.scalar(select(func.count()).select_from(catalogue_replica.offerings)))

        await wait_until(replica_ready, 60)
        await closed_loop(args.client, base, tokens, 200, 16)  # warm-up

        kafka = [pid] if (pid := broker_pid()) else []
        service0, client0, pg0, kafka0 = (
            cpu_seconds(proc.pid),
            own_cpu(),
            process_cpu(await backend_pids(db)),
            process_cpu(kafka),
        )
        elapsed, statuses = await closed_loop(args.client, base, tokens, args.dossiers, args.concurrency)
        throughput = args.dossiers / elapsed
        pg1 = process_cpu(await backend_pids(db))  # backends opened during the run count from their start
        per = 1000 / args.dossiers
        service_ms, client_ms = (cpu_seconds(proc.pid) - service0) * per, (own_cpu() - client0) * per
        pg_ms, kafka_ms = cpu_used(pg0, pg1) * per, cpu_used(kafka0, process_cpu(kafka)) * per
        cpu_per = service_ms

        async def drained() -> bool:
            async with db.sessionmaker() as s:
                return not await s.scalar(select(func.count()).select_from(outbox))

        t0 = time.perf_counter()
        await wait_until(drained, 120)
        drain = time.perf_counter() - t0
        print(f"throughput: {throughput:.0f} dossiers/s {statuses}; server CPU {cpu_per:.1f} ms/dossier", flush=True)

        latencies, lat_statuses = await open_loop(args.client, base, tokens, args.rate, args.seconds)
        await wait_until(drained, 120)
        print(f"machine: {machine()}")
        print(
            f"date: {date.today().isoformat()}  uvicorn workers: {args.workers}  pool: {args.pool}  "
            f"client: {args.client}  load average before: {load_before}  after: {os.getloadavg()[0]:.2f}"
        )
        print(
            f"throughput: {args.dossiers} dossiers, concurrency {args.concurrency}: {throughput:.0f} dossiers/s "
            f"(statuses {statuses}); server CPU {cpu_per:.1f} ms per dossier; outbox drained {drain:.2f}s "
            "after the last "
            "answer"
        )
        print(
            f"CPU per dossier in the throughput phase: service {service_ms:.2f} ms, load generator {client_ms:.2f} ms, "
            f"PostgreSQL backends {pg_ms:.2f} ms (those alive at the end), Kafka broker {kafka_ms:.2f} ms; "
            f"total {service_ms + client_ms + pg_ms + kafka_ms:.2f} ms on {os.cpu_count()} cores"
        )
        print(
            f"latency at {args.rate:.0f}/s for {args.seconds:.0f}s: p50 {percentile(latencies, 50) * 1000:.1f} ms, "
            f"p99 {percentile(latencies, 99) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms "
            f"(statuses {lat_statuses})"
        )
    finally:
        await db.dispose()
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dossiers", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--keep-broker", action="store_true")
    parser.add_argument("--client", choices=sorted(CLIENTS), default="raw", help="load generator's HTTP client")
    args = parser.parse_args()
    subprocess.run([str(KAFKA_SH), "start", str(KAFKA_DIR), "49392", "49393"], check=True)
    try:
        asyncio.run(run(args))
    finally:
        if not args.keep_broker:
            subprocess.run([str(KAFKA_SH), "stop", str(KAFKA_DIR)], check=True)


if __name__ == "__main__":
    main()
