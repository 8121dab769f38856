"""payment-svc: verified provider callbacks per second, sent to the service directly and through the gateway in the
same run, and VietQR generation per second.

    python -m bench.payment_webhooks [--payments 4000] [--concurrency 64] [--workers 2] [--backend postgresql]
                                     [--profile var/payment.prof] [--direct-only]

Callbacks: 2 × N bills with a pending payOS payment each are seeded in a fresh database; payment-svc runs as a
uvicorn process (outbox relay on, publishing to a broker of its own) and the gateway as another, in front of it. A
client sends one correctly signed payOS webhook per payment (plus 10 % duplicates), exactly as payOS does (no key,
no header of ours), `concurrency` at a time: first N payments' webhooks to payment-svc's /webhooks/payos directly
(the anchor), then the other N's to the gateway's public /api/v1/callbacks/payos. Each one is verified (HMAC),
deduplicated, checked against the bill and applied with its ledger rows and event in a committed transaction before
it is answered. The figures are requests answered per second and the ratio gateway ÷ direct; afterwards every
payment must be paid exactly once (one paid transition each).

Besides the rate it prints the CPU spent per request by the service's processes and by the PostgreSQL backends
serving it (from /proc): on a machine shared with other work the rate is a floor, the CPU cost is not.
The client is aiohttp (cheaper per request than httpx; it shares the CPU with the service). `--profile` runs the
service (one worker) under cProfile and writes the stats to that file.

QR: payloads built per second, and PNG / SVG images rendered per second (segno), in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import random
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import httpx
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from bench.common import KAFKA_SH, ROOT, backends, fresh_database, machine, percentile
from services import migrations
from services.db import Database

sys.path.insert(0, str(ROOT / "payment-svc"))

from payment.models import Bill, LedgerEntry, Payment
from payment.providers import PayOSProvider
from payment.settings import Settings
from payment.vietqr import build_payload, qr_png, qr_svg

KAFKA_DIR = ROOT / "var" / "bench-kafka-payment"
KAFKA_PORT, KAFKA_CONTROLLER_PORT = 49492, 49493
BOOTSTRAP = f"127.0.0.1:{KAFKA_PORT}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def seed(url: str, n: int) -> list[tuple[str, str]]:
    """N open bills with one pending payOS payment each; returns (payment id, order ref)."""
    db = Database(url)
    now = datetime.now(UTC)
    out: list[tuple[str, str]] = []
    async with db.sessionmaker() as session, session.begin():
        for start in range(0, n, 1000):
            bills, payments = [], []
            for i in range(start, min(start + 1000, n)):
                bill_id, payment_id = str(uuid.uuid4()), str(uuid.uuid4())
                order_ref = str(10**14 + i)
                bills.append(
                    dict(
                        id=bill_id, dossier_id=str(uuid.uuid4()), dossier_code=f"000.00.31.H57-241001-{i % 10000:04d}",
                        receiving_unit="000.00.31.H57", procedure_code="1.001234", field_code="G09-TP01",
                        dossier_channel="online", amount=50_000, currency="VND",
                        items=[{"code": "LP", "name": "Lệ phí", "amount": 50_000}], status="open",
                        created_at=now, updated_at=now,
                    )
                )  # fmt: skip
                payments.append(
                    dict(
                        id=payment_id, bill_id=bill_id, order_ref=order_ref, provider="payos", amount=50_000,
                        currency="VND", status="pending", refunded_amount=0, created_at=now, updated_at=now,
                        expires_at=now + timedelta(hours=2), started_by="bench",
                    )
                )  # fmt: skip
                out.append((payment_id, order_ref))
            await session.execute(insert(Bill), bills)
            await session.execute(insert(Payment), payments)
    await db.dispose()
    return out


async def fire(
    base: str, path: str, requests: list[bytes], concurrency: int
) -> tuple[float, list[float], dict[int, int]]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in requests:
        queue.put_nowait(body)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    headers = {"content-type": "application/json"}  # what payOS sends
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        base_url=base, connector=connector, timeout=aiohttp.ClientTimeout(total=60)
    ) as client:

        async def worker() -> None:
            while True:
                try:
                    body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t0 = time.perf_counter()
                try:
                    async with client.post(path, data=body, headers=headers) as response:
                        await response.read()
                        code = response.status
                except (aiohttp.ClientError, TimeoutError):  # like a provider: retry later
                    code = 0
                    queue.put_nowait(body)
                latencies.append(time.perf_counter() - t0)
                statuses[code] = statuses.get(code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, statuses


# uvicorn re-raises SIGTERM after its graceful shutdown; a handler installed first turns it into SystemExit, which
# lets cProfile write its file.
PROFILED_UVICORN = """
import cProfile, signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
out, sys.argv = sys.argv[1], ["uvicorn", *sys.argv[2:]]
from uvicorn.main import main
profile = cProfile.Profile(time.process_time)  # CPU time: other processes on the machine do not count
try:
    profile.runcall(main)
