"""Rebuild the read models: drop them and replay every topic from offset zero.

    python -m stats.rebuild [--yes] [--batch 2000] [--no-progress]

Uses the service's settings (STATS_DATABASE_URL, STATS_KAFKA_BOOTSTRAP_SERVERS, STATS_TOPIC_PREFIX). The replay
reads the topics by manual assignment from the beginning (no consumer group, nothing committed), up to the end
offsets taken right after the read models were emptied, with a tqdm progress bar. A whole poll is applied in one
transaction with grouped upserts.

Running next to the live consumer is safe: the replay records each event in the inbox under the live group's name,
so whatever the live consumer applied after the wipe is skipped here, and whatever the replay applied is skipped by
the live consumer; events published after the end offsets were taken are left to the live consumer.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import bindparam, delete, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import String
from tqdm import tqdm

from services.bus.kafka import PLAINTEXT, KafkaSecurity
from services.bus.tables import inbox
from services.db import Database
from services.events import EventPayload, InvalidEvent, UnknownEventType, registry
from stats.consumers import GROUP, topics
from stats.models import QUERY_BOUNDS, READ_MODELS
from stats.projections import HANDLED_TYPES, Batch, Projector, fold
from stats.settings import Settings

CLAIM_PG = text(
    "INSERT INTO inbox (consumer, event_id) SELECT :consumer, unnest(:ids) "
    "ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id"
).bindparams(bindparam("ids", type_=ARRAY(String)))


@dataclass
class ReplayResult:
    records: int = 0
    applied: int = 0
    duplicates: int = 0
    skipped: int = 0
    invalid: int = 0


async def wipe(db: Database, inbox_consumer: str) -> None:
    async with db.sessionmaker() as session, session.begin():
        for model in (*READ_MODELS, *QUERY_BOUNDS):
            await session.execute(delete(model))
        await session.execute(delete(inbox).where(inbox.c.consumer == inbox_consumer))


async def claim(session: AsyncSession, consumer: str, event_ids: set[str]) -> set[str]:
    """Record the events in the inbox in one statement; return the ids that were not there yet."""
    if not event_ids:
        return set()
    if session.bind.dialect.name == "postgresql":
        result = await session.execute(CLAIM_PG, {"consumer": consumer, "ids": list(event_ids)})
    else:
        result = await session.execute(
            sqlite_insert(inbox)
            .values([{"consumer": consumer, "event_id": eid} for eid in event_ids])
            .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
            .returning(inbox.c.event_id)
        )
    return set(result.scalars())


async def _store(
    db: Database,
    projector: Projector,
    consumer: str,
    rows: list[tuple[str, EventPayload]],
    folded: Batch,
    result: ReplayResult,
) -> None:
    """One poll in one transaction: claim its events in the inbox, then write what was new."""
    async with db.sessionmaker() as session, session.begin():
        fresh_ids = await claim(session, consumer, {e for e, _ in rows})
        if len(fresh_ids) < len(rows):  # duplicates (inside the poll or seen before): fold only the new events
            fresh: list[EventPayload] = []
            for eid, payload in rows:
                if eid in fresh_ids:
                    fresh.append(payload)
                    fresh_ids.discard(eid)  # a duplicate inside the poll counts once
            folded = fold(fresh)
            result.applied += len(fresh)
            result.duplicates += len(rows) - len(fresh)
        else:
            result.applied += len(rows)
        await projector.write(session, folded)


async def partitions(
    bootstrap: str, names: list[str], security: KafkaSecurity = PLAINTEXT
) -> list[TopicPartition]:
    """Every partition of the topics that exist (a topic never written to may not exist yet)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000, **security.client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [n for n in names if n in existing]
        described = await admin.describe_topics(wanted) if wanted else []
    finally:
        await admin.close()
    return [
        TopicPartition(d["topic"], p["partition"])
        for d in described
        for p in sorted(d.get("partitions") or (), key=lambda p: p["partition"])
    ]


async def replay(
    db: Database,
    bootstrap: str,
    prefix: str,
    *,
    security: KafkaSecurity = PLAINTEXT,
    inbox_consumer: str | None = None,
    batch: int = 2000,
    progress: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Read every domain topic from the beginning to its current end into the read models (no wipe)."""
    consumer_name = inbox_consumer or f"{prefix}.{GROUP}"
    projector = Projector(db.dialect)
    handled = {model.event_type for model in HANDLED_TYPES}
    result = ReplayResult()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        **security.client_options(),
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=32 * 1024 * 1024,
    )
    await consumer.start()
    try:
        tps = await partitions(bootstrap, topics(prefix), security)
        if not tps:
            return result
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        begin = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if end[tp] > begin[tp]}
        done = {tp: begin[tp] for tp in tps}
        bar = tqdm(total=sum(end[tp] - begin[tp] for tp in tps), unit="ev", disable=not progress, file=sys.stderr,
                   desc="stats replay")  # fmt: skip
        writing: asyncio.Task[None] | None = None
        try:
            while remaining:
                batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=batch)
                rows: list[tuple[str, EventPayload]] = []
                for records in batches.values():
                    for record in records:
                        result.records += 1
                        try:
                            envelope, payload = registry.decode(record.value or b"")
                        except (InvalidEvent, UnknownEventType):
                            result.invalid += 1  # the live consumer dead-letters these
                            continue
                        if envelope.type not in handled:
                            result.skipped += 1
                            continue
                        rows.append((envelope.id, payload))
                # Fold this poll while the previous one is still being written: the database and Python overlap.
                folded = fold(payload for _, payload in rows) if rows else None
                if writing is not None:
                    await writing
                    writing = None
                if rows and folded is not None:
                    writing = asyncio.create_task(_store(db, projector, consumer_name, rows, folded, result))
                advanced = 0
                for tp in list(remaining):
                    position = await consumer.position(tp)
                    advanced += min(position, end[tp]) - done[tp]
                    done[tp] = min(position, end[tp])
                    if position >= end[tp]:
                        remaining.discard(tp)
                bar.update(advanced)
                if on_progress is not None:
                    on_progress(advanced)
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
        bar.close()
    finally:
        await consumer.stop()
    return result


async def rebuild(settings: Settings, *, batch: int = 2000, progress: bool = True) -> ReplayResult:
    db = Database(settings.database_url, service=settings.service_name)
    try:
        name = f"{settings.topic_prefix}.{GROUP}"
        await wipe(db, name)
        return await replay(
            db, settings.kafka_bootstrap_servers, settings.topic_prefix, security=settings.kafka_security,
            inbox_consumer=name, batch=batch, progress=progress,
        )  # fmt: skip
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stats.rebuild", description=__doc__.splitlines()[0])
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--batch", type=int, default=2000, help="records per poll and transaction")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    settings = Settings()
    if not args.yes:
        answer = input(f"Drop the stats read models of {settings.database_url} and replay all topics? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing done")
            return 1
    result = asyncio.run(rebuild(settings, batch=args.batch, progress=not args.no_progress))
    print(
        f"replayed {result.records} records: {result.applied} applied, {result.duplicates} duplicates, "
        f"{result.skipped} not for stats, {result.invalid} invalid"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
