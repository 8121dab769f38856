"""A consumer that starts late rebuilds the catalogue replica from the compacted topics on the real broker."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services import catalogue_replica as replica
from services.bus.consumer import EventConsumer
from services.bus.tables import outbox
from services.clock import today_vn
from services.db import Database, create_base
from services.topics import dead_letter_topic, ensure_topics
from tests.catalogue.support import (
    ADMIN,
    CITY,
    PROVINCE,
    WARD_A,
    WARD_B,
    catalogue,
    content,
    decision,
    ok,
    small_structure,
    today,
)
from tests.conftest import Broker, DatabaseFactory
from tests.support import wait_for

pytestmark = pytest.mark.kafka


async def test_late_consumer_rebuilds_replica_from_compacted_topics(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    url = await databases.new("cat")
    async with catalogue(url, broker.bootstrap, topic_prefix) as client:
        await small_structure(client)
        offer = [{"agency_id": WARD_A, "online_level": "full"}, {"agency_id": WARD_B, "online_level": "partial"}]
        ok(await client.post("/procedures/1.001193/decisions", json=decision(units=offer), headers=ADMIN), 201)
        amended = decision("amended", 20, "2/QĐ", content=content(processing_time=1))
        ok(await client.post("/procedures/1.001193/decisions", json=amended, headers=ADMIN), 201)
        ok(await client.post("/procedures/1.000894/decisions", json=decision(), headers=ADMIN), 201)
        ok(
            await client.post("/procedures/1.000894/decisions", json=decision("abolished", 5, "3/QĐ"), headers=ADMIN),
            201,
        )
        table = {"days": [{"day": "2026-01-02", "kind": "off"}, {"day": "2026-01-10", "kind": "work"}]}
        ok(await client.put("/calendar/2026", json=table, headers=ADMIN))
        merge = {"sources": [WARD_B], "into": WARD_A, "effective_from": today(3)}
        ok(await client.post("/units/merge", json=merge, headers=ADMIN))

        source = Database(url)
        try:

            async def published() -> bool:
                async with source.sessionmaker() as s:
                    return (await s.scalar(select(func.count()).select_from(outbox))) == 0

            await wait_for(published, timeout=60)
        finally:
            await source.dispose()

    # catalogue-svc is down now. A new service starts with an empty replica and only the topics to read.
    base = create_base()
    replica.add_replica_tables(base.metadata)
    db = Database(await databases.new("replica"), service="replica-test")
    await db.create_all(base.metadata)
    group = f"{topic_prefix}.replica-test"
    dlq = dead_letter_topic("replica-test").full_name(topic_prefix)
    await ensure_topics(broker.bootstrap, topic_prefix, [dead_letter_topic("replica-test")])
    consumer = EventConsumer(
        db, replica.subscription(topic_prefix, group, dead_letter=dlq), bootstrap_servers=broker.bootstrap
    )
    task = asyncio.create_task(consumer.run())
    try:

        async def rebuilt() -> bool:
            async with db.sessionmaker() as s:
                p = await replica.procedure(s, "1.001193")
                u = await replica.unit(s, WARD_B)
                cal = await s.scalar(select(func.count()).select_from(replica.calendar_years))
                return p is not None and p.revision >= 2 and u is not None and u.valid_to is not None and cal == 1

        await wait_for(rebuilt, timeout=90)
        async with db.sessionmaker() as s:
            now = datetime.now(UTC)
            v = await replica.version_in_force(s, "1.001193", now)
            assert v is not None and v.version == 1 and v.content.processing_time == 3 and v.accepts_dossiers
            later = await replica.version_in_force(s, "1.001193", today_vn() + timedelta(days=20))
            assert later is not None and later.version == 2 and later.content.processing_time == 1
            assert await replica.version_in_force(s, "1.001193", today_vn() - timedelta(days=1)) is None
            units = await replica.accepting_units(s, "1.001193", now)
            assert [(u.agency_id, u.online_level.value) for u in units] == [(WARD_A, "full"), (WARD_B, "partial")]
            after_merge = await replica.accepting_units(s, "1.001193", today_vn() + timedelta(days=3))
            assert [u.agency_id for u in after_merge] == [WARD_A]
            gone = await replica.version_in_force(s, "1.000894", today_vn() + timedelta(days=5))
            assert gone is not None and not gone.accepts_dossiers
            assert await replica.accepting_units(s, "1.000894", today_vn() + timedelta(days=5)) == []
            assert len(await replica.accepting_units(s, "1.000894", now)) == 0  # configured at no unit
            chain = [u.agency_id for u in await replica.ancestors(s, WARD_A)]
            assert chain == [WARD_A, CITY, PROVINCE]
            merged = await replica.unit(s, WARD_B)
            assert merged is not None and merged.successor_id == WARD_A and merged.name == "UBND phường Phú Nhuận"
            assert await replica.offered_procedures(s, WARD_A) == ["1.001193"]
            cal = await replica.calendar(s)
            assert not cal.is_working_day(date(2026, 1, 2)) and cal.is_working_day(date(2026, 1, 10))
            assert not cal.is_working_day(date(2026, 2, 17))  # Tết 2026 from holidays.Vietnam
    finally:
        await consumer.stop()
        await asyncio.wait_for(task, 30)
        await db.dispose()