except SystemExit:
    pass
finally:
    profile.dump_stats(out)
"""


def batch_sizes(metrics: str) -> float:
    """Mean notifications per transaction, from one worker's /metrics (group commit)."""
    values = {}
    for line in metrics.splitlines():
        name, _, value = line.partition(" ")
        if name in ("payment_webhook_batch_size_sum", "payment_webhook_batch_size_count"):
            values[name] = float(value)
    count = values.get("payment_webhook_batch_size_count", 0.0)
    return values.get("payment_webhook_batch_size_sum", 0.0) / count if count else float("nan")


TICKS = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) of a process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used so far by a process and all its descendants (uvicorn's worker processes)."""
    stats = {int(p.name): _proc_stat(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit()}
    children: dict[int, list[int]] = {}
    for pid, stat in stats.items():
        if stat is not None:
            children.setdefault(stat[0], []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        stat = stats.get(pid)
        total += stat[1] if stat else 0.0
        todo += children.get(pid, [])
    return total


def postgres_cpu_seconds(database: str) -> float:
    """CPU seconds of the PostgreSQL backends connected to `database` (process title "postgres: user db …")."""
    total = 0.0
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            title = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres: ") and f" {database} " in title:
            stat = _proc_stat(int(p.name))
            total += stat[1] if stat else 0.0
    return total


async def wait_healthy(base: str) -> None:
    async with httpx.AsyncClient() as probe:
        for _ in range(300):
            try:
                if (await probe.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{base} did not start")


async def measure(base: str, path: str, bodies: list[bytes], concurrency: int, pids: list[int],
                  database: str, backend: str) -> dict[str, object]:
    cpu = sum(tree_cpu_seconds(pid) for pid in pids)
    db_cpu = postgres_cpu_seconds(database)
    client_cpu = time.process_time()
    elapsed, latencies, statuses = await fire(base, path, bodies, concurrency)
    return {
        "requests": len(bodies),
        "per_second": len(bodies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "service_cpu_ms_per_request": (sum(tree_cpu_seconds(pid) for pid in pids) - cpu) / len(bodies) * 1000,
        "postgres_cpu_ms_per_request": (postgres_cpu_seconds(database) - db_cpu) / len(bodies) * 1000
        if backend == "postgresql" else float("nan"),
        "client_cpu_ms_per_request": (time.process_time() - client_cpu) / len(bodies) * 1000,
        "statuses": statuses,
    }


async def webhooks(
    backend: str, n: int, concurrency: int, workers: int, profile: str | None = None, direct_only: bool = False
) -> dict[str, object]:
    url = await fresh_database(backend)
    if backend == "postgresql" and "@127.0.0.1" in url and "ssl=" not in url:
        url += "?ssl=disable"  # local server: measure the service, not TLS to localhost
    await asyncio.to_thread(migrations.upgrade, ROOT / "payment-svc", url)
    pairs = await seed(url, 2 * n)
    settings = Settings()
    provider = PayOSProvider(settings.payos_checksum_key.get_secret_value())

    def bodies_for(chunk: list[tuple[str, str]]) -> list[bytes]:
        bodies = [provider.simulate(ref, 50_000, f"FT{ref}").body for _, ref in chunk]
        bodies += random.sample(bodies, len(chunk) // 10)  # provider retries
        random.shuffle(bodies)
        return bodies

    direct_bodies, gateway_bodies = bodies_for(pairs[:n]), bodies_for(pairs[n:])

    port, gateway_port = free_port(), free_port()
    gateway_db = ROOT / "var" / "bench" / f"bench-gateway-{uuid.uuid4().hex[:6]}.db"
    gateway_db.parent.mkdir(parents=True, exist_ok=True)
    gateway_url = f"sqlite+aiosqlite:///{gateway_db}"
    await asyncio.to_thread(migrations.upgrade, ROOT / "gateway", gateway_url)
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'payment-svc'}{os.pathsep}{ROOT / 'gateway'}",
        "PAYMENT_DATABASE_URL": url,
        "PAYMENT_KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
        "PAYMENT_TOPIC_PREFIX": f"benchpay{int(time.time())}",
        "PAYMENT_LOG_LEVEL": "WARNING",
        "PAYMENT_DB_POOL_SIZE": "20",
        "PAYMENT_EXPIRY_SWEEP_INTERVAL": "0",
        "GATEWAY_DATABASE_URL": gateway_url,
        "GATEWAY_PAYMENT_URL": f"http://127.0.0.1:{port}",
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_RATE_LIMIT_CALLBACK": "100000000/minute",  # one source address sends everything here
    }
    uvicorn = ["-c", PROFILED_UVICORN, profile] if profile else ["-m", "uvicorn"]
    cmd = [sys.executable, *uvicorn, "payment.main:app", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--no-access-log", "--log-level", "warning"]  # fmt: skip
    gateway_cmd = [sys.executable, "-m", "uvicorn", "gateway.main:app", "--host", "127.0.0.1",
                   "--port", str(gateway_port), "--workers", str(workers), "--no-access-log",
                   "--log-level", "warning"]  # fmt: skip
    database = make_url(url).database or ""
    proc = await asyncio.create_subprocess_exec(*cmd, env=env)
    gateway = await asyncio.create_subprocess_exec(*gateway_cmd, env=env)
    base, gateway_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{gateway_port}"
    result: dict[str, object] = {"backend": backend, "workers": workers, "concurrency": concurrency}
    try:
        await wait_healthy(base)
        await wait_healthy(gateway_base)
        # warm-up: connections, caches (these count as duplicates later)
        await fire(base, "/webhooks/payos", direct_bodies[:50], 8)
        await fire(gateway_base, "/api/v1/callbacks/payos", gateway_bodies[:50], 8)
        direct = await measure(base, "/webhooks/payos", direct_bodies, concurrency, [proc.pid], database, backend)
        async with httpx.AsyncClient() as probe:
            result["mean_batch"] = batch_sizes((await probe.get(f"{base}/metrics")).text)
        result["direct"] = direct
        if not direct_only:
            through = await measure(gateway_base, "/api/v1/callbacks/payos", gateway_bodies, concurrency,
                                    [proc.pid, gateway.pid], database, backend)
            result["gateway"] = through
            result["gateway_over_direct"] = float(through["per_second"]) / float(direct["per_second"])  # type: ignore[arg-type]
    finally:
        for p in (proc, gateway):
            p.terminate()
        for p in (proc, gateway):
            await asyncio.wait_for(p.wait(), 20)
        gateway_db.unlink(missing_ok=True)
    expected = n if direct_only else 2 * n
    db = Database(url)
    async with db.sessionmaker() as session:
        paid = await session.scalar(select(func.count()).select_from(Payment).where(Payment.status == "paid"))
        transitions = await session.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(LedgerEntry.to_status == "paid", LedgerEntry.kind == "transition")
        )
        paid_once = await session.scalar(
            select(func.count(func.distinct(LedgerEntry.payment_id))).where(
                LedgerEntry.to_status == "paid", LedgerEntry.kind == "transition"
            )
        )
    await db.dispose()
    assert paid == expected and transitions == expected and paid_once == expected, (paid, transitions, paid_once)
    return result


def qr_rates(seconds: float = 3.0) -> dict[str, float]:
    def rate(fn: object) -> float:
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            fn()  # type: ignore[operator]
            count += 1
        return count / (time.perf_counter() - started)

    i = iter(range(10**9))

    def payload() -> str:
        return build_payload("970415", "113366668888", 50_000 + next(i), purpose="LE PHI 123456789012345",
                             bill_number="000.00.31.H57-241001-0001", reference="123456789012345")  # fmt: skip

    sample = payload()
    return {
        "payload_per_second": rate(payload),
        "png_per_second": rate(lambda: qr_png(sample)),
        "svg_per_second": rate(lambda: qr_svg(sample)),
    }


def _rounded(value: object) -> object:
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default=None)
    parser.add_argument("--profile", help="run the service (one worker) under cProfile; stats to this file")
    parser.add_argument("--no-qr", action="store_true", help="skip the QR generation rates")
    parser.add_argument("--direct-only", action="store_true", help="only the service directly (no gateway)")
    args = parser.parse_args()
    print(f"machine: {machine()}  date: {datetime.now(UTC):%Y-%m-%d}")
    print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    if not args.no_qr:
        print("qr:", {k: round(v) for k, v in qr_rates().items()})
    subprocess.run([str(KAFKA_SH), "start", str(KAFKA_DIR), str(KAFKA_PORT), str(KAFKA_CONTROLLER_PORT)], check=True)
    try:
        for backend in [args.backend] if args.backend else backends():
            workers = args.workers if backend == "postgresql" else 1  # SQLite: one writer process
            if args.profile:
                workers = 1
            result = asyncio.run(webhooks(backend, args.payments, args.concurrency, workers, args.profile,
                                          args.direct_only))
            print("callbacks:", json.dumps(_rounded(result)))
            print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
            if args.profile:
                pstats.Stats(args.profile).sort_stats("tottime").print_stats(25)
    finally:
        subprocess.run([str(KAFKA_SH), "stop", str(KAFKA_DIR)], check=True)


if __name__ == "__main__":
    main()
