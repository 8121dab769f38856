"""Test infrastructure: a real Kafka broker for the session, and real databases (SQLite always, PostgreSQL when
TEST_DATABASE_URL points at a server where the test user may create databases)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

# The tests run on the development secrets (services refuse them otherwise, services/settings.py); the processes
# they start inherit this. Tests of the refusal itself pass dev_mode=False.
os.environ["MOTCUA_DEV_MODE"] = "true"

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"
# Ports away from `make run`'s 9092/9093 so that tests can run next to a running system.
KAFKA_PORT = int(os.environ.get("TEST_KAFKA_PORT", "39092"))
KAFKA_CONTROLLER_PORT = int(os.environ.get("TEST_KAFKA_CONTROLLER_PORT", "39093"))


class Broker:
    """The session's Kafka broker; tests that simulate an outage stop and start it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.bootstrap = f"127.0.0.1:{KAFKA_PORT}"

    def start(self) -> None:
        subprocess.run(
            [str(KAFKA_SH), "start", str(self.directory), str(KAFKA_PORT), str(KAFKA_CONTROLLER_PORT)],
            check=True,
        )

    def stop(self) -> None:
        subprocess.run([str(KAFKA_SH), "stop", str(self.directory)], check=True)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = Broker(tmp_path_factory.mktemp("kafka"))
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def topic_prefix() -> str:
    """A prefix of its own for each test, so tests never see each other's events."""
    return f"t{uuid.uuid4().hex[:10]}"


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get("TEST_DATABASE_URL") else ["sqlite"]


@pytest.fixture(params=_backends())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class DatabaseFactory:
    """Creates empty databases of one backend for a test and drops them afterwards."""

    def __init__(self, backend: str, tmp_path: Path) -> None:
        self.backend = backend
        self.tmp_path = tmp_path
        self.created: list[str] = []

    async def new(self, label: str = "db") -> str:
        if self.backend == "sqlite":
            return f"sqlite+aiosqlite:///{self.tmp_path / f'{label}-{uuid.uuid4().hex[:6]}.db'}"
        admin_url = os.environ["TEST_DATABASE_URL"]
        name = f"motcua_test_{label}_{uuid.uuid4().hex[:8]}"
        engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await engine.dispose()
        self.created.append(name)
        return make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    async def drop_all(self) -> None:
        if not self.created:
            return
        engine = create_async_engine(os.environ["TEST_DATABASE_URL"], isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            for name in self.created:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await engine.dispose()


@pytest.fixture
async def databases(backend: str, tmp_path: Path) -> AsyncIterator[DatabaseFactory]:
    factory = DatabaseFactory(backend, tmp_path)
    try:
        yield factory
    finally:
        await factory.drop_all()
