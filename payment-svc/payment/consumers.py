"""What payment-svc consumes: intake's dossier events open and cancel bills."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from payment import service
from payment.settings import Settings
from services.bus.consumer import Subscription
from services.contracts.intake import DossierReceived, DossierRefused, DossierWithdrawn
from services.events import CloudEvent
from services.settings import ServiceSettings
from services.topics import INTAKE_DOSSIERS

GROUP = "payment.bills"


def subscriptions(settings: ServiceSettings) -> list[Subscription]:
    assert isinstance(settings, Settings)

    async def received(session: AsyncSession, _: CloudEvent, payload: Any) -> None:
        assert isinstance(payload, DossierReceived)
        await service.open_bill(session, settings, payload)

    async def refused(session: AsyncSession, _: CloudEvent, payload: Any) -> None:
        assert isinstance(payload, DossierRefused)
        reason = "; ".join(payload.reasons)[:200] or "refused"
        await service.cancel_bill(session, settings, payload.dossier_id, f"dossier refused: {reason}")

    async def withdrawn(session: AsyncSession, _: CloudEvent, payload: Any) -> None:
        assert isinstance(payload, DossierWithdrawn)
        await service.cancel_bill(session, settings, payload.dossier_id, f"dossier withdrawn: {payload.reason}"[:250])

    return [
        Subscription(
            name=GROUP,
            topics=[INTAKE_DOSSIERS.full_name(settings.topic_prefix)],
            handlers={DossierReceived: received, DossierRefused: refused, DossierWithdrawn: withdrawn},
        )
    ]
