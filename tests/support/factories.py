"""Factories of the contracts' events with the values every test would write anyway; each test package keeps its
own data (its units, procedures and dossiers) and builds it with these."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from services.contracts.catalogue import (
    Decision,
    DecisionKind,
    ProcedureContent,
    ProcedureVersion,
    UnitChanged,
    UnitKind,
    VersionStatus,
)
from services.contracts.intake import Channel, DossierReceived, FeeItem


def unit(
    agency_id: str,
    name: str,
    level: str,
    rank: int,
    parent: str | None,
    kind: UnitKind | str = UnitKind.ADMINISTRATIVE,
    *,
    valid_from: date = date(2020, 1, 1),
    **extra: Any,
) -> UnitChanged:
    """An administrative unit or agency at its first revision; `extra`: valid_to, successor_id, …"""
    return UnitChanged(
        agency_id=agency_id,
        revision=1,
        name=name,
        kind=UnitKind(kind),
        level=level,
        level_rank=rank,
        parent_id=parent,
        valid_from=valid_from,
        **extra,
    )


def decision(
    kind: DecisionKind | str, effective_from: date, *, number: str | None = None, signed_on: date | None = None
) -> Decision:
    """A publication decision; by default numbered after its year and signed the day it takes effect."""
    return Decision(
        kind=DecisionKind(kind),
        number=number or f"{effective_from.year}/QĐ-UBND",
        signed_on=signed_on or effective_from,
        effective_from=effective_from,
    )


def version(
    code: str,
    content: ProcedureContent,
    *,
    number: int = 1,
    effective_from: date = date(2020, 1, 1),
    effective_to: date | None = None,
    status: VersionStatus = VersionStatus.ACTIVE,
    published_by: Decision | None = None,
) -> ProcedureVersion:
    """A version of a procedure, published by a new decision (an abolishing one for an abolished version) taking
    effect on `effective_from` unless `published_by` says otherwise."""
    kind = DecisionKind.ABOLISHED if status is VersionStatus.ABOLISHED else DecisionKind.NEW
    return ProcedureVersion(
        code=code,
        version=number,
        effective_from=effective_from,
        effective_to=effective_to,
        status=status,
        decision=published_by or decision(kind, effective_from),
        content=content,
    )


def dossier_received(
    dossier_id: str,
    *,
    code: str,
    procedure_code: str,
    field_code: str,
    unit: str,
    channel: Channel | str,
    received_at: datetime,
    appointment_at: datetime,
    fees: Iterable[int | FeeItem] = (),
    **extra: Any,
) -> DossierReceived:
    """A receipt as intake publishes it, of version 1 of the procedure, by a citizen; an amount in `fees` becomes a
    fee item `LP<i>`; `extra`: owner_ref, submitted_at, …"""
    items = [f if isinstance(f, FeeItem) else FeeItem(code=f"LP{i}", name="Lệ phí hộ tịch", amount=f)
             for i, f in enumerate(fees)]  # fmt: skip
    return DossierReceived(
        dossier_id=dossier_id,
        code=code,
        procedure_code=procedure_code,
        procedure_version=extra.pop("procedure_version", 1),
        field_code=field_code,
        receiving_unit=unit,
        channel=Channel(channel),
        applicant_kind=extra.pop("applicant_kind", "citizen"),
        received_at=received_at,
        appointment_at=appointment_at,
        fees=items,
        **extra,
    )
