"""What stats-svc consumes: every domain topic, into the read models (one consumer group, `stats.facts`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.bus.consumer import Handler, Subscription
from services.db import is_sqlite
from services.events import CloudEvent, EventPayload
from services.settings import ServiceSettings
from services.topics import DOMAIN_TOPICS
from stats.projections import HANDLED_TYPES, Projector

GROUP = "stats.facts"


def topics(prefix: str) -> list[str]:
    return [spec.full_name(prefix) for spec in DOMAIN_TOPICS]


def subscriptions(settings: ServiceSettings) -> list[Subscription]:
    projector = Projector("sqlite" if is_sqlite(settings.database_url) else "postgresql")
    handlers: dict[type, Handler] = {model: projector.apply for model in HANDLED_TYPES}

    async def apply_group(session: AsyncSession, events: list[tuple[CloudEvent, EventPayload]]) -> None:
        # The events of a poll folded per dossier, as the replay does (the merge rules make the result the same).
        await projector.apply_batch(session, [payload for _, payload in events])

    return [
        Subscription(name=GROUP, topics=topics(settings.topic_prefix), handlers=handlers, group_handler=apply_group)
    ]
