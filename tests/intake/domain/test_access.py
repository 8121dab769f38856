"""Who may read, act on, list, upload to and submit to which unit's dossiers: every rule for every role."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from intake.domain import access

from services.contracts.intake import Channel
from services.errors import Problem
from services.identity import Identity, Role

from .factory import CITIZEN_ID, OTHER_CITIZEN, OTHER_WARD, WARD, desk, dossier, portal, staff

D = dossier()
UNIT_STAFF = [Role.DESK_OFFICER, Role.SPECIALIST, Role.LEADER]
SYSTEMS = [Role.WALLET, Role.INTEGRATION]


def problem_of(call: Callable[..., object], *args: object, **kw: object) -> Problem:
    with pytest.raises(Problem) as caught:
        call(*args, **kw)
    return caught.value


def status_of(call: object) -> int | None:
    assert callable(call)
    try:
        call()
    except Problem as problem:
        return problem.status
    return None


@pytest.mark.parametrize("role", UNIT_STAFF)
def test_unit_staff_read_their_own_units_dossiers_only(role: Role) -> None:
    assert status_of(lambda: access.check_read(staff(role, WARD), D)) is None
    assert status_of(lambda: access.check_read(staff(role, OTHER_WARD), D)) == 403
    assert status_of(lambda: access.check_read(staff(role, None), D)) == 403


def test_an_administrator_reads_any_dossier_and_systems_none() -> None:
    assert status_of(lambda: access.check_read(staff(Role.ADMIN, None), D)) is None
    for role in SYSTEMS:
        assert status_of(lambda role=role: access.check_read(staff(role, WARD), D)) == 403


def test_the_portal_reads_its_citizens_dossiers_and_does_not_see_the_others() -> None:
    assert status_of(lambda: access.check_read(portal(CITIZEN_ID), D)) is None
    assert status_of(lambda: access.check_read(portal(OTHER_CITIZEN), D)) == 404
    assert status_of(lambda: access.check_read(portal(None), D)) == 404


@pytest.mark.parametrize("role", list(Role))
def test_only_the_receiving_units_desk_acts_at_the_desk(role: Role) -> None:
    expected = None if role is Role.DESK_OFFICER else 403
    assert status_of(lambda: access.check_desk(staff(role, WARD), D)) == expected
    assert status_of(lambda: access.check_desk(staff(role, OTHER_WARD), D)) == 403
    assert status_of(lambda: access.desk_unit(Identity(subject="d", role=Role.DESK_OFFICER))) == 403


def test_the_desk_or_the_owner_acts_on_an_applicants_behalf() -> None:
    assert status_of(lambda: access.check_desk_or_owner(desk(), D)) is None
    assert status_of(lambda: access.check_desk_or_owner(portal(), D)) is None
    assert status_of(lambda: access.check_desk_or_owner(portal(OTHER_CITIZEN), D)) == 404
    assert status_of(lambda: access.check_desk_or_owner(desk(OTHER_WARD), D)) == 403
    assert status_of(lambda: access.check_desk_or_owner(staff(Role.ADMIN, None), D)) == 403


def test_uploads_belong_to_the_staff_account_or_to_the_citizen_the_portal_acts_for() -> None:
    assert access.check_upload(desk(subject="desk-7")) == "desk-7"
    assert access.check_upload(portal(CITIZEN_ID)) == f"portal/citizen/{CITIZEN_ID}"
    assert status_of(lambda: access.check_upload(portal(None))) == 403
    for role in (Role.SPECIALIST, Role.LEADER, Role.ADMIN, *SYSTEMS):
        assert status_of(lambda role=role: access.check_upload(staff(role))) == 403


def test_listings_are_scoped_to_the_unit_or_the_citizen() -> None:
    assert access.list_scope(portal(), None) == (None, CITIZEN_ID)
    assert access.list_scope(portal(), WARD) == (WARD, CITIZEN_ID)
    assert access.list_scope(staff(Role.ADMIN, None), OTHER_WARD) == (OTHER_WARD, None)
    assert access.list_scope(staff(Role.ADMIN, None), None) == (None, None)
    for role in UNIT_STAFF:
        assert access.list_scope(staff(role, WARD), None) == (WARD, None)
        assert access.list_scope(staff(role, WARD), WARD) == (WARD, None)
        assert status_of(lambda role=role: access.list_scope(staff(role, WARD), OTHER_WARD)) == 403
        assert status_of(lambda role=role: access.list_scope(staff(role, None), None)) == 403
    assert status_of(lambda: access.list_scope(portal(None), None)) == 403
    for role in SYSTEMS:
        assert status_of(lambda role=role: access.list_scope(staff(role), None)) == 403


def _submit(who: Identity, channel: Channel, **kw: object) -> tuple[str, str | None]:
    args: dict[str, object] = {"receiving_unit": None, "applicant_id_number": CITIZEN_ID, "account_id": None,
                               "account_assisted": False}  # fmt: skip
    args.update(kw)
    return access.submission_unit(who, channel=channel, **args)  # type: ignore[arg-type]


def test_the_portal_submits_online_for_its_own_citizen_and_fills_in_the_account() -> None:
    assert _submit(portal(account="VNC-9"), Channel.ONLINE, receiving_unit=WARD) == (WARD, "VNC-9")
    assert _submit(portal(account="VNC-9"), Channel.ONLINE, receiving_unit=WARD, account_id="A-1") == (WARD, "A-1")
    assert _submit(portal(account=None), Channel.ONLINE, receiving_unit=WARD) == (WARD, None)
    problem = problem_of(_submit, portal(), Channel.IN_PERSON, receiving_unit=WARD)
    assert (problem.status, problem.code) == (422, "wrong-channel")
    assert problem_of(_submit, portal(), Channel.ONLINE).status == 422  # no receiving unit
    assert problem_of(_submit, portal(OTHER_CITIZEN), Channel.ONLINE, receiving_unit=WARD).status == 403
    assert problem_of(_submit, portal(None), Channel.ONLINE, receiving_unit=WARD).status == 403


@pytest.mark.parametrize("channel", [Channel.IN_PERSON, Channel.POSTAL])
def test_a_desk_receives_in_person_or_by_post_for_its_own_unit(channel: Channel) -> None:
    assert _submit(desk(), channel) == (WARD, None)
    assert _submit(desk(), channel, receiving_unit=WARD, account_id="A-1", account_assisted=True) == (WARD, "A-1")
    assert problem_of(_submit, desk(), channel, receiving_unit=OTHER_WARD).status == 403
    problem = problem_of(_submit, desk(), channel, account_assisted=True)
    assert (problem.status, problem.code) == (422, "missing-account")


def test_a_desk_does_not_receive_online_and_other_roles_do_not_receive() -> None:
    assert problem_of(_submit, desk(), Channel.ONLINE).code == "wrong-channel"
    for role in (Role.SPECIALIST, Role.LEADER, Role.ADMIN, *SYSTEMS):
        assert problem_of(_submit, staff(role), Channel.IN_PERSON).status == 403
