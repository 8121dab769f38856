"""Every service's migrations go both ways, on SQLite and PostgreSQL: upgrade to head, downgrade to base, upgrade
again, each downgrade leaving the schema its revision had on the way up; and rows written at every older revision
survive the later revisions (and the downgrades back to it)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import DatabaseFactory
from tests.harness import ROOT

SERVICES = ["catalogue-svc", "intake-svc", "routing-svc", "payment-svc", "stats-svc", "connect-svc", "gateway"]
BASE = "base"

Schema = dict[str, Any]
Rows = dict[str, dict[str, Any]]


class Migrations:
    """One service's Alembic history run against one database."""

    def __init__(self, service: str, url: str) -> None:
        self.config = Config(str(ROOT / service / "alembic.ini"))
        self.config.attributes["database_url"] = url
        self.url = url
        script = ScriptDirectory.from_config(self.config)
        self.revisions = [r.revision for r in reversed(list(script.walk_revisions()))]

    async def upgrade(self, revision: str) -> None:
        await asyncio.to_thread(command.upgrade, self.config, revision)

    async def downgrade(self, revision: str) -> None:
        await asyncio.to_thread(command.downgrade, self.config, revision)

    async def run(self, work: Any) -> Any:
        engine = create_async_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(work)
        finally:
            await engine.dispose()

    async def schema(self) -> Schema:
        return dict(await self.run(_schema))


def _schema(conn: sa.Connection) -> Schema:
    """What a revision made, in a form that compares equal whatever order the tables were (re)built in."""
    inspector = sa.inspect(conn)
    schema: Schema = {}
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        schema[table] = {
            "columns": {
                c["name"]: (c["type"].compile(dialect=conn.dialect), c["nullable"], c.get("default") is not None)
                for c in inspector.get_columns(table)
            },
            "primary key": tuple(inspector.get_pk_constraint(table)["constrained_columns"]),
            "indexes": {(i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)},
            "unique": {tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)},
            "foreign keys": {
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in inspector.get_foreign_keys(table)
            },
        }
    return schema


def _differences(now: Schema, expected: Schema) -> list[str]:
    found = [f"table {table}: {'left over' if table in now else 'missing'}" for table in set(now) ^ set(expected)]
    for table in sorted(set(now) & set(expected)):
        for part, is_now in now[table].items():
            was = expected[table][part]
            if is_now == was:
                continue
            if part == "columns":
                changed = set(is_now) ^ set(was) | {c for c in set(is_now) & set(was) if is_now[c] != was[c]}
                found += [f"{table}.{c}: {is_now.get(c)}, expected {was.get(c)}" for c in sorted(changed)]
            else:
                found.append(f"{table} {part}: {is_now}, expected {was}")
    return found


def _value(column: sa.Column[Any], mark: int) -> Any:
    """A value of the column's type; `mark` (the revision's position) keeps rows of different revisions apart."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return mark % 2 == 1
    if isinstance(kind, sa.Integer):
        return 1000 + mark
    if isinstance(kind, sa.DateTime):
        return datetime(2020, 6, 1, 8, mark, 30, 123000, tzinfo=UTC if kind.timezone else None)
    if isinstance(kind, sa.Date):
        return date(2020, 6, 1 + mark)
    if isinstance(kind, sa.Numeric | sa.Float):
        return 10 + mark
    if isinstance(kind, sa.JSON):
        return {"revision": mark, "text": "Nguyễn"}
    if isinstance(kind, sa.LargeBinary):
        return b"\x00bytes" + bytes([mark])
    if isinstance(kind, sa.String):
        text = f"r{mark}-Huế"
        return text[: kind.length] if kind.length else text
    raise AssertionError(f"no test value for column {column.table.name}.{column.name} of type {kind!r}")


def _write_rows(conn: sa.Connection, mark: int, written: Rows) -> None:
    """One row in every table that has none of ours yet, parents first; a foreign key takes its parent's values."""
    metadata = sa.MetaData()
    metadata.reflect(conn)
    for table in metadata.sorted_tables:
        if table.name == "alembic_version" or table.name in written:
            continue
        row = {c.name: _value(c, mark) for c in table.columns}
        for fk in table.foreign_key_constraints:
            for element in fk.elements:
                row[element.parent.name] = written[fk.referred_table.name][element.column.name]
        conn.execute(table.insert().values(row))
        written[table.name] = row


def _comparable(value: Any) -> Any:
    if isinstance(value, datetime):  # SQLite gives back the UTC time without its zone
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, bytes | memoryview):
        return bytes(value)
    if isinstance(value, float) or type(value).__name__ == "Decimal":
        return float(value)
    return value


def _rows_lost(conn: sa.Connection, written: Rows) -> list[str]:
    """Each row written earlier, in each table still there, with the values of its columns still there."""
    metadata = sa.MetaData()
    metadata.reflect(conn)
    lost = []
    for name, row in written.items():
        table = metadata.tables.get(name)
        if table is None:
            continue
        kept = {column: value for column, value in row.items() if column in table.columns}
        key = [table.columns[c] == row[c] for c in (col.name for col in table.primary_key.columns)]
        found = conn.execute(sa.select(*(table.columns[c] for c in kept)).where(*key)).mappings().all()
        expected = {c: _comparable(v) for c, v in kept.items()}
        if [{c: _comparable(v) for c, v in r.items()} for r in found] != [expected]:
            lost.append(f"{name}: wrote {expected}, found {found}")
    return lost


@pytest.mark.parametrize("service", SERVICES)
async def test_upgrade_downgrade_to_base_and_upgrade_again(service: str, databases: DatabaseFactory) -> None:
    m = Migrations(service, await databases.new(service.removesuffix("-svc")))
    assert len(m.revisions) >= 2, m.revisions
    on_the_way_up = {BASE: await m.schema()}
    assert on_the_way_up[BASE] == {}
    for revision in m.revisions:
        await m.upgrade(revision)
        on_the_way_up[revision] = await m.schema()
    head = on_the_way_up[m.revisions[-1]]
    assert head, "head creates no table"

    for revision in [*reversed(m.revisions[:-1]), BASE]:
        await m.downgrade(revision)
        assert _differences(await m.schema(), on_the_way_up[revision]) == [], f"{service}: downgrade to {revision}"

    await m.upgrade("head")
    assert _differences(await m.schema(), head) == []


@pytest.mark.parametrize("service", SERVICES)
async def test_rows_written_at_each_revision_survive_the_later_ones(service: str, databases: DatabaseFactory) -> None:
    m = Migrations(service, await databases.new(service.removesuffix("-svc")))
    written: Rows = {}
    for mark, revision in enumerate(m.revisions):
        await m.upgrade(revision)
        assert await m.run(lambda conn: _rows_lost(conn, written)) == [], f"{service}: upgrade to {revision}"
        await m.run(lambda conn, mark=mark: _write_rows(conn, mark, written))
    assert set(written) == set(await m.schema())

    # back down over the data, each revision keeping the rows of the tables it still has
    for revision in [*reversed(m.revisions[:-1]), BASE]:
        await m.downgrade(revision)
        assert await m.run(lambda conn: _rows_lost(conn, written)) == [], f"{service}: downgrade to {revision}"
    assert await m.schema() == {}


def test_every_service_with_migrations_is_round_tripped() -> None:
    assert sorted(SERVICES) == sorted(p.parent.name for p in Path(ROOT).glob("*/alembic.ini"))
