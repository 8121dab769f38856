"""Real processes for the gateway tests: upstream services (uvicorn subprocesses) and the gateway itself (uvicorn in
the test's event loop, on a real socket, against a migrated database)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from gateway.auth import create_api_key, create_staff
from gateway.main import build_app
from gateway.settings import Settings
from limits import parse

from services.identity import Role
from tests.harness import ROOT, migrate

FAMILIES = {"catalogue": "catalogue", "dossiers": "intake", "routing": "routing", "payments": "payment",
            "stats": "stats"}
DESK_UNIT = "000.00.31.H57"
OTHER_UNIT = "000.00.32.H57"


async def clear_of_window_edge(limit: str, margin: float = 5.0) -> None:
    """Wait, if need be, until a flood counted against `limit` cannot straddle one of its windows' edges.

    The sliding-window counter weighs the previous window's hits by the share of it still in the rolling window and
    floors the sum, so a flood split by an edge (windows start at multiples of the period since the epoch) is admitted
    one hit more than its limit. CI once began a flood 0.1 s before a minute turned and saw a sixth 200."""
    period = parse(limit).get_expiry()
    left = period - time.time() % period
    if left < margin:
        await asyncio.sleep(left + 0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Upstream:
    """A test service in its own process."""

    def __init__(self, name: str, port: int | None = None) -> None:
        self.name = name
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "UPSTREAM_NAME": self.name}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "tests.gateway.upstream:app", "--host", "127.0.0.1",
             "--port", str(self.port), "--no-access-log", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def wait(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"upstream {self.name} did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


@dataclass
class Running:
    url: str
    settings: Settings
    app: Any
    creds: dict[str, dict[str, str]] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30)


PASSWORD = "Mật-khẩu-thử-0123"


@asynccontextmanager
async def run_gateway(db_url: str, upstreams: dict[str, str], **overrides: Any) -> AsyncIterator[Running]:
    """Migrates `db_url`, creates one credential of every client type, serves the gateway on a free port."""
    await migrate("gateway", db_url)
    settings = Settings(
        database_url=db_url,
        catalogue_url=upstreams["catalogue"],
        intake_url=upstreams["dossiers"],
        routing_url=upstreams["routing"],
        payment_url=upstreams["payments"],
        stats_url=upstreams["stats"],
        log_json=True,
        log_level="WARNING",
        **overrides,
    )
    app = build_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        running = Running(url=f"http://127.0.0.1:{port}", settings=settings, app=app)
        await _seed(running)
        yield running
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _seed(running: Running) -> None:
    db = running.app.state.db
    settings = running.settings
    async with db.sessionmaker() as session:
        for name, role, scopes in (
            ("portal", Role.PORTAL, None),
            ("wallet", Role.WALLET, None),
            ("integration", Role.INTEGRATION, ["catalogue:read", "stats:read"]),
        ):
            key = await create_api_key(session, settings, client=name, role=role, scopes=scopes)
            running.creds[name] = {"X-API-Key": key}
        for username, role, unit in (
            ("desk", Role.DESK_OFFICER, DESK_UNIT),
            ("specialist", Role.SPECIALIST, "000.20.31.H57"),
            ("leader", Role.LEADER, DESK_UNIT),
            ("admin", Role.ADMIN, None),
        ):
            await create_staff(session, username=username, password=PASSWORD, role=role, unit=unit)
        await session.commit()
    async with running.client() as client:
        for username in ("desk", "specialist", "leader", "admin"):
            r = await client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            running.creds[username] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    running.creds["citizen"] = {**running.creds["portal"], "X-Citizen-Id": "046090001234"}


async def raw_request(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends bytes as they are (no client-side normalisation) and reads the whole answer."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body
