"""Events on the real topics: publish them as a service's outbox relay does, and read what a service published."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType

from aiokafka import AIOKafkaConsumer

from services.bus.kafka import event_headers, new_producer
from services.events import CloudEvent, EventPayload, new_event, registry
from services.topics import DOMAIN_TOPICS, ensure_topics

#: (topic name without the prefix, key, payload), e.g. (CATALOGUE_UNITS.name, unit.agency_id, unit)
Event = tuple[str, str, EventPayload]


class Publisher:
    """A producer that writes events the way an outbox relay does: the CloudEvent as JSON, the aggregate id as key
    and subject, the relay's headers. `source` is the owning service's (`/catalogue`, `/intake`, …)."""

    def __init__(self, bootstrap: str, topic_prefix: str, *, source: str) -> None:
        self.bootstrap = bootstrap
        self.topic_prefix = topic_prefix
        self.source = source

    async def __aenter__(self) -> Publisher:
        await ensure_topics(self.bootstrap, self.topic_prefix, DOMAIN_TOPICS)
        self._producer = new_producer(self.bootstrap, client_id=f"tests-{uuid.uuid4().hex[:6]}")
        await self._producer.start()
        return self

    async def __aexit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self._producer.stop()

    async def send(self, topic: str, key: str, payload: EventPayload) -> CloudEvent:
        event = new_event(payload, source=self.source, subject=key)
        await self.send_event(topic, event)
        return event

    async def send_event(self, topic: str, event: CloudEvent) -> None:
        """An event built elsewhere (sent again: a redelivery under the same id), keyed by its subject."""
        await self._producer.send_and_wait(
            f"{self.topic_prefix}.{topic}",
            value=event.to_json(),
            key=(event.subject or "").encode(),
            headers=event_headers(event.type, None),
        )

    async def send_raw(self, topic: str, key: str, value: bytes) -> None:
        """Bytes as they are and no headers: what a broken or foreign producer might put on a topic."""
        await self._producer.send_and_wait(f"{self.topic_prefix}.{topic}", value=value, key=key.encode())


async def publish(bootstrap: str, topic_prefix: str, events: Iterable[Event], *, source: str) -> list[CloudEvent]:
    """Publish `events` in order (one key keeps its order: one partition) and return their envelopes."""
    async with Publisher(bootstrap, topic_prefix, source=source) as publisher:
        return [await publisher.send(topic, key, payload) for topic, key, payload in events]


@dataclass(frozen=True)
class Record:
    """One message read from a topic; `decode` gives its envelope and typed payload (a dead letter may not decode)."""

    key: bytes | None
    value: bytes

    def decode(self) -> tuple[CloudEvent, EventPayload]:
        return registry.decode(self.value)


async def read_topic(
    bootstrap: str, topic: str, *, expect: int = 1, timeout: float = 30.0, settle: float = 0.0
) -> list[Record]:
    """Every committed message of `topic` (its full name) from the start: read until `expect` have come (or
    `timeout` seconds have passed; the caller's assertions then say what is missing), then `settle` seconds more,
    for the messages that should not be there (a double)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
        group_id=None,
    )
    await consumer.start()
    found: list[Record] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    settled_at: float | None = None
    try:
        while True:
            now = loop.time()
            if settled_at is None and len(found) >= expect:
                settled_at = now + settle
            if (settled_at is not None and now >= settled_at) or now >= deadline:
                return found
            batches = await consumer.getmany(timeout_ms=300)
            found += [Record(r.key, r.value or b"") for records in batches.values() for r in records]
    finally:
        await consumer.stop()
