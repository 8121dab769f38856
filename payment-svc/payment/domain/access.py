"""Who may read and act on which bill (services/policy.py's table, for payment-svc's resources)."""

from __future__ import annotations

import hmac
from typing import Protocol

from services.errors import NotFound, Problem
from services.identity import STAFF_ROLES, Identity, Role

#: Who may start a payment: the portal for its citizen, a desk officer for the applicant at the counter.
PAYERS = (Role.PORTAL, Role.DESK_OFFICER)
#: Who may give money back: the desk of the receiving unit, an administrator.
REFUNDERS = (Role.DESK_OFFICER, Role.ADMIN)
#: A settlement file covers every unit's payments, and the expiry sweep every payment: administrators only.
ADMINISTRATORS = (Role.ADMIN,)


class OwnedBill(Protocol):
    @property
    def dossier_id(self) -> str: ...
    @property
    def receiving_unit(self) -> str: ...
    @property
    def owner_ref(self) -> str | None: ...


def may_see(who: Identity, bill: OwnedBill, citizen_ref: str | None) -> bool:
    """An administrator sees every bill, staff the bills of their unit's dossiers, the portal its citizen's:
    `citizen_ref` is the citizen's pseudonymous reference (services.policy.owner_ref of their id number), which
    the bill carries for the applicant (intake sends it), so that payment-svc holds no id number."""
    if who.role is Role.ADMIN:
        return True
    if who.role is Role.PORTAL:
        if citizen_ref is None or bill.owner_ref is None:
            return False
        return hmac.compare_digest(citizen_ref, bill.owner_ref)
    return who.role in STAFF_ROLES and who.unit is not None and who.unit == bill.receiving_unit


def check_bill(who: Identity, bill: OwnedBill, citizen_ref: str | None) -> None:
    """Raise the problem of a caller who may not see `bill`: for the portal, as intake answers for another
    citizen's dossier, no sign that it exists."""
    if may_see(who, bill, citizen_ref):
        return
    if who.role is Role.PORTAL:
        raise NotFound(f"No bill of dossier {bill.dossier_id} for this citizen.", code="bill-not-found")
    raise Problem(403, "This bill belongs to another unit's dossier.", code="forbidden")


def listing_unit(who: Identity, unit: str | None) -> str | None:
    """The unit whose bills a staff member's listing covers (none: every unit, for an administrator)."""
    if who.role is Role.ADMIN:
        return unit
    if unit is not None and unit != who.unit:
        raise Problem(403, "Staff see the bills of their own unit only.", code="forbidden")
    return who.unit
