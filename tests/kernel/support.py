"""A tiny service used to test the kernel: one event type and an `effects` table its consumer writes to."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Integer, String, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.bus.consumer import EventConsumer, Subscription
from services.bus.outbox import enqueue
from services.db import Database, create_base
from services.events import CloudEvent, EventPayload, event_type, new_event
from services.topics import TopicSpec, dead_letter_topic, ensure_topics
from tests.support import wait_for as wait_for  # the kernel tests call support.wait_for


@event_type("kerneltest.counter.incremented", version=1)
class CounterIncremented(EventPayload):
    key: str
    seq: int


Base = create_base()


class Effect(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "effects"
    id = Column(Integer, primary_key=True, autoincrement=True)
    event_id = Column(String(64), nullable=False)
    key = Column(String(64), nullable=False)
    seq = Column(Integer, nullable=False)


TOPIC = TopicSpec("kerneltest.counters", 3)
GROUP = "kerneltest-consumer"


def topic_name(prefix: str) -> str:
    return TOPIC.full_name(prefix)


def dlq_name(prefix: str) -> str:
    return dead_letter_topic(GROUP).full_name(prefix)


async def create_topics(bootstrap: str, prefix: str) -> None:
    await ensure_topics(bootstrap, prefix, [TOPIC, dead_letter_topic(GROUP)])


async def write_event(db: Database, prefix: str, key: str, seq: int) -> CloudEvent:
    """One command: a transaction that records a state change and its event."""
    async with db.sessionmaker() as session, session.begin():
        event = new_event(CounterIncremented(key=key, seq=seq), source="/kerneltest", subject=key)
        await enqueue(session, event, topic=topic_name(prefix))
    return event


async def record_effect(session: AsyncSession, event: CloudEvent, payload: Any) -> None:
    await session.execute(insert(Effect.__table__).values(event_id=event.id, key=payload.key, seq=payload.seq))


def subscription(prefix: str, **kw: Any) -> Subscription:
    return Subscription(
        name=f"{prefix}-{GROUP}",
        topics=[topic_name(prefix)],
        handlers={CounterIncremented: kw.pop("handler", record_effect)},
        dead_letter_topic=dlq_name(prefix),
        **kw,
    )


async def effects(db: Database) -> list[tuple[str, str, int]]:
    async with db.sessionmaker() as session:
        rows = await session.execute(select(Effect.event_id, Effect.key, Effect.seq).order_by(Effect.id))
        return [(r.event_id, r.key, r.seq) for r in rows]


async def count_effects(db: Database) -> int:
    async with db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Effect.__table__)) or 0)


def make_consumer(db: Database, bootstrap: str, prefix: str, **kw: Any) -> EventConsumer:
    max_attempts = kw.pop("max_attempts", 3)
    retry_later_limit = kw.pop("retry_later_limit", 600.0)
    group_size = kw.pop("group_size", 100)
    return EventConsumer(
        db,
        subscription(prefix, **kw),
        bootstrap_servers=bootstrap,
        max_attempts=max_attempts,
        retry_backoff=0.05,
        retry_later_limit=retry_later_limit,
        group_size=group_size,
    )
