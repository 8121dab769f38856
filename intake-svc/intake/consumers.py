"""What intake-svc consumes.

- The catalogue topics, into the local replica (`services.catalogue_replica`): intake judges dossiers from it alone.
- Routing's and payment's events (`services.contracts.routing` / `.payment`), to keep the dossier's status and
  history current. What each event type does is the domain's (`intake.domain.progress`); a new type is one more
  entry there. Types without one are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from intake import catalogue, repository
from intake.domain import dossier, progress
from intake.models import Dossier
from intake.settings import Settings
from services import catalogue_replica
from services.bus.consumer import Handler, Subscription
from services.events import CloudEvent, EventPayload
from services.topics import PAYMENT_PAYMENTS, ROUTING_JOURNEYS


class Progress:
    """One transaction of the progress consumer: the dossiers it has locked, each read once (the consumer applies
    the events of one poll together, and a routing command announces several steps of one dossier at once)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._held: dict[str, tuple[Dossier, dossier.Dossier]] = {}

    async def _locked(self, dossier_id: str) -> tuple[Dossier, dossier.Dossier] | None:
        held = self._held.get(dossier_id)
        if held is None:
            row = await repository.dossier(self.session, dossier_id, lock=True)
            if row is None:
                return None
            held = self._held[dossier_id] = (row, repository.state(row))
        return held

    async def apply(self, envelope: CloudEvent, payload: EventPayload) -> None:
        """Decide what the event does to its dossier and write it (a step recorded under the event's id)."""
        held = await self._locked(progress.dossier_id(payload))
        if held is None:
            return  # not ours (another intake deployment) or not yet known: nothing to show
        row, d = held
        names: dict[str, str] = {}
        if type(payload) in progress.NEEDS_COMPONENT_NAMES:
            version = await catalogue.version_of(self.session, d.procedure_code, d.procedure_version)
            names = {c.code: c.name for c in version.content.components} if version is not None else {}
        decision = progress.decide(d, payload, names)
        if decision is None:
            return
        await repository.add_step(self.session, row.id, decision.step, envelope.id)
        repository.save(row, d, decision.dossier)
        self._held[row.id] = (row, decision.dossier)


async def _one(session: AsyncSession, envelope: CloudEvent, payload: EventPayload) -> None:
    await Progress(session).apply(envelope, payload)


async def _together(session: AsyncSession, events: list[tuple[CloudEvent, Any]]) -> None:
    batch = Progress(session)
    for envelope, payload in events:
        await batch.apply(envelope, payload)


def subscriptions(settings: Settings) -> Sequence[Subscription]:
    # What the replica applies makes this process's cached terms and calendar stale (its `on_committed`).
    handlers: dict[type[EventPayload], Handler] = dict.fromkeys(progress.HANDLED, _one)
    return [
        catalogue_replica.subscription(settings.topic_prefix, group="intake.catalogue"),
        Subscription(
            name="intake.progress",
            topics=[
                ROUTING_JOURNEYS.full_name(settings.topic_prefix),
                PAYMENT_PAYMENTS.full_name(settings.topic_prefix),
            ],
            handlers=handlers,
            group_handler=_together,
        ),
    ]
