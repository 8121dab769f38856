"""Every service starts from its migrations, answers health, readiness and metrics, and speaks problem+json."""

from __future__ import annotations

import importlib
import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.db import Database
from services.identity import HEADER, Identity, Role, mint
from tests.conftest import Broker, DatabaseFactory
from tests.harness import migrate, serve

SERVICES = ["catalogue", "intake", "routing", "payment", "stats"]


@pytest.mark.parametrize("name", SERVICES)
async def test_service_migrates_and_reports_health(
    name: str, databases: DatabaseFactory, broker: Broker, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = await databases.new(name)
    await migrate(f"{name}-svc", url)
    db = Database(url)
    async with db.engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    await db.dispose()
    assert {"outbox", "inbox", "relay_lease", "alembic_version"} <= tables
    # The migrations create exactly what the models describe (what `alembic check` verifies).
    metadata = importlib.import_module(f"{name}.models").Base.metadata
    db = Database(url)
    async with db.engine.connect() as conn:
        diffs = await conn.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), metadata)
        )
    await db.dispose()
    assert diffs == []

    prefix = name.upper() + "_"
    monkeypatch.setenv(prefix + "DATABASE_URL", url)
    monkeypatch.setenv(prefix + "KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap)
    monkeypatch.setenv(prefix + "TOPIC_PREFIX", topic_prefix)
    module = importlib.import_module(f"{name}.main")
    app = module.build_app(module.Settings())
    async with serve(app) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok", "service": name}
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "kafka": "ok"}
        metrics = await client.get("/metrics")
        assert "http_requests_total" in metrics.text
        missing = await client.get("/no/such/path", headers={"x-request-id": "abc-123"})
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.headers["x-request-id"] == "abc-123"
        assert missing.json()["status"] == 404
        wrong_method = await client.delete("/healthz")
        assert wrong_method.status_code == 405
        assert wrong_method.headers["content-type"] == "application/problem+json"


async def test_readiness_fails_when_the_database_is_unreachable(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATS_DATABASE_URL", "postgresql+asyncpg://nobody:x@127.0.0.1:1/none")
    monkeypatch.setenv("STATS_KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap)
    monkeypatch.setenv("STATS_RELAY_ENABLED", "false")
    module = importlib.import_module("stats.main")
    async with serve(module.build_app(module.Settings())) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"].startswith("error")
        assert (await client.get("/healthz")).status_code == 200


async def test_a_database_outage_is_a_503_not_a_500(broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATS_DATABASE_URL", "postgresql+asyncpg://nobody:x@127.0.0.1:1/none")
    monkeypatch.setenv("STATS_KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap)
    monkeypatch.setenv("STATS_RELAY_ENABLED", "false")
    monkeypatch.setenv("STATS_CONSUMERS_ENABLED", "false")
    module = importlib.import_module("stats.main")
    settings = module.Settings()
    token = mint(Identity(subject="admin", role=Role.ADMIN), settings.internal_token_secret.get_secret_value())
    async with serve(module.build_app(settings)) as client:
        r = await client.get(
            "/reports/quarterly", params={"from": "2021-05-16", "to": "2021-08-15"}, headers={HEADER: token}
        )
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["retry-after"] == "2"
        assert r.json()["type"].endswith("/database-unavailable")


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs a PostgreSQL server (TEST_DATABASE_URL)")
async def test_a_server_with_no_connection_left_is_a_503_not_a_500(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL's "too many clients" (SQLSTATE 53300), played by a role whose connection limit is 0
    admin = os.environ["TEST_DATABASE_URL"]
    engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        exists = await conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = 'motcua_no_slots'"))
        if not exists:
            await conn.execute(text("CREATE ROLE motcua_no_slots LOGIN PASSWORD 'x' CONNECTION LIMIT 0"))
    await engine.dispose()
    url = make_url(admin).set(username="motcua_no_slots", password="x").render_as_string(hide_password=False)
    monkeypatch.setenv("STATS_DATABASE_URL", url)
    monkeypatch.setenv("STATS_KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap)
    monkeypatch.setenv("STATS_RELAY_ENABLED", "false")
    monkeypatch.setenv("STATS_CONSUMERS_ENABLED", "false")
    module = importlib.import_module("stats.main")
    settings = module.Settings()
    token = mint(Identity(subject="admin", role=Role.ADMIN), settings.internal_token_secret.get_secret_value())
    async with serve(module.build_app(settings)) as client:
        r = await client.get(
            "/reports/quarterly", params={"from": "2021-05-16", "to": "2021-08-15"}, headers={HEADER: token}
        )
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "2"
        assert r.json()["type"].endswith("/database-unavailable")
