"""What routing-svc consumes: intake's dossier events (journeys start and end) and the catalogue (replica)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from routing.domain import status as st
from routing.service import Journeys
from services import catalogue_replica
from services.bus.consumer import Handler, Subscription
from services.contracts.intake import (
    DossierReceived,
    DossierRefused,
    DossierResultReturned,
    DossierSupplemented,
    DossierWithdrawn,
)
from services.events import CloudEvent
from services.settings import ServiceSettings
from services.topics import INTAKE_DOSSIERS

INTAKE_GROUP = "routing.intake"
CATALOGUE_GROUP = "routing.catalogue"


def intake_handlers(topic_prefix: str) -> dict[Any, Handler]:
    async def received(session: AsyncSession, _e: CloudEvent, p: DossierReceived) -> None:
        await Journeys(session, topic_prefix).start(p)

    async def supplemented(session: AsyncSession, _e: CloudEvent, p: DossierSupplemented) -> None:
        await Journeys(session, topic_prefix).supplemented(p.dossier_id, p.at, p.appointment_at)

    async def withdrawn(session: AsyncSession, _e: CloudEvent, p: DossierWithdrawn) -> None:
        await Journeys(session, topic_prefix).close(p.dossier_id, st.WITHDRAWN, p.reason, p.at, None)

    async def refused(session: AsyncSession, _e: CloudEvent, p: DossierRefused) -> None:
        # form 03 at the desk after the journey had started: it ends here (no unit may process it any more)
        await Journeys(session, topic_prefix).close(p.dossier_id, st.REFUSED, "; ".join(p.reasons), p.at, None)

    async def returned(session: AsyncSession, _e: CloudEvent, p: DossierResultReturned) -> None:
        await Journeys(session, topic_prefix).close(
            p.dossier_id, st.RESULT_RETURNED, f"result returned ({p.channel.value})", p.at, None
        )

    return {
        DossierReceived: received,
        DossierSupplemented: supplemented,
        DossierWithdrawn: withdrawn,
        DossierRefused: refused,
        DossierResultReturned: returned,
    }


def intake_subscription(topic_prefix: str, name: str = INTAKE_GROUP, dead_letter: str | None = None) -> Subscription:
    return Subscription(
        name=name,
        topics=[INTAKE_DOSSIERS.full_name(topic_prefix)],
        handlers=intake_handlers(topic_prefix),
        dead_letter_topic=dead_letter,
    )


def subscriptions(settings: ServiceSettings) -> list[Subscription]:
    return [
        catalogue_replica.subscription(settings.topic_prefix, group=CATALOGUE_GROUP),
        intake_subscription(settings.topic_prefix),
    ]
