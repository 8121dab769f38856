"""The whole system for the fuzz tests: the five services and the gateway as real processes (sim.system, as `make
run` starts them) on the session's broker, the demo catalogue and the demo credentials; on PostgreSQL when
TEST_DATABASE_URL names a server (its strict types and text are where bad input most often broke), else SQLite."""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from services.identity import HEADER, Identity, Role, mint
from services.settings import ServiceSettings
from sim.system import SERVICES, Credentials, System
from tests.gateway.support import free_port

#: The demo staff of `gateway.tools.cli demo` by role.
STAFF = {"desk": "demo.desk", "specialist": "demo.specialist", "leader": "demo.leader", "admin": "demo.admin"}
DESK_UNIT = "000.00.31.H57"


@dataclass
class RunningSystem:
    system: System
    credentials: Credentials
    #: Client name (anonymous, portal, citizen, desk, specialist, leader, admin) → its request headers.
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def gateway(self) -> str:
        return self.system.gateway_url

    @property
    def providers(self) -> str:
        """The payment providers' simulator (`make run`'s `providers`): their APIs, and POST /pay."""
        return self.system.providers_url

    def service_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.system.ports[service]}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.gateway, timeout=30)


def internal_headers(role: Role, unit: str | None = None, subject: str = "fuzz") -> dict[str, str]:
    """What the gateway would forward to a service for a caller of `role`."""
    secret = ServiceSettings().internal_token_secret.get_secret_value()
    return {HEADER: mint(Identity(subject=subject, role=role, unit=unit), secret, ttl=3600)}


@contextmanager
def running_system(
    bootstrap: str, var: Path, postgres: str | None = None, env: dict[str, str] | None = None
) -> Iterator[RunningSystem]:
    """`postgres`: a server URL on which one database per service is made (and dropped after); None: SQLite.
    `env`: more settings for every process. Each process's output goes to `var/<name>.log`."""
    prefix = f"fz{uuid.uuid4().hex[:8]}"
    system = System(var=var, bootstrap=bootstrap, topic_prefix=prefix, postgres=postgres, db_prefix=prefix,
                    extra_env={"MOTCUA_CLOCK_FILE": "", **(env or {})})  # the real clock  # fmt: skip
    system.ports = {name: free_port() for name in (*SERVICES, "gateway")}
    system.providers_port = free_port()
    try:
        credentials = system.prepare()
        system.start()
        system.start_service("providers")  # the Procfile's, as `make run` starts it
        running = RunningSystem(system, credentials)
        running.headers = {
            "anonymous": {},
            "portal": {"X-API-Key": credentials.portal_key},
            "citizen": {"X-API-Key": credentials.portal_key, "X-Citizen-Id": "046095000123"},
        }
        with running.client() as client:
            for role, username in STAFF.items():
                r = client.post("/api/v1/auth/token",
                                json={"username": username, "password": credentials.passwords[username]})
                r.raise_for_status()
                running.headers[role] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        yield running
    finally:
        system.stop()
        if postgres is not None:
            drop_databases(postgres, prefix)


def drop_databases(url: str, prefix: str) -> None:
    async def drop() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            for name in (*SERVICES, "gateway"):
                await conn.execute(f'DROP DATABASE IF EXISTS "{prefix}_{name}" WITH (FORCE)')
        finally:
            await conn.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # callers may be inside a running event loop
        pool.submit(asyncio.run, drop()).result()
