"""payment-svc: verified webhooks per second through the service, and VietQR generation per second.

    python -m bench.payment_webhooks [--payments 4000] [--concurrency 64] [--workers 2] [--backend postgresql]

Webhooks: N bills with a pending payOS payment each are seeded in a fresh database; payment-svc runs as a uvicorn
process (outbox relay on, publishing to a broker of its own); a client sends one correctly signed payOS webhook per
payment (plus 10 % duplicates) with a wallet identity, `concurrency` at a time. Each one is verified (identity
token, HMAC), deduplicated, checked against the bill and applied with its ledger rows and event in one transaction.
The figure is requests answered per second; afterwards every payment must be paid exactly once.

QR: payloads built per second, and PNG / SVG images rendered per second (segno), in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, insert, select

from bench.common import KAFKA_SH, ROOT, backends, fresh_database, machine, percentile
from services import migrations
from services.db import Database
from services.identity import HEADER, Identity, Role, mint

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
    base: str, requests: list[bytes], token: str, concurrency: int
) -> tuple[float, list[float], dict[int, int]]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in requests:
        queue.put_nowait(body)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {HEADER: token, "content-type": "application/json"}
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

        async def worker() -> None:
            while True:
                try:
                    body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t0 = time.perf_counter()
                try:
                    response = await client.post("/webhooks/payos", content=body, headers=headers)
                    code = response.status_code
                except httpx.TransportError:  # like a provider: retry later
                    code = 0
                    queue.put_nowait(body)
                latencies.append(time.perf_counter() - t0)
                statuses[code] = statuses.get(code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, statuses


async def webhooks(backend: str, n: int, concurrency: int, workers: int) -> dict[str, object]:
    url = await fresh_database(backend)
    if backend == "postgresql" and "@127.0.0.1" in url and "ssl=" not in url:
        url += "?ssl=disable"  # local server: measure the service, not TLS to localhost
    await asyncio.to_thread(migrations.upgrade, ROOT / "payment-svc", url)
    pairs = await seed(url, n)
    settings = Settings()
    provider = PayOSProvider(settings.payos_checksum_key.get_secret_value())
    bodies = [provider.simulate(ref, 50_000, f"FT{ref}").body for _, ref in pairs]
    bodies += random.sample(bodies, n // 10)  # provider retries
    random.shuffle(bodies)
    token = mint(
        Identity(subject="bench-wallet", role=Role.WALLET), settings.internal_token_secret.get_secret_value(), ttl=3600
    )

    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'payment-svc'}",
        "PAYMENT_DATABASE_URL": url,
        "PAYMENT_KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
        "PAYMENT_TOPIC_PREFIX": f"benchpay{int(time.time())}",
        "PAYMENT_LOG_LEVEL": "WARNING",
        "PAYMENT_DB_POOL_SIZE": "20",
        "PAYMENT_EXPIRY_SWEEP_INTERVAL": "0",
    }
    cmd = [sys.executable, "-m", "uvicorn", "payment.main:app", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--no-access-log", "--log-level", "warning"]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(*cmd, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as probe:
            for _ in range(300):
                try:
                    if (await probe.get(f"{base}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        await fire(base, bodies[:50], token, 8)  # warm-up: connections, caches (these count as duplicates later)
        elapsed, latencies, statuses = await fire(base, bodies, token, concurrency)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)
    db = Database(url)
    async with db.sessionmaker() as session:
        paid = await session.scalar(select(func.count()).select_from(Payment).where(Payment.status == "paid"))
        transitions = await session.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(LedgerEntry.to_status == "paid", LedgerEntry.kind == "transition")
        )
    await db.dispose()
    assert paid == n and transitions == n, (paid, transitions)
    return {
        "backend": backend,
        "requests": len(bodies),
        "per_second": len(bodies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "statuses": statuses,
        "workers": workers,
        "concurrency": concurrency,
    }


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default=None)
    args = parser.parse_args()
    print(f"machine: {machine()}  date: {datetime.now(UTC):%Y-%m-%d}")
    print("qr:", {k: round(v) for k, v in qr_rates().items()})
    subprocess.run([str(KAFKA_SH), "start", str(KAFKA_DIR), str(KAFKA_PORT), str(KAFKA_CONTROLLER_PORT)], check=True)
    try:
        for backend in [args.backend] if args.backend else backends():
            workers = args.workers if backend == "postgresql" else 1  # SQLite: one writer process
            result = asyncio.run(webhooks(backend, args.payments, args.concurrency, workers))
            print("webhooks:", {k: round(v, 1) if isinstance(v, float) else v for k, v in result.items()})
    finally:
        subprocess.run([str(KAFKA_SH), "stop", str(KAFKA_DIR)], check=True)


if __name__ == "__main__":
    main()
