"""What intake needs from the catalogue, answered from the local replica only (catalogue-svc may be down).

The replica (`services.catalogue_replica`) is fed by the compacted catalogue topics; this module reads the version
in force at receipt with the receiving unit's offer of it (through a cache: `ReplicaCache`), the version a dossier
is judged by, the working-day calendar and a unit's name. The rules applied to them are the domain's
(`intake.domain.submission.terms`, `intake.domain.dossier.appointment`).
"""

from __future__ import annotations

import time
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from intake import repository
from intake.domain.submission import Offer, Terms
from intake.domain.submission import terms as judge_terms
from services import catalogue_replica
from services.calendar import WorkingCalendar
from services.clock import business_date
from services.contracts.catalogue import ProcedureVersion
from services.contracts.intake import Channel
from services.errors import Problem


class ReplicaCache:
    """Per-application caches over the replica, so that a submission reads nothing of it on a warm process.

    Procedure versions are immutable: a parsed version is kept for good. The version in force with the unit's
    offering (per procedure, unit and business day) is kept until the replica consumer of this process applies a
    change (`catalogue_replica.generation`) and for at most `ttl` seconds (changes applied by another process).
    Only found terms are cached: an unknown procedure is looked up again on the next request. (The calendar is
    memoized by the replica itself: `working_calendar`.)"""

    def __init__(self, ttl: float = 2.0) -> None:
        self.versions: dict[tuple[str, int], ProcedureVersion] = {}
        self.ttl = ttl
        self._terms: dict[tuple[str, str, date], tuple[float, int, tuple[int, Offer]]] = {}

    def _fresh(self, stamp: float, generation: int) -> bool:
        return generation == catalogue_replica.generation.value and time.monotonic() - stamp < self.ttl

    async def version(self, session: AsyncSession, code: str, version: int) -> ProcedureVersion:
        found = self.versions.get((code, version))
        if found is None:
            data = await repository.version_data(session, code, version)
            if data is None:  # replaced by the replica between two statements: rare, and a retry succeeds
                raise Problem(503, "The catalogue replica is being updated; retry.", headers={"retry-after": "1"})
            found = ProcedureVersion.model_validate(data)
            if len(self.versions) > 10_000:
                self.versions.clear()
            self.versions[(code, version)] = found
        return found

    async def terms_row(self, session: AsyncSession, code: str, unit: str, day: date) -> tuple[int, Offer] | None:
        key = (code, unit, day)
        cached = self._terms.get(key)
        if cached is not None and self._fresh(cached[0], cached[1]):
            return cached[2]
        generation = catalogue_replica.generation.value  # before the query: a change applied meanwhile shows
        found = await repository.terms_row(session, code, unit, day)
        if found is None:
            self._terms.pop(key, None)
            return None
        if len(self._terms) > 10_000:
            self._terms.clear()
        self._terms[key] = (time.monotonic(), generation, found)
        return found


async def terms(
    session: AsyncSession, cache: ReplicaCache, code: str, unit: str, channel: Channel, at: datetime
) -> Terms:
    """The version in force at `at` and the unit's offering (the contracts' `in_force_on` and `valid_on`, as
    `catalogue_replica.version_in_force` and `accepting_units` apply them), from the cache or in one query."""
    day = business_date(at)
    found = await cache.terms_row(session, code, unit, day)
    if found is None:
        return judge_terms(code, unit, channel, day, None, None)
    number, offer = found
    return judge_terms(code, unit, channel, day, await cache.version(session, code, number), offer)


async def version_of(session: AsyncSession, code: str, version: int) -> ProcedureVersion | None:
    """A version of a procedure, as the replica holds it (None: it does not)."""
    snapshot = await catalogue_replica.procedure(session, code)
    for v in snapshot.versions if snapshot is not None else []:
        if v.version == version:
            return v
    return None


async def working_calendar(session: AsyncSession) -> WorkingCalendar:
    """The calendar from the replica (one `WorkingCalendar` per distinct rule set, shared by the process)."""
    return await catalogue_replica.calendar(session)


async def unit_name(session: AsyncSession, agency_id: str) -> str:
    found = await catalogue_replica.unit(session, agency_id)
    return found.name if found is not None else agency_id
