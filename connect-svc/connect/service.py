"""connect-svc's shell: load (and lock) → decide (connect.domain) → write. Never commits."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from connect import repository
from connect.domain import delivery, records
from connect.domain.records import SERVICE_OF, PortalDossier
from connect.models import Delivery
from services import catalogue_replica
from services.contracts.intake import DossierReceived
from services.errors import NotFound
from services.events import CloudEvent, EventPayload


async def take_event(session: AsyncSession, envelope: CloudEvent, payload: EventPayload) -> None:
    """Fold one of the centre's events into the dossier's portal view and queue what the portal is to be told,
    after everything queued for the dossier before (the dossier's row is locked while its sequence is taken)."""
    dossier_id, code = records.dossier_ref(payload)
    row = await repository.lock_dossier(session, dossier_id)
    view = PortalDossier.model_validate(row.view) if row is not None else records.new_view(payload)
    decision = records.decide(view, payload, names=await _names(session, payload))
    first_seq = row.next_seq if row is not None else 1
    next_seq = first_seq + len(decision.changes)
    now = datetime.now(UTC)
    state = decision.dossier.model_dump(mode="json")
    if row is None:
        await repository.insert_dossier(session, dossier_id, code, state, next_seq, now)
    else:
        await repository.update_dossier(session, dossier_id, state, next_seq, now)
    await repository.insert_deliveries(
        session,
        [
            {
                "party": repository.PARTY,
                "dossier_id": dossier_id,
                "dossier_code": code,
                "kind": change.kind.value,
                "service": SERVICE_OF[change.kind],
                "event_id": envelope.id,
                "event_type": envelope.type,
                "position": position,
                "seq": first_seq + position,
                "payload": change.record,
                "state": delivery.State.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for position, change in enumerate(decision.changes)
        ],
    )


async def _names(session: AsyncSession, payload: EventPayload) -> tuple[str, str] | None:
    """The procedure's and field's names of the version a received dossier came under, from the replica."""
    if not isinstance(payload, DossierReceived):
        return None
    version = await catalogue_replica.version_in_force(session, payload.procedure_code, payload.received_at)
    if version is None:
        return None
    return version.content.name, version.content.field_name


async def resend(session: AsyncSession, delivery_id: int) -> Delivery:
    """An operator sends a parked delivery again: due now, its attempts counted afresh."""
    row = await repository.delivery(session, delivery_id, lock=True)
    if row is None:
        raise NotFound(f"No delivery {delivery_id}.", code="delivery-not-found")
    row.state = delivery.resend(delivery.State(row.state)).value
    now = datetime.now(UTC)
    row.attempts, row.next_attempt_at, row.updated_at = 0, now, now
    await session.flush()
    return row
