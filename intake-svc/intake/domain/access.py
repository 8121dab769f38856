"""Who may read or act on which dossier, list which dossiers, upload, and submit through which channel. (Who reads
counts is the kernel's `services.policy.unit_scope`, shared with stats.)"""

from __future__ import annotations

import hmac
from typing import Protocol

from services.contracts.intake import Channel
from services.errors import Invalid, NotFound, Problem
from services.identity import Identity, Role

DESK_ROLES = frozenset({Role.DESK_OFFICER})
UNIT_READERS = frozenset({Role.DESK_OFFICER, Role.SPECIALIST, Role.LEADER})


class Owned(Protocol):
    """What the access rules look at in a dossier."""

    @property
    def id(self) -> str: ...
    @property
    def code(self) -> str: ...
    @property
    def receiving_unit(self) -> str: ...
    @property
    def applicant_id_number(self) -> str: ...


def forbidden(detail: str) -> Problem:
    return Problem(403, detail, code="forbidden")


def desk_unit(who: Identity) -> str:
    """The unit of a desk officer, who acts for it alone."""
    if who.role not in DESK_ROLES:
        raise forbidden(f"Role {who.role.value} may not do this at a desk.")
    if not who.unit:
        raise forbidden("The desk officer's identity carries no unit.")
    return who.unit


def check_read(who: Identity, d: Owned) -> None:
    """The portal reads its citizen's dossiers (another's is not found), staff their unit's, an administrator any."""
    if who.role is Role.PORTAL:
        if who.citizen is None or not hmac.compare_digest(who.citizen.id_number, d.applicant_id_number):
            raise NotFound(f"No dossier {d.id}.")
        return
    if who.role is Role.ADMIN:
        return
    if who.role in UNIT_READERS:
        if who.unit != d.receiving_unit:
            raise forbidden(f"Dossier {d.code} belongs to unit {d.receiving_unit}, not yours.")
        return
    raise forbidden(f"Role {who.role.value} may not read dossiers.")


def check_desk(who: Identity, d: Owned) -> None:
    """Only a desk officer of the receiving unit acts on a dossier at the desk."""
    unit = desk_unit(who)
    if unit != d.receiving_unit:
        raise forbidden(f"Dossier {d.code} belongs to unit {d.receiving_unit}, not yours.")


def check_desk_or_owner(who: Identity, d: Owned) -> None:
    """The receiving unit's desk, or the portal for the dossier's own citizen."""
    if who.role is Role.PORTAL:
        check_read(who, d)
    else:
        check_desk(who, d)


def upload_owner(who: Identity) -> str:
    """Whose an upload is: the staff account, or the citizen the portal acts for (its key is shared by them all)."""
    if who.role is Role.PORTAL:
        if who.citizen is None:
            raise forbidden("The portal must say which citizen it acts for.")
        return f"{who.subject}/citizen/{who.citizen.id_number}"
    return who.subject


def check_upload(who: Identity) -> str:
    """Desks and the portal (for a citizen) upload documents; the owner the upload is recorded under."""
    if who.role not in DESK_ROLES and who.role is not Role.PORTAL:
        raise forbidden(f"Role {who.role.value} may not upload documents.")
    return upload_owner(who)


def list_scope(who: Identity, unit: str | None) -> tuple[str | None, str | None]:
    """The (receiving unit, applicant id number) a listing is restricted to (None: not restricted) for a listing
    that asked for `unit`."""
    if who.role is Role.PORTAL:
        if who.citizen is None:
            raise forbidden("The portal lists the dossiers of the citizen it acts for.")
        return unit, who.citizen.id_number
    if who.role is Role.ADMIN:
        return unit, None
    if who.role in UNIT_READERS:
        if not who.unit:
            raise forbidden("Your identity carries no unit.")
        if unit is not None and unit != who.unit:
            raise forbidden(f"You may list the dossiers of your own unit ({who.unit}) only.")
        return who.unit, None
    raise forbidden(f"Role {who.role.value} may not list dossiers.")


def submission_unit(
    who: Identity,
    *,
    channel: Channel,
    receiving_unit: str | None,
    applicant_id_number: str,
    account_id: str | None,
    account_assisted: bool,
) -> tuple[str, str | None]:
    """The receiving unit of a submission and the applicant's account id, after checking that the caller may submit
    through the channel: the portal online for its own citizen (whose account it fills in), a desk in person or by
    post for its own unit."""
    if who.role is Role.PORTAL:
        if channel is not Channel.ONLINE:
            raise Invalid("The portal submits online dossiers only.", field="body.channel", code="wrong-channel")
        if who.citizen is None:
            raise forbidden("The portal must say which citizen it acts for.")
        if not hmac.compare_digest(who.citizen.id_number, applicant_id_number):
            raise forbidden("The portal may submit only for the citizen it acts for.")
        if receiving_unit is None:
            raise Invalid("Online dossiers name the receiving unit.", field="body.receiving_unit")
        if account_id is None and who.citizen.account_id:
            account_id = who.citizen.account_id
        return receiving_unit, account_id
    unit = desk_unit(who)
    if channel is Channel.ONLINE:
        raise Invalid("A desk receives dossiers in person or by post.", field="body.channel", code="wrong-channel")
    if receiving_unit is not None and receiving_unit != unit:
        raise forbidden(f"A desk of {unit} receives dossiers for its own unit only.")
    if account_assisted and not account_id:
        raise Invalid(
            "An assisted account needs the new account id.", field="body.applicant.account_id", code="missing-account"
        )
    return unit, account_id
