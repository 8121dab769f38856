"""Alembic environment shared by every service: each service's migrations/env.py calls `run(metadata, url)`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import context
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from services.db import is_sqlite


def _configure(connection: Connection | None, metadata: MetaData, url: str) -> None:
    context.configure(
        connection=connection,
        url=None if connection is not None else url,
        target_metadata=metadata,
        render_as_batch=is_sqlite(url),  # SQLite alters tables by copying them
        compare_type=True,
        literal_binds=connection is None,
    )


def _run_sync(connection: Connection, metadata: MetaData, url: str) -> None:
    _configure(connection, metadata, url)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(metadata: MetaData, url: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync, metadata, url)
        await connection.commit()
    await engine.dispose()


def run(metadata: MetaData, url: str) -> None:
    """Called by each service's env.py with its settings' URL; `upgrade(...)` may override it."""
    url = context.config.attributes.get("database_url") or url
    if is_sqlite(url):
        from sqlalchemy.engine import make_url

        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    if context.is_offline_mode():
        _configure(None, metadata, url)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(_run_online(metadata, url))


def create_bus_tables_v1() -> None:
    """The first migration of every service: the kernel's outbox, inbox and relay lease, as they were in version 1.

    A snapshot on purpose: a later change to `services/bus/tables.py` comes with a new helper (v2) and a revision in
    every service, and this one keeps creating exactly what the services' revision 0001 created.
    """
    import sqlalchemy as sa
    from alembic import op

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("key", sa.String(255), nullable=True),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        "relay_lease",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )


def drop_bus_tables_v1() -> None:
    from alembic import op

    for name in ("relay_lease", "inbox", "outbox"):
        op.drop_table(name)


def create_replica_tables_v1() -> None:
    """The catalogue replica's tables (`services.catalogue_replica`) in a consumer's migration, as they were in
    version 1: a snapshot, like `create_bus_tables_v1`."""
    import sqlalchemy as sa
    from alembic import op

    op.create_table(
        "catalogue_replica_calendar",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("days", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_catalogue_replica_calendar")),
    )
    op.create_table(
        "catalogue_replica_offerings",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("agency_id", sa.String(length=40), nullable=False),
        sa.Column("online_level", sa.String(length=20), nullable=False),
        sa.Column("postal", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("code", "agency_id", name=op.f("pk_catalogue_replica_offerings")),
    )
    op.create_table(
        "catalogue_replica_procedures",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_catalogue_replica_procedures")),
    )
    op.create_table(
        "catalogue_replica_units",
        sa.Column("agency_id", sa.String(length=40), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.String(length=40), nullable=True),
        sa.Column("level", sa.String(length=30), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("agency_id", name=op.f("pk_catalogue_replica_units")),
    )
    op.create_table(
        "catalogue_replica_versions",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("field_code", sa.String(length=40), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("code", "version", name=op.f("pk_catalogue_replica_versions")),
    )


def drop_replica_tables_v1() -> None:
    from alembic import op

    for name in (
        "catalogue_replica_versions",
        "catalogue_replica_units",
        "catalogue_replica_procedures",
        "catalogue_replica_offerings",
        "catalogue_replica_calendar",
    ):
        op.drop_table(name)


def upgrade(service_dir: str | Path, url: str, revision: str = "head") -> None:
    """Run a service's migrations against `url` (blocking; from async code use `asyncio.to_thread`)."""
    from alembic import command
    from alembic.config import Config

    config = Config(str(Path(service_dir) / "alembic.ini"))
    config.attributes["database_url"] = url
    command.upgrade(config, revision)
