"""The kernel's tables: the transactional outbox, the consumer inbox and the relay lease.

They are defined once here and copied into each service's metadata (for Alembic); the kernel's statements use
these definitions, which compile to the same SQL in every service database.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    func,
)

bus_metadata = MetaData()

outbox = Table(
    "outbox",
    bus_metadata,
    # The id orders publication: the relay sends rows in id order, which keeps per-key order.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("topic", String(249), nullable=False),
    Column("key", String(255), nullable=True),
    Column("value", LargeBinary, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

inbox = Table(
    "inbox",
    bus_metadata,
    Column("consumer", String(100), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

relay_lease = Table(
    "relay_lease",
    bus_metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", Float, nullable=False),
)


def copy_bus_tables(metadata: MetaData) -> None:
    for table in (outbox, inbox, relay_lease):
        if table.name not in metadata.tables:
            table.to_metadata(metadata)
