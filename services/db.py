"""Async SQLAlchemy for SQLite (the embedded default) and PostgreSQL (production).

Each service has its own database and its own declarative base (`create_base`), which also carries the kernel's
outbox, inbox and relay-lease tables so that Alembic creates them in every service database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import BigInteger, DateTime, Dialect, Integer, MetaData, TypeDecorator, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import AsyncAdaptedQueuePool

from services import sqlite_inline

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


#: The session info key of the catalogue replica's memo (`services.catalogue_replica`): one dict per database,
#: shared by its sessions (a session's info is a shallow copy of its sessionmaker's).
REPLICA_MEMO = "motcua_replica_memo"

#: 64-bit keys on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer, "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset and hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"a timezone-aware datetime is required, got {value!r}")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def create_base() -> type[DeclarativeBase]:
    """A fresh declarative base for one service, with the kernel tables in its metadata."""
    from services.bus.tables import copy_bus_tables

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    copy_bus_tables(metadata)

    class Base(DeclarativeBase):
        pass

    Base.metadata = metadata
    Base.registry.metadata = metadata
    return Base


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


#: A statement's parameters are citizens' id numbers, phones and e-mails: a database error (logged with the 500 it
#: causes) and `echo` name the statement without them.
HIDE_PARAMETERS = True


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False, pre_ping: bool = True) -> AsyncEngine:
    if is_sqlite(url):
        return _sqlite_engine(url, echo=echo)
    engine = create_async_engine(
        url,
        echo=echo,
        hide_parameters=HIDE_PARAMETERS,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=pre_ping,
        pool_recycle=1800,
    )
    if not pre_ping:
        # The ping costs three round trips per checkout with asyncpg (BEGIN, a query, ROLLBACK). Without it, a
        # connection the server closed (restart, terminated backend, idle timeout) is still replaced at checkout:
        # asyncpg has seen its socket close, no round trip needed.
        @event.listens_for(engine.sync_engine, "checkout")
        def _replace_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            driver = getattr(dbapi_connection, "driver_connection", None)
            if driver is not None and driver.is_closed():
                raise DisconnectionError("the server closed this connection")

    return engine


def _sqlite_engine(url: str, *, echo: bool) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # SQLite takes one writer at a time. One pooled connection makes the writers of this process queue in order
    # in the pool instead of racing for the file lock (where a busy handler can starve some past any timeout), and
    # keeps the connection and its pragmas across transactions. Its statements run on the event loop's thread
    # (services/sqlite_inline.py); another process on the same file (tools, tests) is waited for asynchronously,
    # up to 30 s.
    engine = create_async_engine(
        url,
        echo=echo,
        hide_parameters=HIDE_PARAMETERS,
        poolclass=AsyncAdaptedQueuePool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=120,
        async_creator=sqlite_inline.connector(parsed.database or ":memory:", busy_timeout=30),
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's implicit transactions are off).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # SQLite's default page cache is 2 MiB: a quarter's database (100 MB and more) would be read through a
        # system call per page that misses it. Pages now come from a 64 MiB cache, and reads beyond it map the
        # file instead of copying it.
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute("PRAGMA mmap_size=1073741824")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: two transactions that read then write cannot deadlock on the
        # lock upgrade, and a busy database makes the second one wait (up to 30 s) instead of failing.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    """The engine and session factory of one service."""

    def __init__(
        self, url: str, *, service: str = "", pool_size: int = 10, echo: bool = False, pre_ping: bool = True
    ) -> None:
        self.url = url
        self.service = service
        self.engine = create_engine(url, pool_size=pool_size, echo=echo, pre_ping=pre_ping)
        self.sessionmaker = async_sessionmaker(
            self.engine,
            expire_on_commit=False,
            autoflush=False,
            info={"motcua_service": service, REPLICA_MEMO: {}},
        )
        self.dialect = self.engine.dialect.name

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def create_all(self, metadata: MetaData) -> None:
        """For tests and tools; services use their Alembic migrations."""
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def dispose(self) -> None:
        await self.engine.dispose()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session and one transaction per request: committed when the endpoint returns, rolled back on error.

    Endpoints and services never commit; with `scope="function"` the commit happens before the response is sent,
    so a failed commit becomes an error response instead of a lost write.
    """
    db: Database = request.app.state.db
    async with db.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
