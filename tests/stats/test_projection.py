"""The projection's two ways of writing agree: one event at a time (the live consumer) and folded batches in any
order and grouping (the rebuild), including the COPY + set-based merge path on PostgreSQL."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import select
from stats.models import MAX_OPEN_DAYS, OPEN, QUERY_BOUNDS, READ_MODELS, DossierFact, QueryBound
from stats.projections import CATALOGUE_TYPES, Projector, fold

from services.db import Database
from services.events import EventPayload
from tests.conftest import DatabaseFactory
from tests.harness import migrate
from tests.stats import scenario as sc


def _events() -> list[EventPayload]:
    return [payload for _, payload, _ in sc.catalogue_events() + sc.dossier_events()]


async def _snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    async with db.sessionmaker() as session:
        return {
            model.__tablename__: sorted(tuple(r) for r in (await session.execute(select(model.__table__))).all())
            for model in READ_MODELS
        }


def _longest_span(snapshot: dict[str, list[tuple[Any, ...]]]) -> int:
    """The longest receipt-to-end span of the ended dossiers, from the fact rows."""
    names = [c.name for c in DossierFact.__table__.columns]
    rows = [dict(zip(names, r, strict=True)) for r in snapshot["stats_dossier"]]
    return max(
        (r["open_until"] - r["received_date"]).days for r in rows if r["open_until"] != OPEN and r["received_date"]
    )


async def _bound(db: Database) -> int:
    """What the reports rely on: `max_open_days` is at least every ended dossier's span."""
    async with db.sessionmaker() as session:
        return int(await session.scalar(select(QueryBound.value).where(QueryBound.name == MAX_OPEN_DAYS)) or 0)


async def test_batches_in_any_order_equal_one_event_at_a_time(databases: DatabaseFactory) -> None:
    events = _events()
    one_url, batch_url = await databases.new("one"), await databases.new("batch")
    await migrate("stats-svc", one_url)
    await migrate("stats-svc", batch_url)
    one, batched = Database(one_url), Database(batch_url)
    try:
        live = Projector(one.dialect)
        for payload in events:
            async with one.sessionmaker() as session, session.begin():
                await live.apply(session, None, payload)
        expected = await _snapshot(one)
        assert expected["stats_dossier"], "the scenario has dossiers"

        rng = random.Random(20261126)
        bulk = Projector(batched.dialect, copy_threshold=1)  # every batch through COPY + merge on PostgreSQL
        for _ in range(3):
            async with batched.sessionmaker() as session, session.begin():
                for model in (*READ_MODELS, *QUERY_BOUNDS):
                    await session.execute(model.__table__.delete())
            catalogue = [p for p in events if isinstance(p, CATALOGUE_TYPES)]
            dossier = [p for p in events if not isinstance(p, CATALOGUE_TYPES)]
            rng.shuffle(dossier)
            ordered = catalogue + dossier
            while ordered:
                size = rng.randint(1, 12)
                chunk, ordered = ordered[:size], ordered[size:]
                async with batched.sessionmaker() as session, session.begin():
                    await bulk.apply_batch(session, chunk)
            assert await _snapshot(batched) == expected
            assert await _bound(batched) >= _longest_span(expected) > 0
        assert await _bound(one) >= _longest_span(expected)
    finally:
        await one.dispose()
        await batched.dispose()


def test_merge_is_associative_and_commutative_on_the_scenario() -> None:
    """Folding a dossier's deltas in any order gives the same row (what makes rebuild == live hold)."""
    events = [p for _, p, _ in sc.dossier_events()]
    reference = fold(events).facts
    rng = random.Random(7)
    for _ in range(20):
        shuffled = events[:]
        rng.shuffle(shuffled)
        assert fold(shuffled).facts == reference
