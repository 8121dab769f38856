"""Who may read and act on which bill, for each role."""

from __future__ import annotations

import pytest
from payment.domain import access

from services.errors import NotFound, Problem
from services.identity import Citizen, Identity, Role
from tests.payment.domain.factories import OTHER, OWNER, bill

UNIT = "000.00.31.H57"


def who(role: Role, unit: str | None = None, citizen: bool = False) -> Identity:
    return Identity(
        subject="someone", role=role, unit=unit, citizen=Citizen(id_number="046095000123") if citizen else None
    )


@pytest.mark.parametrize("role", [Role.DESK_OFFICER, Role.SPECIALIST, Role.LEADER])
def test_staff_see_the_bills_of_their_own_unit_only(role: Role) -> None:
    access.check_bill(who(role, UNIT), bill(), None)
    for unit in ("000.01.31.H57", None):
        assert not access.may_see(who(role, unit), bill(), None)
        with pytest.raises(Problem) as refused:
            access.check_bill(who(role, unit), bill(), None)
        assert (refused.value.status, refused.value.code) == (403, "forbidden")


def test_an_administrator_sees_every_bill() -> None:
    assert access.may_see(who(Role.ADMIN), bill(receiving_unit="elsewhere", owner_ref=None), None)


def test_the_portal_sees_its_citizens_bills_only_and_no_sign_of_the_others() -> None:
    portal = who(Role.PORTAL, citizen=True)
    access.check_bill(portal, bill(owner_ref=OWNER), OWNER)
    for owner_ref, citizen_ref in ((OTHER, OWNER), (None, OWNER), (OWNER, None)):
        with pytest.raises(NotFound) as hidden:
            access.check_bill(portal, bill(owner_ref=owner_ref), citizen_ref)
        assert hidden.value.code == "bill-not-found"


@pytest.mark.parametrize("role", [Role.WALLET, Role.INTEGRATION])
def test_systems_see_no_bill(role: Role) -> None:
    assert not access.may_see(who(role, UNIT), bill(), OWNER)


def test_a_listing_covers_the_callers_unit_and_every_unit_for_an_administrator() -> None:
    assert access.listing_unit(who(Role.ADMIN), None) is None
    assert access.listing_unit(who(Role.ADMIN), UNIT) == UNIT
    assert access.listing_unit(who(Role.DESK_OFFICER, UNIT), None) == UNIT
    assert access.listing_unit(who(Role.DESK_OFFICER, UNIT), UNIT) == UNIT
    with pytest.raises(Problem) as refused:
        access.listing_unit(who(Role.LEADER, UNIT), "000.01.31.H57")
    assert refused.value.status == 403


def test_who_may_pay_refund_and_reconcile() -> None:
    assert set(access.PAYERS) == {Role.PORTAL, Role.DESK_OFFICER}
    assert set(access.REFUNDERS) == {Role.DESK_OFFICER, Role.ADMIN}
    assert set(access.ADMINISTRATORS) == {Role.ADMIN}
