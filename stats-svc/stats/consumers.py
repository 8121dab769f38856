"""What stats-svc consumes: every domain topic, into the read models (one consumer group, `stats.facts`)."""

from __future__ import annotations

from services.bus.consumer import Handler, Subscription
from services.db import is_sqlite
from services.settings import ServiceSettings
from services.topics import DOMAIN_TOPICS
from stats.projections import HANDLED_TYPES, Projector

GROUP = "stats.facts"


def topics(prefix: str) -> list[str]:
    return [spec.full_name(prefix) for spec in DOMAIN_TOPICS]


def subscriptions(settings: ServiceSettings) -> list[Subscription]:
    projector = Projector("sqlite" if is_sqlite(settings.database_url) else "postgresql")
    handlers: dict[type, Handler] = {model: projector.apply for model in HANDLED_TYPES}
    return [Subscription(name=GROUP, topics=topics(settings.topic_prefix), handlers=handlers)]
