"""Gateway overhead: requests per second and latency through the gateway versus calling the service directly.

    .venv/bin/python -m bench.gateway [--seconds 10] [--concurrency 16] [--requests 3000]

Same machine, same run. The service is a minimal FastAPI app in its own uvicorn process whose endpoint verifies the
internal identity token (as every service does); the gateway runs in its own uvicorn process (``gateway.main:app``)
on a fresh SQLite database with a portal API key. Then the same request with a staff access token instead of the key,
through three gateways: as shipped (the token checked against its account, cached 5 s), with no account cache (a
database read per request), and with the signature checked only (the gateway before the account check; a variant
built here by `gateway_signature_only`). Latency: one keep-alive connection, sequential requests, p50/p90/p99.
Throughput: `concurrency` keep-alive connections for `seconds`. The load generator is a tiny raw HTTP/1.1 client, so
that it costs both sides the same.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi import FastAPI, Request

from bench.common import ROOT, machine, percentile
from services.identity import HEADER, Identity, Role, mint, verify

SECRET = "bench-internal-secret-0123456789-0123456789"

upstream_app = FastAPI()


@upstream_app.get("/items/{item_id}")
async def item(item_id: str, request: Request) -> dict[str, str]:
    who = verify(request.headers.get(HEADER, ""), SECRET)
    return {"id": item_id, "name": "Đăng ký khai sinh", "caller": who.role.value}


@upstream_app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *args, "--host", "127.0.0.1", "--no-access-log", "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def wait(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


class Conn:
    """One keep-alive HTTP/1.1 connection sending the same request over and over."""

    def __init__(self, port: int, request: bytes) -> None:
        self.port = port
        self.request = request

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def call(self) -> int:
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


def request_bytes(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: bench", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def latency(port: int, request: bytes, n: int) -> list[float]:
    conn = Conn(port, request)
    await conn.open()
    for _ in range(200):  # warm-up
        assert await conn.call() == 200
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        status = await conn.call()
        samples.append((time.perf_counter() - started) * 1000)
        assert status == 200, status
    conn.close()
    return samples


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) of process `pid` so far, or of this process when None."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def throughput(port: int, request: bytes, concurrency: int, seconds: float,
                     pids: dict[str, int | None]) -> tuple[float, dict[str, float]]:
    """Requests per second, and CPU microseconds per request of each process in `pids`."""
    conns = [Conn(port, request) for _ in range(concurrency)]
    for c in conns:
        await c.open()
    count = 0
    stop = time.perf_counter() + seconds
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}

    async def worker(c: Conn) -> None:
        nonlocal count
        while time.perf_counter() < stop:
            assert await c.call() == 200
            count += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - started
    cpu = {name: (cpu_seconds(pid) - cpu_before[name]) * 1e6 / count for name, pid in pids.items()}
    for c in conns:
        c.close()
    return count / elapsed, cpu


def gateway_signature_only() -> FastAPI:
    """The gateway with staff tokens checked as before the account check: signature and expiry only."""
    from gateway import auth, main

    class SignatureOnly(auth.StaffSessions):
        async def verify(self, token: str) -> Identity:
            return auth.verify_staff_token(token, self.settings)

    main.StaffSessions = SignatureOnly  # type: ignore[misc]
    return main.build_app()


STAFF = ("bench.desk", "Mật-khẩu-đo-0123456789")


async def account_check_cost(url: str, token: str, calls: int = 20_000, repeats: int = 5) -> dict[str, float]:
    """Microseconds per staff token in this process, best of `repeats` rounds of `calls`: the signature only, the
    account check with its cache (as shipped), and with a database read every time. The best round is the figure
    least disturbed by whatever else the machine runs."""
    from gateway.auth import StaffSessions, verify_staff_token
    from gateway.settings import Settings

    from services.db import Database

    settings = Settings(database_url=url)
    db = Database(url)
    cached = StaffSessions(db.sessionmaker, settings)
    uncached = StaffSessions(db.sessionmaker, settings.model_copy(update={"staff_account_cache_seconds": 0.0}))

    async def signature_only(token: str) -> Identity:
        return verify_staff_token(token, settings)

    results = {}
    try:
        for name, check, n in (("signature only", signature_only, calls), ("account checked (cached 5 s)",
                               cached.verify, calls), ("account checked (no cache)", uncached.verify, calls // 20)):
            await check(token)
            best = float("inf")
            for _ in range(repeats):
                started = time.perf_counter()
                for _ in range(n):
                    await check(token)
                best = min(best, (time.perf_counter() - started) / n * 1e6)
            results[name] = best
    finally:
        await db.dispose()
    return results


async def setup_gateway_db(url: str) -> str:
    sys.path.insert(0, str(ROOT / "gateway"))  # the gateway package lives in gateway/gateway
    from gateway.auth import create_api_key, create_staff
    from gateway.settings import Settings

    from services import migrations
    from services.db import Database

    await asyncio.to_thread(migrations.upgrade, ROOT / "gateway", url)
    db = Database(url)
    async with db.sessionmaker() as session:
        key = await create_api_key(session, Settings(database_url=url), client="bench-portal", role=Role.PORTAL)
        await create_staff(session, username=STAFF[0], password=STAFF[1], role=Role.DESK_OFFICER, unit="000.00.31.H57")
        await session.commit()
    await db.dispose()
    return key


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()

    db_path = ROOT / "var" / "bench" / f"gateway-{uuid.uuid4().hex[:6]}.db"
    db_path.parent.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite+aiosqlite:///{db_path}"
    os.environ["GATEWAY_API_KEY_PEPPER"] = "bench-pepper-0123456789"
    key = await setup_gateway_db(db_url)

    up_port = free_port()
    env = {"PYTHONPATH": f"{ROOT}:{ROOT / 'gateway'}", "MOTCUA_INTERNAL_TOKEN_SECRET": SECRET}
    gateway_env = {**env, "GATEWAY_DATABASE_URL": db_url, "GATEWAY_CATALOGUE_URL": f"http://127.0.0.1:{up_port}",
                   "GATEWAY_RATE_LIMIT_PORTAL": "100000000/minute", "GATEWAY_RATE_LIMIT_STAFF": "100000000/minute",
                   "GATEWAY_LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO")}  # fmt: skip
    upstream = start(["bench.gateway:upstream_app", "--port", str(up_port)], env)
    ports = {"gateway": free_port(), "no cache": free_port(), "signature only": free_port()}
    gateways = {
        "gateway": start(["gateway.main:app", "--port", str(ports["gateway"])], gateway_env),
        "no cache": start(["gateway.main:app", "--port", str(ports["no cache"])],
                          {**gateway_env, "GATEWAY_STAFF_ACCOUNT_CACHE_SECONDS": "0"}),
        "signature only": start(["--factory", "bench.gateway:gateway_signature_only",
                                 "--port", str(ports["signature only"])], gateway_env),
    }  # fmt: skip
    try:
        wait(f"http://127.0.0.1:{up_port}/healthz")
        for port in ports.values():
            wait(f"http://127.0.0.1:{port}/healthz")
        token = mint(Identity(subject="apikey:bench-portal", role=Role.PORTAL, scopes=frozenset({"x"})), SECRET,
                     ttl=3600)
        async with httpx.AsyncClient() as client:
            login = await client.post(f"http://127.0.0.1:{ports['gateway']}/api/v1/auth/token",
                                      json={"username": STAFF[0], "password": STAFF[1]})  # fmt: skip
        login.raise_for_status()
        staff = {"Authorization": f"Bearer {login.json()['access_token']}"}
        direct = request_bytes("/items/1.001234", {HEADER: token})
        through = request_bytes("/api/v1/catalogue/items/1.001234", {"X-API-Key": key})
        as_staff = request_bytes("/api/v1/catalogue/items/1.001234", staff)
        load = os.getloadavg()
        results = {}
        cpus = {}
        runs = (("direct", up_port, direct, None), ("gateway", ports["gateway"], through, "gateway"),
                ("staff, account checked (cached 5 s)", ports["gateway"], as_staff, "gateway"),
                ("staff, account checked (no cache)", ports["no cache"], as_staff, "no cache"),
                ("staff, signature only", ports["signature only"], as_staff, "signature only"))  # fmt: skip
        for name, port, req, process in runs:
            pids: dict[str, int | None] = {"load generator": None, "service": upstream.pid}
            if process is not None:
                pids["gateway"] = gateways[process].pid
            lat = await latency(port, req, args.requests)
            rps, cpus[name] = await throughput(port, req, args.concurrency, args.seconds, pids)
            results[name] = (percentile(lat, 50), percentile(lat, 90), percentile(lat, 99), rps)
        print(f"machine: {machine()}")
        print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average before the run "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {args.requests} sequential requests for latency, "
              f"{args.concurrency} connections × {args.seconds:g} s for throughput")
        width = max(len(name) for name in results)
        print(f"{'':<{width}} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'req/s':>9}   "
              "CPU µs per request (throughput run)")
        for name, (p50, p90, p99, rps) in results.items():
            cpu = ", ".join(f"{who} {us:.0f}" for who, us in cpus[name].items())
            print(f"{name:<{width}} {p50:8.2f} {p90:8.2f} {p99:8.2f} {rps:9.0f}   {cpu}")
        d, g = results["direct"], results["gateway"]
        print(f"added latency p50 {g[0] - d[0]:.2f} ms, p99 {g[2] - d[2]:.2f} ms; "
              f"gateway throughput {100 * g[3] / d[3]:.0f}% of direct")
        checked, uncached, signed = (results[f"staff, {n}"] for n in
                                     ("account checked (cached 5 s)", "account checked (no cache)", "signature only"))
        checked_cpu, signed_cpu = (cpus[f"staff, {n}"]["gateway"] for n in
                                   ("account checked (cached 5 s)", "signature only"))
        in_process = await account_check_cost(db_url, login.json()["access_token"])
        print("staff token in this process, µs per request (best of 5 rounds): "
              + ", ".join(f"{name} {us:.1f}" for name, us in in_process.items()))
        print(f"staff account check: throughput {100 * checked[3] / signed[3]:.0f}% of signature only "
              f"({100 * uncached[3] / signed[3]:.0f}% without the cache), gateway CPU "
              f"{checked_cpu - signed_cpu:+.0f} µs per request, p50 {checked[0] - signed[0]:+.2f} ms")
    finally:
        for proc in (*gateways.values(), upstream):
            proc.terminate()
            proc.wait(10)
        await asyncio.to_thread(Path(db_path).unlink, missing_ok=True)


if __name__ == "__main__":
    asyncio.run(main())
