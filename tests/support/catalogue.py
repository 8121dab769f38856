"""The catalogue a service needs before a test: its events published as catalogue-svc does, then waited for until
the service's catalogue replica holds every one of them."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from services import catalogue_replica
from services.contracts.catalogue import CalendarYearChanged, ProcedureSnapshot, UnitChanged
from services.db import Database
from tests.support.topics import Event, publish
from tests.support.wait import wait_for


async def feed_catalogue(bootstrap: str, topic_prefix: str, replica_url: str, events: Iterable[Event]) -> None:
    """Publish the catalogue `events` and wait until the replica in the database at `replica_url` has applied them."""
    events = list(events)
    await publish(bootstrap, topic_prefix, events, source="/catalogue")
    await wait_for_replica(replica_url, events)


async def wait_for_replica(url: str, events: Iterable[Event], timeout: float = 60) -> None:
    """Wait until the replica holds each unit, calendar year and procedure of `events` at its revision or newer."""
    wanted: dict[tuple[str, str], int] = {}
    for _, _, payload in events:
        if isinstance(payload, UnitChanged):
            key = ("unit", payload.agency_id)
        elif isinstance(payload, CalendarYearChanged):
            key = ("calendar", str(payload.year))
        else:
            assert isinstance(payload, ProcedureSnapshot), f"not a catalogue event: {payload!r}"
            key = ("procedure", payload.code)
        wanted[key] = max(wanted.get(key, 0), payload.revision)
    missing = dict(wanted)
    db = Database(url)

    async def holds_them() -> bool:
        async with db.sessionmaker() as session:
            held = {
                ("unit", a): r
                for a, r in await session.execute(
                    select(catalogue_replica.units.c.agency_id, catalogue_replica.units.c.revision)
                )
            }
            held |= {
                ("calendar", str(y)): r
                for y, r in await session.execute(
                    select(catalogue_replica.calendar_years.c.year, catalogue_replica.calendar_years.c.revision)
                )
            }
            held |= {
                ("procedure", c): r
                for c, r in await session.execute(
                    select(catalogue_replica.procedures.c.code, catalogue_replica.procedures.c.revision)
                )
            }
        missing.clear()
        missing.update({k: r for k, r in wanted.items() if held.get(k, 0) < r})
        return not missing

    try:
        await wait_for(holds_them, timeout, what=lambda: f"the catalogue replica lacks {sorted(missing)}")
    finally:
        await db.dispose()
