"""The commands on journeys: load (and lock) → decide (`routing.domain.rules`) → write → emit, all in the caller's
transaction (never commits). A refused command raises its problem before anything is written."""

from __future__ import annotations

from datetime import date, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from routing import repository as repo
from routing.domain import access, rules
from routing.domain import model as domain
from routing.domain.model import Actor, Decision
from routing.settings import Settings
from services import catalogue_replica, clock
from services.bus.consumer import RetryLater
from services.bus.outbox import EventBuffer
from services.calendar import WorkingCalendar
from services.contracts.catalogue import UnitChanged
from services.contracts.intake import DossierReceived
from services.errors import NotFound
from services.topics import ROUTING_JOURNEYS

log = structlog.get_logger(__name__)


class Journeys:
    """Commands on journeys inside one transaction: `work` holds the journeys it has locked and writes their
    decisions, `events` what they announce."""

    def __init__(self, session: AsyncSession, topic_prefix: str, *, now: datetime | None = None) -> None:
        self.session = session
        self.events = EventBuffer(
            session, service=Settings.service_name, topic=ROUTING_JOURNEYS.full_name(topic_prefix)
        )
        self.work = repo.JourneyWork(session, self.events)
        self._now = now

    def now(self) -> datetime:
        return self._now or clock.now()

    async def _calendar(self) -> WorkingCalendar:
        return await catalogue_replica.calendar(self.session)

    async def _unit(self, unit_id: str | None) -> UnitChanged | None:
        return None if unit_id is None else await catalogue_replica.unit(self.session, unit_id)

    async def _locked(self, dossier_id: str, actor: Actor) -> domain.Journey:
        """The journey a unit's command acts on, locked, if the unit takes part in it."""
        j = await self.work.lock(dossier_id)
        if j is None:
            raise NotFound(f"No journey for dossier {dossier_id}.", code="journey-not-found")
        access.require_part(actor, j.code, j.units)
        return j

    async def record(self, decision: Decision) -> domain.Journey:
        """Write what the rules decided (the hop it sends first, for its id) and emit its events."""
        if decision.hop is not None:
            decision = rules.hop_sent(decision, await self.work.insert_hop(decision.journey.dossier_id, decision.hop))
        if decision.forced is not None:
            previous, status = decision.forced
            log.warning(
                "routing.status.forced",
                dossier=decision.journey.code,
                action=decision.actions[-1].action,
                previous=previous,
                status=status,
            )
        j = await self.work.save(decision)
        await self.events.write()
        return j

    # -- a unit's commands ---------------------------------------------------------------------------------------

    async def transfer(self, dossier_id: str, actor: Actor, to_unit: str | None, note: str | None) -> domain.Journey:
        j = await self._locked(dossier_id, actor)
        target = await self._unit(rules.transfer_target(j, to_unit))
        return await self.record(rules.transfer(j, actor, to_unit, note, target, self.now()))

    async def accept_hop(self, dossier_id: str, hop_id: int, actor: Actor) -> domain.Journey:
        j = await self._locked(dossier_id, actor)
        return await self.record(rules.accept_hop(j, hop_id, actor, self.now()))

    async def reject_hop(self, dossier_id: str, hop_id: int, actor: Actor, reason: str) -> domain.Journey:
        j = await self._locked(dossier_id, actor)
        return await self.record(rules.reject_hop(j, hop_id, actor, reason, self.now()))

    async def assign(self, dossier_id: str, actor: Actor, officer: str, note: str | None) -> domain.Journey:
        j = await self._locked(dossier_id, actor)
        return await self.record(rules.assign(j, actor, officer, note, self.now()))

    async def complete(self, dossier_id: str, actor: Actor, result: str | None, note: str | None) -> domain.Journey:
        j = await self._locked(dossier_id, actor)
        next_unit = await self._unit(rules.complete_needs_unit(j))
        return await self.record(rules.complete(j, actor, result, note, self.now(), next_unit))

    async def refuse(self, dossier_id: str, actor: Actor, reasons: list[str], note: str | None) -> domain.Journey:
        j = await self._locked(dossier_id, actor)
        return await self.record(rules.refuse(j, actor, reasons, note, self.now()))

    async def return_to_desk(self, dossier_id: str, actor: Actor, note: str | None) -> domain.Journey:
        j = await self._locked(dossier_id, actor)
        return await self.record(rules.return_to_desk(j, actor, note, self.now()))

    async def request_supplement(
        self, dossier_id: str, actor: Actor, missing: list[str], reason: str
    ) -> domain.Journey:
        j = await self._locked(dossier_id, actor)
        return await self.record(rules.request_supplement(j, actor, missing, reason, self.now()))

    async def resume(self, dossier_id: str, actor: Actor, note: str | None) -> domain.Journey:
        j = await self._locked(dossier_id, actor)
        return await self.record(rules.resume(j, actor, note, self.now(), await self._calendar()))

    async def extend(self, dossier_id: str, actor: Actor, new_date: date, reason: str) -> domain.Journey:
        j = await self._locked(dossier_id, actor)
        return await self.record(rules.extend(j, actor, new_date, reason, self.now(), await self._calendar()))

    # -- intake's events -----------------------------------------------------------------------------------------

    async def start(self, payload: DossierReceived) -> domain.Journey | None:
        """DossierReceived → the journey on the route of the version in force at receipt (None: started already,
        a replay under another event id)."""
        if await self.work.exists(payload.dossier_id):
            return None
        version = await catalogue_replica.version_in_force(self.session, payload.procedure_code, payload.received_at)
        if version is None:
            # Intake judged the dossier by this version, so it is on its way through the catalogue topic.
            raise RetryLater(f"procedure {payload.procedure_code} in force at receipt is not in the replica yet")
        receiving = await self._unit(payload.receiving_unit)
        inter_level = version.content.inter_level
        chain = await catalogue_replica.ancestors(self.session, payload.receiving_unit) if inter_level else []
        route = rules.plan_route(version, payload.receiving_unit, receiving, chain)
        first = await self._unit(route.steps[0].unit) if inter_level else None
        decision = rules.start(payload, route, first, await self._calendar())
        await self.work.add(decision.journey)
        return await self.record(decision)

    async def close(self, dossier_id: str, action: str, reason: str, at: datetime, unit: str | None) -> None:
        j = await self.work.lock(dossier_id)
        decision = None if j is None else rules.close(j, action, reason, at, unit)
        if decision is not None:
            await self.record(decision)

    async def supplemented(self, dossier_id: str, at: datetime, appointment_at: datetime | None) -> None:
        j = await self.work.lock(dossier_id, hops=False)
        decision = None if j is None else rules.supplemented(j, at, appointment_at, await self._calendar())
        if decision is not None:
            await self.record(decision)
