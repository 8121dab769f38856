"""What connect-svc consumes: intake's, routing's and payment's events about a dossier, in one consumer group (the
dossier's row is locked while an event takes its sequence numbers), and the catalogue, into the local replica (the
names of procedures and fields)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from connect import service
from connect.domain.records import EVENTS
from services import catalogue_replica
from services.bus.consumer import Subscription
from services.events import CloudEvent
from services.settings import ServiceSettings
from services.topics import INTAKE_DOSSIERS, PAYMENT_PAYMENTS, ROUTING_JOURNEYS

GROUP = "connect.portal"
CATALOGUE_GROUP = "connect.catalogue"


def subscriptions(
    settings: ServiceSettings, on_committed: Callable[[CloudEvent], None] | None = None
) -> list[Subscription]:
    async def take(session: AsyncSession, envelope: CloudEvent, payload: Any) -> None:
        await service.take_event(session, envelope, payload)

    prefix = settings.topic_prefix
    return [
        Subscription(
            name=GROUP,
            topics=[t.full_name(prefix) for t in (INTAKE_DOSSIERS, ROUTING_JOURNEYS, PAYMENT_PAYMENTS)],
            handlers=dict.fromkeys(EVENTS, take),
            on_committed=on_committed,
        ),
        catalogue_replica.subscription(prefix, group=CATALOGUE_GROUP),
    ]
