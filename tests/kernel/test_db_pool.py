"""The pool without its ping round trips (`db_pool_pre_ping` off) still replaces connections the server closed."""

from __future__ import annotations

import asyncio
import os

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.db import Database
from tests.conftest import DatabaseFactory


async def end_every_backend(url: str) -> None:
    """What a PostgreSQL restart does to a service's pool: the server ends every backend of the database."""
    if make_url(url).get_backend_name() == "sqlite":
        return  # an embedded file: there is no server that could close the connection
    name = make_url(url).database
    engine = create_async_engine(os.environ["TEST_DATABASE_URL"], isolation_level="AUTOCOMMIT")
    others = "datname = :name AND pid <> pg_backend_pid()"
    try:
        async with engine.connect() as conn:
            await conn.execute(
                text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {others}"), {"name": name}
            )
            left = None
            for _ in range(300):
                left = await conn.scalar(text(f"SELECT count(*) FROM pg_stat_activity WHERE {others}"), {"name": name})
                if not left:
                    break
                await asyncio.sleep(0.05)
            assert not left, "the backends did not end"
    finally:
        await engine.dispose()


async def test_connections_closed_by_the_server_are_replaced_without_a_ping(databases: DatabaseFactory) -> None:
    url = await databases.new("pool")
    db = Database(url, pool_size=4, pre_ping=False)
    try:

        async def work() -> int:
            async with db.sessionmaker() as session, session.begin():
                await asyncio.sleep(0.05)  # hold the connection so that the four run on four connections
                return int(await session.scalar(text("SELECT 1")) or 0)

        assert await asyncio.gather(*(work() for _ in range(4))) == [1] * 4
        await end_every_backend(url)
        # every pooled connection is dead now; each checkout must notice and connect again
        assert await asyncio.gather(*(work() for _ in range(4))) == [1] * 4
    finally:
        await db.dispose()
