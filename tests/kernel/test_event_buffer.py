"""The kernel's one way to write events: `EventBuffer` (services/bus/outbox.py), on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.bus.outbox import EventBuffer, OutboxRelay
from services.bus.tables import outbox
from services.db import Database
from services.events import CloudEvent
from tests.conftest import DatabaseFactory
from tests.kernel import support
from tests.kernel.support import CounterIncremented

# -- pure: building the events needs no database -------------------------------------------------------------------


def test_an_added_event_comes_from_the_service_and_is_about_its_key() -> None:
    events = EventBuffer(AsyncSession(), service="routing", topic="p.routing.journeys")
    added = events.add(CounterIncremented(key="d-1", seq=1), key="d-1")
    assert (added.source, added.subject) == ("/routing", "d-1")
    assert added.type == "vn.motcua.kerneltest.counter.incremented.v1"
    assert events.unwritten


async def test_take_rows_hands_over_the_rows_in_order_with_their_topics_and_empties_the_buffer() -> None:
    events = EventBuffer(AsyncSession(), service="intake", topic="p.intake.dossiers")
    first = events.add(CounterIncremented(key="a", seq=1), key="a")
    second = events.add(CounterIncremented(key="b", seq=2), key="b", topic="p.other")
    rows = await events.take_rows()
    assert [(r["event_id"], r["topic"], r["key"]) for r in rows] == [
        (first.id, "p.intake.dossiers", "a"),
        (second.id, "p.other", "b"),
    ]
    assert CloudEvent.model_validate_json(rows[1]["value"]).source == "/intake"
    assert not events.unwritten
    assert await events.take_rows() == []


# -- on a database -------------------------------------------------------------------------------------------------


@pytest.fixture
async def db(databases: DatabaseFactory) -> AsyncIterator[Database]:
    database = Database(await databases.new("buffer"), service="kerneltest-buffer")
    await database.create_all(support.Base.metadata)
    yield database
    await database.dispose()


async def _outbox(db: Database) -> list[Any]:
    async with db.sessionmaker() as session:
        return list((await session.execute(select(outbox).order_by(outbox.c.id))).all())


class OutboxInserts:
    """Counts the INSERT statements into the outbox that reach the database."""

    def __init__(self, db: Database) -> None:
        self.count = 0
        event.listen(db.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO OUTBOX"):
            self.count += 1


async def test_a_commit_with_events_left_unwritten_is_refused_and_writes_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError, match="not written"):
        async with db.sessionmaker() as session, session.begin():
            EventBuffer(session, service="kerneltest", topic="t").add(CounterIncremented(key="k", seq=1), key="k")
    assert await _outbox(db) == []


async def test_events_are_written_in_one_statement_in_the_order_they_were_added(db: Database) -> None:
    inserts = OutboxInserts(db)
    async with db.sessionmaker() as session, session.begin():
        events = EventBuffer(session, service="kerneltest", topic="t.counters")
        added = [events.add(CounterIncremented(key=f"k{n % 3}", seq=n), key=f"k{n % 3}") for n in range(7)]
        added.append(events.add(CounterIncremented(key="k9", seq=9), key="k9", topic="t.elsewhere"))
        await events.write()
        assert not events.unwritten
        await events.write()  # nothing left: no statement
    assert inserts.count == 1
    rows = await _outbox(db)
    assert [(r.event_id, r.topic, r.key) for r in rows] == [
        *((e.id, "t.counters", e.subject) for e in added[:-1]),
        (added[-1].id, "t.elsewhere", "k9"),
    ]
    written = [json.loads(r.value) for r in rows]
    assert {w["source"] for w in written} == {"/kerneltest"}
    assert [w["data"]["seq"] for w in written] == [*range(7), 9]


async def test_a_rollback_discards_the_unwritten_events_and_the_next_transaction_commits(db: Database) -> None:
    async with db.sessionmaker() as session:
        events = EventBuffer(session, service="kerneltest", topic="t")
        await session.begin()
        events.add(CounterIncremented(key="gone", seq=1), key="gone")
        await session.rollback()
        assert not events.unwritten
        async with session.begin():
            kept = events.add(CounterIncremented(key="kept", seq=2), key="kept")
            await events.write()
    assert [r.event_id for r in await _outbox(db)] == [kept.id]


async def test_rows_taken_into_a_statement_of_the_callers_commit_and_wake_the_relay(db: Database) -> None:
    relay = OutboxRelay(db, service=db.service, bootstrap_servers="127.0.0.1:1")
    try:
        async with db.sessionmaker() as session, session.begin():
            events = EventBuffer(session, service="kerneltest", topic="t")
            taken = [events.add(CounterIncremented(key="k", seq=n), key="k") for n in range(3)]
            await session.execute(insert(outbox), await events.take_rows())
        assert relay._wake.is_set()
    finally:
        await relay.stop()
    assert [r.event_id for r in await _outbox(db)] == [e.id for e in taken]
